//! The in-memory store: for tests and development; nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{PoisonError, RwLock};

use super::{
    apply_write, check_delete, decode_cursor, encode_cursor, may_read, AccountStore, Caller, ChannelMessage,
    MessageStore, Notification, ObjectDelete, ObjectId, ObjectPage, ObjectStore, ObjectWrite, SessionStore,
    StorageObject, StoreError, User, UserKey,
};

/// (collection, owner, key): the listing order.
type ObjectKey = (String, String, String);

fn object_key(id: &ObjectId) -> ObjectKey {
    (id.collection.clone(), id.user_id.clone(), id.key.clone())
}

#[derive(Default)]
pub(super) struct Inner {
    pub(super) users: HashMap<String, User>,
    by_username: HashMap<String, String>,
    by_email: HashMap<String, String>,
    by_custom: HashMap<String, String>,
    by_device: HashMap<String, String>,
    objects: BTreeMap<ObjectKey, StorageObject>,
    revoked: HashMap<String, i64>,
    /// Wallet changes recorded, oldest first.
    ledger: Vec<super::LedgerEntry>,
}

impl Inner {
    /// The first unique field of `user` held by another user.
    fn taken(&self, user: &User) -> Option<&'static str> {
        let other = |map: &HashMap<String, String>, k: &str| map.get(k).is_some_and(|id| *id != user.id);
        if other(&self.by_username, &user.username.to_lowercase()) {
            return Some("username");
        }
        if user.email.as_deref().is_some_and(|e| other(&self.by_email, &e.to_lowercase())) {
            return Some("email");
        }
        if user.custom_id.as_deref().is_some_and(|c| other(&self.by_custom, c)) {
            return Some("custom id");
        }
        if user.devices.iter().any(|d| other(&self.by_device, d)) {
            return Some("device id");
        }
        None
    }

    fn index(&mut self, user: &User) {
        self.by_username.insert(user.username.to_lowercase(), user.id.clone());
        if let Some(e) = &user.email {
            self.by_email.insert(e.to_lowercase(), user.id.clone());
        }
        if let Some(c) = &user.custom_id {
            self.by_custom.insert(c.clone(), user.id.clone());
        }
        for d in &user.devices {
            self.by_device.insert(d.clone(), user.id.clone());
        }
    }

    fn unindex(&mut self, user: &User) {
        self.by_username.remove(&user.username.to_lowercase());
        if let Some(e) = &user.email {
            self.by_email.remove(&e.to_lowercase());
        }
        if let Some(c) = &user.custom_id {
            self.by_custom.remove(c);
        }
        for d in &user.devices {
            self.by_device.remove(d);
        }
    }
}

/// Everything in one lock: simple, and fast enough for tests and development.
#[derive(Default)]
pub struct MemoryStore {
    pub(super) inner: RwLock<Inner>,
    messages: RwLock<Messages>,
    pub(super) boards: RwLock<super::memory_leaderboards::Boards>,
    /// Friends and groups (see `memory_social`); locked after `inner` when both are.
    pub(super) social: RwLock<super::memory_social::Social>,
}

/// Chat history by channel and notifications by user, each in sequence order.
#[derive(Default)]
struct Messages {
    seq: i64,
    channels: HashMap<String, BTreeMap<i64, ChannelMessage>>,
    notifications: HashMap<String, BTreeMap<i64, Notification>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }
}

impl AccountStore for MemoryStore {
    fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.users.contains_key(&user.id) {
            return Err(StoreError::Conflict("id"));
        }
        if let Some(field) = inner.taken(user) {
            return Err(StoreError::Conflict(field));
        }
        inner.index(user);
        // A new wallet is empty, as the SQL stores' column default makes it.
        inner.users.insert(user.id.clone(), User { wallet: "{}".into(), ban_until: 0, ..user.clone() });
        Ok(())
    }

    fn user(&self, key: UserKey<'_>) -> Result<Option<User>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let id = match key {
            UserKey::Id(id) => Some(id.to_string()),
            UserKey::Username(u) => inner.by_username.get(&u.to_lowercase()).cloned(),
            UserKey::Email(e) => inner.by_email.get(&e.to_lowercase()).cloned(),
            UserKey::Custom(c) => inner.by_custom.get(c).cloned(),
            UserKey::Device(d) => inner.by_device.get(d).cloned(),
        };
        Ok(id.and_then(|id| inner.users.get(&id).cloned()))
    }

    fn users(&self, ids: &[String], usernames: &[String]) -> Result<Vec<User>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<User> = Vec::new();
        let by_name = usernames.iter().filter_map(|u| inner.by_username.get(&u.to_lowercase()));
        for id in ids.iter().chain(by_name) {
            if let Some(u) = inner.users.get(id) {
                if !out.iter().any(|o| o.id == u.id) {
                    out.push(u.clone());
                }
            }
        }
        Ok(out)
    }

    fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let Some(old) = inner.users.get(&user.id).cloned() else { return Err(StoreError::NotFound) };
        if let Some(field) = inner.taken(user) {
            return Err(StoreError::Conflict(field));
        }
        inner.unindex(&old);
        inner.index(user);
        // The wallet and a ban change only through their own updates.
        let user = User { wallet: old.wallet, ban_until: old.ban_until, ..user.clone() };
        inner.users.insert(user.id.clone(), user);
        Ok(())
    }

    fn set_ban(&self, id: &str, until: i64) -> Result<bool, StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        Ok(inner.users.get_mut(id).map(|u| u.ban_until = until).is_some())
    }

    fn user_ids(&self, after: &str, limit: usize) -> Result<Vec<String>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut ids: Vec<&String> = inner.users.keys().filter(|id| id.as_str() > after).collect();
        ids.sort_unstable();
        Ok(ids.into_iter().take(limit).cloned().collect())
    }

    fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let Some(old) = inner.users.remove(id) else { return Ok(false) };
        inner.unindex(&old);
        inner.objects.retain(|(_, owner, _), _| owner != id);
        inner.ledger.retain(|e| e.user_id != id);
        let mut social = self.social.write().unwrap_or_else(PoisonError::into_inner);
        let mut draft = social.clone();
        super::forget_user(&mut super::memory_social::MemTx { social: &mut draft, users: &inner.users }, id)?;
        *social = draft;
        drop(social);
        self.messages.write().unwrap_or_else(PoisonError::into_inner).notifications.remove(id);
        self.boards.write().unwrap_or_else(PoisonError::into_inner).forget_owner(id);
        Ok(true)
    }
}

impl ObjectStore for MemoryStore {
    fn read_objects(&self, ids: &[ObjectId]) -> Result<Vec<StorageObject>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(ids.iter().filter_map(|id| inner.objects.get(&object_key(id)).cloned()).collect())
    }

    fn write_objects(
        &self,
        caller: Caller<'_>,
        writes: &[ObjectWrite],
        now: i64,
    ) -> Result<Vec<StorageObject>, StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        // Checked against the batch's own earlier writes too, then applied all at once.
        let mut pending: BTreeMap<ObjectKey, StorageObject> = BTreeMap::new();
        let mut out = Vec::with_capacity(writes.len());
        for w in writes {
            let k = object_key(&w.id);
            let existing = pending.get(&k).or_else(|| inner.objects.get(&k));
            let object = apply_write(existing, caller, w, now)?;
            pending.insert(k, object.clone());
            out.push(object);
        }
        inner.objects.extend(pending);
        Ok(out)
    }

    fn delete_objects(&self, caller: Caller<'_>, deletes: &[ObjectDelete]) -> Result<(), StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        for d in deletes {
            check_delete(inner.objects.get(&object_key(&d.id)), caller, d)?;
        }
        for d in deletes {
            inner.objects.remove(&object_key(&d.id));
        }
        Ok(())
    }

    fn collections(&self, owner: Option<&str>) -> Result<Vec<String>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<String> = Vec::new();
        for (c, o, _) in inner.objects.keys() {
            if owner.is_none_or(|w| w == o) && out.last() != Some(c) {
                out.push(c.clone());
            }
        }
        Ok(out)
    }

    fn list_objects(
        &self,
        caller: Caller<'_>,
        collection: &str,
        owner: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<ObjectPage, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let after = match cursor {
            Some(c) => Some(decode_cursor(c).ok_or(StoreError::InvalidCursor)?),
            None => None,
        };
        let start = (collection.to_string(), String::new(), String::new());
        let mut objects = Vec::new();
        let mut more = false;
        for ((c, o, k), object) in inner.objects.range(start..) {
            if c != collection {
                break;
            }
            if owner.is_some_and(|w| w != o) || !may_read(caller, object) {
                continue;
            }
            if after.as_ref().is_some_and(|(ao, ak)| (o, k) <= (ao, ak)) {
                continue;
            }
            if objects.len() == limit {
                more = true;
                break;
            }
            objects.push(object.clone());
        }
        let cursor = if more { objects.last().map(|o| encode_cursor(&o.id)) } else { None };
        Ok(ObjectPage { objects, cursor })
    }
}

impl SessionStore for MemoryStore {
    fn revoke_token(&self, token_id: &str, _user_id: &str, exp: i64) -> Result<(), StoreError> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner).revoked.insert(token_id.to_string(), exp);
        Ok(())
    }

    fn is_revoked(&self, token_id: &str) -> Result<bool, StoreError> {
        Ok(self.inner.read().unwrap_or_else(PoisonError::into_inner).revoked.contains_key(token_id))
    }

    fn revoked_tokens(&self, now: i64) -> Result<Vec<(String, i64)>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(inner.revoked.iter().filter(|(_, exp)| **exp > now).map(|(t, exp)| (t.clone(), *exp)).collect())
    }

    fn prune_revoked(&self, now: i64) -> Result<usize, StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let before = inner.revoked.len();
        inner.revoked.retain(|_, exp| *exp > now);
        Ok(before - inner.revoked.len())
    }
}

impl MemoryStore {
    fn find_message(m: &Messages, channel_id: &str, id: &str, sender_id: Option<&str>) -> Result<i64, StoreError> {
        let channel = m.channels.get(channel_id).ok_or(StoreError::NotFound)?;
        let (seq, msg) = channel.iter().find(|(_, msg)| msg.id == id).ok_or(StoreError::NotFound)?;
        if sender_id.is_some_and(|s| s != msg.sender_id) {
            return Err(StoreError::PermissionDenied);
        }
        Ok(*seq)
    }
}

impl MessageStore for MemoryStore {
    fn add_message(&self, message: &ChannelMessage) -> Result<ChannelMessage, StoreError> {
        let mut m = self.messages.write().unwrap_or_else(PoisonError::into_inner);
        m.seq += 1;
        let stored = ChannelMessage { seq: m.seq, ..message.clone() };
        m.channels.entry(message.channel_id.clone()).or_default().insert(stored.seq, stored.clone());
        Ok(stored)
    }

    fn update_message(
        &self,
        channel_id: &str,
        id: &str,
        sender_id: &str,
        content: &str,
        now: i64,
    ) -> Result<ChannelMessage, StoreError> {
        let mut m = self.messages.write().unwrap_or_else(PoisonError::into_inner);
        let seq = MemoryStore::find_message(&m, channel_id, id, Some(sender_id))?;
        let msg = m.channels.get_mut(channel_id).and_then(|c| c.get_mut(&seq)).ok_or(StoreError::NotFound)?;
        msg.content = content.to_string();
        msg.update_time = now;
        Ok(msg.clone())
    }

    fn remove_message(
        &self,
        channel_id: &str,
        id: &str,
        sender_id: Option<&str>,
    ) -> Result<ChannelMessage, StoreError> {
        let mut m = self.messages.write().unwrap_or_else(PoisonError::into_inner);
        let seq = MemoryStore::find_message(&m, channel_id, id, sender_id)?;
        m.channels.get_mut(channel_id).and_then(|c| c.remove(&seq)).ok_or(StoreError::NotFound)
    }

    fn channels(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, StoreError> {
        let m = self.messages.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<(String, u64)> = m
            .channels
            .iter()
            .filter(|(id, c)| id.as_str() > after && !c.is_empty())
            .map(|(id, c)| (id.clone(), c.len() as u64))
            .collect();
        all.sort_unstable();
        all.truncate(limit);
        Ok(all)
    }

    fn list_messages(
        &self,
        channel_id: &str,
        forward: bool,
        from: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ChannelMessage>, StoreError> {
        let m = self.messages.read().unwrap_or_else(PoisonError::into_inner);
        let Some(channel) = m.channels.get(channel_id) else { return Ok(Vec::new()) };
        Ok(if forward {
            channel
                .range(from.map_or(i64::MIN, |f| f.saturating_add(1))..)
                .take(limit)
                .map(|(_, v)| v.clone())
                .collect()
        } else {
            channel.range(..from.unwrap_or(i64::MAX)).rev().take(limit).map(|(_, v)| v.clone()).collect()
        })
    }

    fn add_notifications(&self, notifications: &[Notification]) -> Result<Vec<Notification>, StoreError> {
        let mut m = self.messages.write().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::with_capacity(notifications.len());
        for n in notifications {
            m.seq += 1;
            let stored = Notification { seq: m.seq, ..n.clone() };
            m.notifications.entry(n.user_id.clone()).or_default().insert(stored.seq, stored.clone());
            out.push(stored);
        }
        Ok(out)
    }

    fn list_notifications(
        &self,
        user_id: &str,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let m = self.messages.read().unwrap_or_else(PoisonError::into_inner);
        let Some(list) = m.notifications.get(user_id) else { return Ok(Vec::new()) };
        Ok(list.range(after.map_or(i64::MIN, |a| a.saturating_add(1))..).take(limit).map(|(_, v)| v.clone()).collect())
    }

    fn delete_notifications(&self, user_id: &str, ids: &[String]) -> Result<usize, StoreError> {
        let mut m = self.messages.write().unwrap_or_else(PoisonError::into_inner);
        let Some(list) = m.notifications.get_mut(user_id) else { return Ok(0) };
        let before = list.len();
        list.retain(|_, n| !ids.contains(&n.id));
        Ok(before - list.len())
    }
}

impl super::WalletStore for MemoryStore {
    fn update_wallet(
        &self,
        user_id: &str,
        changes: &BTreeMap<String, i64>,
        ledger: Option<&super::LedgerEntry>,
    ) -> Result<super::WalletChange, StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        let user = inner.users.get_mut(user_id).ok_or(StoreError::NotFound)?;
        let previous = user.wallet.clone();
        let updated = super::wallets::apply(&previous, changes)?;
        user.wallet = updated.clone();
        if let Some(e) = ledger {
            inner.ledger.push(super::LedgerEntry { user_id: user_id.to_string(), ..e.clone() });
        }
        Ok(super::WalletChange { previous, updated })
    }

    fn wallet_ledger(&self, user_id: &str, limit: usize) -> Result<Vec<super::LedgerEntry>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(inner.ledger.iter().rev().filter(|e| e.user_id == user_id).take(limit).cloned().collect())
    }
}
