//! Every operation, by name, in one table: the REST API's operations (Nakama's names),
//! the realtime socket's message kinds and the start and end of a socket session, each
//! with its rate-limit class and, for socket messages, whether it may block (reach the
//! database or run server code: it then runs on a worker lane, never on a socket
//! thread). Hooks, rate limits and the socket's dispatch all read it.

use crate::limits::LimitClass;

macro_rules! operations {
    ($($variant:ident = $name:literal, $class:ident, $blocks:literal,)*) => {
        /// An operation, as hooks and rate limits name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum HookOperation {
            $($variant,)*
        }

        impl HookOperation {
            /// Every operation.
            pub const ALL: &'static [HookOperation] = &[$(HookOperation::$variant,)*];

            /// Its name (`write_storage_objects`, `match_data_send`, `session_connect`…).
            pub fn name(self) -> &'static str {
                match self {
                    $(HookOperation::$variant => $name,)*
                }
            }

            /// The operation called `name`.
            pub fn named(name: &str) -> Option<HookOperation> {
                match name {
                    $($name => Some(HookOperation::$variant),)*
                    _ => None,
                }
            }

            /// How strictly it is rate limited.
            pub fn limit_class(self) -> LimitClass {
                match self {
                    $(HookOperation::$variant => LimitClass::$class,)*
                }
            }

            /// Whether, as a socket message, it may block: it then runs on the session's
            /// worker lane.
            pub fn blocks(self) -> bool {
                match self {
                    $(HookOperation::$variant => $blocks,)*
                }
            }
        }
    };
}

operations! {
    AuthenticateCustom = "authenticate_custom", Auth, false,
    AuthenticateDevice = "authenticate_device", Auth, false,
    AuthenticateEmail = "authenticate_email", Auth, false,
    SessionRefresh = "session_refresh", Auth, false,
    SessionLogout = "session_logout", Standard, false,
    GetAccount = "get_account", Standard, false,
    UpdateAccount = "update_account", Standard, false,
    DeleteAccount = "delete_account", Standard, false,
    GetUsers = "get_users", Standard, false,
    LinkCustom = "link_custom", Standard, false,
    LinkDevice = "link_device", Standard, false,
    LinkEmail = "link_email", Standard, false,
    UnlinkCustom = "unlink_custom", Standard, false,
    UnlinkDevice = "unlink_device", Standard, false,
    UnlinkEmail = "unlink_email", Standard, false,
    StorageRead = "read_storage_objects", Standard, false,
    StorageWrite = "write_storage_objects", Standard, false,
    StorageDelete = "delete_storage_objects", Standard, false,
    StorageList = "list_storage_objects", Standard, false,
    Rpc = "rpc", Standard, true,
    ListFriends = "list_friends", Standard, false,
    ListFriendsOfFriends = "list_friends_of_friends", Standard, false,
    AddFriends = "add_friends", Standard, false,
    DeleteFriends = "delete_friends", Standard, false,
    BlockFriends = "block_friends", Standard, false,
    CreateGroup = "create_group", Standard, false,
    UpdateGroup = "update_group", Standard, false,
    DeleteGroup = "delete_group", Standard, false,
    JoinGroup = "join_group", Standard, false,
    LeaveGroup = "leave_group", Standard, false,
    AddGroupUsers = "add_group_users", Standard, false,
    KickGroupUsers = "kick_group_users", Standard, false,
    BanGroupUsers = "ban_group_users", Standard, false,
    PromoteGroupUsers = "promote_group_users", Standard, false,
    DemoteGroupUsers = "demote_group_users", Standard, false,
    ListGroups = "list_groups", Standard, false,
    ListGroupUsers = "list_group_users", Standard, false,
    ListUserGroups = "list_user_groups", Standard, false,
    ListLeaderboardRecords = "list_leaderboard_records", Standard, false,
    ListLeaderboardRecordsAroundOwner = "list_leaderboard_records_around_owner", Standard, false,
    WriteLeaderboardRecord = "write_leaderboard_record", Standard, false,
    DeleteLeaderboardRecord = "delete_leaderboard_record", Standard, false,
    ListTournaments = "list_tournaments", Standard, false,
    JoinTournament = "join_tournament", Standard, false,
    ListTournamentRecords = "list_tournament_records", Standard, false,
    ListTournamentRecordsAroundOwner = "list_tournament_records_around_owner", Standard, false,
    WriteTournamentRecord = "write_tournament_record", Standard, false,
    DeleteTournamentRecord = "delete_tournament_record", Standard, false,
    ListNotifications = "list_notifications", Standard, false,
    DeleteNotifications = "delete_notifications", Standard, false,
    ListChannelMessages = "list_channel_messages", Standard, false,
    ListMatches = "list_matches", Standard, false,
    SessionConnect = "session_connect", Standard, false,
    SessionDisconnect = "session_disconnect", Standard, false,
    ChannelJoin = "channel_join", Standard, true,
    ChannelLeave = "channel_leave", Standard, false,
    ChannelMessageSend = "channel_message_send", Standard, true,
    ChannelMessageUpdate = "channel_message_update", Standard, true,
    ChannelMessageRemove = "channel_message_remove", Standard, true,
    MatchCreate = "match_create", Standard, false,
    MatchJoin = "match_join", Standard, false,
    MatchLeave = "match_leave", Standard, false,
    MatchDataSend = "match_data_send", Realtime, false,
    MatchmakerAdd = "matchmaker_add", Standard, false,
    MatchmakerRemove = "matchmaker_remove", Standard, false,
    PartyCreate = "party_create", Standard, false,
    PartyJoin = "party_join", Standard, false,
    PartyLeave = "party_leave", Standard, false,
    PartyPromote = "party_promote", Standard, false,
    PartyAccept = "party_accept", Standard, false,
    PartyRemove = "party_remove", Standard, false,
    PartyClose = "party_close", Standard, false,
    PartyJoinRequestList = "party_join_request_list", Standard, false,
    PartyDataSend = "party_data_send", Realtime, false,
    PartyMatchmakerAdd = "party_matchmaker_add", Standard, false,
    PartyMatchmakerRemove = "party_matchmaker_remove", Standard, false,
    StatusFollow = "status_follow", Standard, true,
    StatusUnfollow = "status_unfollow", Standard, false,
    StatusUpdate = "status_update", Standard, false,
    Ping = "ping", Standard, false,
}

impl std::fmt::Display for HookOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::HookOperation;

    #[test]
    fn an_operation_is_its_place_in_the_table() {
        // Metrics index their counters by it.
        for (i, op) in HookOperation::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i, "{op}");
        }
    }
}
