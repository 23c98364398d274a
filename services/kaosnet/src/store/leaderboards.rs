//! What leaderboards and tournaments persist: each board's definition (its configuration
//! as JSON, so new settings need no migration) and its records, one per owner and reset
//! period (`expiry_time`, 0 for boards that never reset).

use super::StoreError;

/// A board's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBoard {
    pub id: String,
    /// The board's configuration as a JSON object.
    pub config: String,
    pub create_time: i64,
}

/// A record as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredRecord {
    pub leaderboard_id: String,
    pub owner_id: String,
    pub username: String,
    pub score: i64,
    pub subscore: i64,
    pub num_score: i32,
    pub max_num_score: i32,
    /// A JSON object, as text.
    pub metadata: String,
    pub create_time: i64,
    pub update_time: i64,
    /// When the record's period ends (Unix seconds), 0 for never.
    pub expiry_time: i64,
}

/// A UUID owner id as text (lowercase, hyphenated), without the formatting machinery.
pub(crate) fn owner_text(owner: u128) -> String {
    uuid::Uuid::from_u128(owner).hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned()
}

/// One change of a batch of record writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordWrite {
    /// Inserts or replaces the record of (board, owner, expiry).
    Put(StoredRecord),
    /// Deletes the record of (board, owner, expiry) if there is one.
    Delete { leaderboard_id: String, owner_id: String, expiry_time: i64 },
}

/// A batch of record writes on its way to the store.
#[derive(Debug)]
pub struct RecordTicket(Ticket);

#[derive(Debug)]
enum Ticket {
    Done(Result<(), StoreError>),
    Waiting(std::sync::mpsc::Receiver<Result<(), StoreError>>),
}

impl RecordTicket {
    /// A batch already applied (or refused).
    pub fn done(result: Result<(), StoreError>) -> RecordTicket {
        RecordTicket(Ticket::Done(result))
    }

    /// A batch whose answer will arrive on `answer`.
    pub fn waiting(answer: std::sync::mpsc::Receiver<Result<(), StoreError>>) -> RecordTicket {
        RecordTicket(Ticket::Waiting(answer))
    }

    /// Waits for the batch to be durable.
    pub fn wait(self) -> Result<(), StoreError> {
        match self.0 {
            Ticket::Done(result) => result,
            Ticket::Waiting(answer) => {
                answer.recv().unwrap_or_else(|_| Err(StoreError::Backend("the database writer has stopped".into())))
            }
        }
    }
}

/// Board definitions and records.
pub trait LeaderboardStore {
    /// Stores a new board; false (and nothing changes) if one with that id exists.
    fn create_board(&self, board: &StoredBoard) -> Result<bool, StoreError>;
    /// The board with that id.
    fn board(&self, id: &str) -> Result<Option<StoredBoard>, StoreError>;
    /// Every board, by id.
    fn boards(&self) -> Result<Vec<StoredBoard>, StoreError>;
    /// Deletes a board and all its records; false if there was none.
    fn delete_board(&self, id: &str) -> Result<bool, StoreError>;
    /// Applies every write or none, in order.
    fn write_records(&self, writes: &[RecordWrite]) -> Result<(), StoreError>;
    /// Hands a batch over to be applied like [`write_records`](Self::write_records),
    /// after every batch handed over before it; the ticket says when it is durable.
    /// Stores that can queue writes return before they are done, so batches handed over
    /// while a commit runs share the next one.
    fn submit_records(&self, writes: Vec<RecordWrite>) -> RecordTicket {
        RecordTicket::done(self.write_records(&writes))
    }
    /// Every record of `leaderboard_id` in the period ending at `expiry_time`, in no
    /// particular order.
    fn records(&self, leaderboard_id: &str, expiry_time: i64) -> Result<Vec<StoredRecord>, StoreError>;
}

/// The record columns the SQL stores read and write, in their row mappers' order.
pub(crate) const RECORD_COLUMNS: &str = "leaderboard_id, owner_id, username, score, subscore, num_score, \
                                         max_num_score, metadata, create_time, update_time, expiry_time";
