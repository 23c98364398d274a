//! Console roles and what each may do: Admin > Developer > Readonly, with the seed's
//! permissions and those the other endpoints need.

use serde::{Deserialize, Serialize};

/// A console user's or API key's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Readonly,
    Developer,
    Admin,
}

impl Role {
    pub fn parse(name: &str) -> Option<Role> {
        match name.to_ascii_lowercase().as_str() {
            "readonly" => Some(Role::Readonly),
            "developer" => Some(Role::Developer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Readonly => "readonly",
            Role::Developer => "developer",
            Role::Admin => "admin",
        }
    }

    /// Whether this role holds `p`.
    pub fn may(self, p: Permission) -> bool {
        self >= p.least_role()
    }
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Server status, metrics.
    ViewStatus,
    ManageAccounts,
    ManageApiKeys,
    ViewSessions,
    KickSessions,
    ViewRooms,
    TerminateRooms,
    ViewLua,
    ExecuteLua,
    ReloadLua,
    ViewPlayers,
    ManagePlayers,
    ViewStorage,
    ManageStorage,
    /// Leaderboards and tournaments: definitions and records.
    ViewLeaderboards,
    ManageLeaderboards,
    /// Chat, notifications, friends and groups.
    ViewSocial,
    ManageSocial,
    /// Matchmaker tickets and pool statistics.
    ViewMatchmaker,
}

impl Permission {
    /// The least role that holds it: viewing is for everyone, changing the game's state
    /// for developers, people and keys for admins.
    pub fn least_role(self) -> Role {
        match self {
            Permission::ViewStatus
            | Permission::ViewSessions
            | Permission::ViewRooms
            | Permission::ViewLua
            | Permission::ViewPlayers
            | Permission::ViewStorage
            | Permission::ViewLeaderboards
            | Permission::ViewSocial
            | Permission::ViewMatchmaker => Role::Readonly,
            Permission::KickSessions
            | Permission::TerminateRooms
            | Permission::ExecuteLua
            | Permission::ReloadLua
            | Permission::ManagePlayers
            | Permission::ManageStorage
            | Permission::ManageLeaderboards
            | Permission::ManageSocial => Role::Developer,
            Permission::ManageAccounts | Permission::ManageApiKeys => Role::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Admin.may(Permission::ManageApiKeys));
        assert!(!Role::Developer.may(Permission::ManageApiKeys));
        assert!(Role::Developer.may(Permission::ReloadLua));
        assert!(!Role::Readonly.may(Permission::ReloadLua));
        assert!(Role::Readonly.may(Permission::ViewPlayers));
        assert_eq!(Role::parse("Developer"), Some(Role::Developer));
    }
}
