//! The social graph in memory. A write works on a copy of the graph that replaces it only
//! when the whole operation succeeded: all or nothing, at a cost fine for tests and
//! development.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::PoisonError;

use super::memory::MemoryStore;
use super::{
    friend_state, group_state, name_matches, Friend, Group, GroupFilter, Membership, SocialDone, SocialStore, SocialTx,
    SocialWrite, StoreError, User,
};

#[derive(Debug, Clone, Copy)]
struct Edge {
    state: i32,
    update_time: i64,
    seq: i64,
}

/// Friend edges by (source, destination), groups by id, group edges by (group, user).
#[derive(Debug, Clone, Default)]
pub(super) struct Social {
    seq: i64,
    friends: BTreeMap<(String, String), Edge>,
    groups: HashMap<String, Group>,
    members: BTreeMap<(String, String), Edge>,
}

fn key(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

/// Edges whose first key part is `first`, in key order.
fn under<'a>(
    map: &'a BTreeMap<(String, String), Edge>,
    first: &'a str,
) -> impl Iterator<Item = (&'a String, &'a Edge)> + 'a {
    map.range(key(first, "")..).take_while(move |((a, _), _)| a == first).map(|((_, b), e)| (b, e))
}

/// One transaction: the draft graph and the users it may refer to.
pub(super) struct MemTx<'a> {
    pub(super) social: &'a mut Social,
    pub(super) users: &'a HashMap<String, User>,
}

impl SocialTx for MemTx<'_> {
    fn user_exists(&mut self, id: &str) -> Result<bool, StoreError> {
        Ok(self.users.contains_key(id))
    }

    fn friend_state(&mut self, from: &str, to: &str) -> Result<Option<i32>, StoreError> {
        Ok(self.social.friends.get(&key(from, to)).map(|e| e.state))
    }

    fn set_friend(&mut self, from: &str, to: &str, state: i32, now: i64) -> Result<(), StoreError> {
        let s = &mut *self.social;
        match s.friends.get_mut(&key(from, to)) {
            Some(e) => {
                e.state = state;
                e.update_time = now;
            }
            None => {
                s.seq += 1;
                s.friends.insert(key(from, to), Edge { state, update_time: now, seq: s.seq });
            }
        }
        Ok(())
    }

    fn delete_friend(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        self.social.friends.remove(&key(from, to));
        Ok(())
    }

    fn delete_friends_of(&mut self, user: &str) -> Result<(), StoreError> {
        self.social.friends.retain(|(a, b), _| a != user && b != user);
        Ok(())
    }

    fn group(&mut self, id: &str) -> Result<Option<Group>, StoreError> {
        Ok(self.social.groups.get(id).cloned())
    }

    fn group_named(&mut self, name: &str) -> Result<Option<String>, StoreError> {
        let lower = name.to_lowercase();
        Ok(self.social.groups.values().find(|g| g.name.to_lowercase() == lower).map(|g| g.id.clone()))
    }

    fn put_group(&mut self, group: &Group, _insert: bool) -> Result<(), StoreError> {
        self.social.groups.insert(group.id.clone(), group.clone());
        Ok(())
    }

    fn delete_group(&mut self, id: &str) -> Result<(), StoreError> {
        self.social.groups.remove(id);
        self.social.members.retain(|(g, _), _| g != id);
        Ok(())
    }

    fn member_state(&mut self, group: &str, user: &str) -> Result<Option<i32>, StoreError> {
        Ok(self.social.members.get(&key(group, user)).map(|e| e.state))
    }

    fn set_member(&mut self, group: &str, user: &str, state: i32, now: i64) -> Result<(), StoreError> {
        let s = &mut *self.social;
        match s.members.get_mut(&key(group, user)) {
            Some(e) => {
                e.state = state;
                e.update_time = now;
            }
            None => {
                s.seq += 1;
                s.members.insert(key(group, user), Edge { state, update_time: now, seq: s.seq });
            }
        }
        Ok(())
    }

    fn delete_member(&mut self, group: &str, user: &str) -> Result<(), StoreError> {
        self.social.members.remove(&key(group, user));
        Ok(())
    }

    fn members_in(&mut self, group: &str, states: &[i32]) -> Result<Vec<String>, StoreError> {
        Ok(under(&self.social.members, group)
            .filter(|(_, e)| states.contains(&e.state))
            .map(|(u, _)| u.clone())
            .collect())
    }

    fn groups_of(&mut self, user: &str) -> Result<Vec<(String, i32)>, StoreError> {
        Ok(self.social.members.iter().filter(|((_, u), _)| u == user).map(|((g, _), e)| (g.clone(), e.state)).collect())
    }
}

fn visible(state: i32, wanted: Option<i32>) -> bool {
    match wanted {
        Some(w) => state == w,
        None => state != group_state::BANNED,
    }
}

fn page<T>(mut items: Vec<(i64, T)>, after: Option<i64>, limit: usize) -> Vec<T> {
    items.sort_by_key(|(seq, _)| *seq);
    items.into_iter().filter(|(seq, _)| after.is_none_or(|a| *seq > a)).take(limit).map(|(_, t)| t).collect()
}

impl SocialStore for MemoryStore {
    fn social_write(&self, write: SocialWrite, now: i64) -> Result<SocialDone, StoreError> {
        // Lock order everywhere: users, then the social graph.
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut social = self.social.write().unwrap_or_else(PoisonError::into_inner);
        let mut draft = social.clone();
        let done = write.apply(&mut MemTx { social: &mut draft, users: &inner.users }, now)?;
        *social = draft;
        Ok(done)
    }

    fn list_friends(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Friend>, StoreError> {
        let social = self.social.read().unwrap_or_else(PoisonError::into_inner);
        let all = under(&social.friends, user_id)
            .filter(|(_, e)| state.is_none_or(|s| s == e.state))
            .map(|(other, e)| {
                (e.seq, Friend { user_id: other.clone(), state: e.state, update_time: e.update_time, seq: e.seq })
            })
            .collect();
        Ok(page(all, after, limit))
    }

    fn friends_of_friends(
        &self,
        user_id: &str,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        fn mutual<'a>(friends: &'a BTreeMap<(String, String), Edge>, of: &'a str) -> impl Iterator<Item = &'a String> {
            under(friends, of).filter(|(_, e)| e.state == friend_state::MUTUAL).map(|(other, _)| other)
        }
        let social = self.social.read().unwrap_or_else(PoisonError::into_inner);
        let mine: BTreeSet<&String> = mutual(&social.friends, user_id).collect();
        // Both levels come out of the map in byte order: the pairs are sorted as listed.
        let pairs = mine
            .iter()
            .flat_map(|&f| mutual(&social.friends, f).map(move |other| (f, other)))
            .filter(|(_, other)| *other != user_id && !mine.contains(other))
            .filter(|(f, other)| after.is_none_or(|a| (f.as_str(), other.as_str()) > a))
            .take(limit)
            .map(|(f, other)| (f.clone(), other.clone()))
            .collect();
        Ok(pairs)
    }

    fn group(&self, id: &str) -> Result<Option<Group>, StoreError> {
        Ok(self.social.read().unwrap_or_else(PoisonError::into_inner).groups.get(id).cloned())
    }

    fn member_state(&self, group_id: &str, user_id: &str) -> Result<Option<i32>, StoreError> {
        let social = self.social.read().unwrap_or_else(PoisonError::into_inner);
        Ok(social.members.get(&key(group_id, user_id)).map(|e| e.state))
    }

    fn list_groups(&self, filter: &GroupFilter, after: Option<&str>, limit: usize) -> Result<Vec<Group>, StoreError> {
        let social = self.social.read().unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<(String, &Group)> = social
            .groups
            .values()
            .filter(|g| filter.name.as_ref().is_none_or(|n| name_matches(n, &g.name)))
            .filter(|g| filter.lang_tag.as_ref().is_none_or(|l| *l == g.lang_tag))
            .filter(|g| filter.members.is_none_or(|m| g.edge_count >= m))
            .filter(|g| filter.open.is_none_or(|o| o == g.open))
            .map(|g| (g.name.to_lowercase(), g))
            .filter(|(name, _)| after.is_none_or(|a| name.as_str() > a))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(found.into_iter().take(limit).map(|(_, g)| g.clone()).collect())
    }

    fn list_group_users(
        &self,
        group_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Membership>, StoreError> {
        let social = self.social.read().unwrap_or_else(PoisonError::into_inner);
        let all = under(&social.members, group_id)
            .filter(|(_, e)| visible(e.state, state))
            .map(|(user, e)| {
                let m = Membership {
                    group_id: group_id.to_string(),
                    user_id: user.clone(),
                    state: e.state,
                    update_time: e.update_time,
                    seq: e.seq,
                };
                (e.seq, m)
            })
            .collect();
        Ok(page(all, after, limit))
    }

    fn list_user_groups(
        &self,
        user_id: &str,
        state: Option<i32>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<(Group, Membership)>, StoreError> {
        let social = self.social.read().unwrap_or_else(PoisonError::into_inner);
        let all = social
            .members
            .iter()
            .filter(|((_, u), e)| u == user_id && visible(e.state, state))
            .filter_map(|((g, _), e)| {
                let group = social.groups.get(g)?.clone();
                let m = Membership {
                    group_id: g.clone(),
                    user_id: user_id.to_string(),
                    state: e.state,
                    update_time: e.update_time,
                    seq: e.seq,
                };
                Some((e.seq, (group, m)))
            })
            .collect();
        Ok(page(all, after, limit))
    }
}
