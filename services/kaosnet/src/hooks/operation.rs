//! Every operation a hook may be registered for, by name: the REST API's operations
//! (Nakama's names), the realtime socket's message kinds, and the start and end of a
//! socket session.

macro_rules! operations {
    ($($variant:ident = $name:literal,)*) => {
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
        }
    };
}

operations! {
    AuthenticateCustom = "authenticate_custom",
    AuthenticateDevice = "authenticate_device",
    AuthenticateEmail = "authenticate_email",
    SessionRefresh = "session_refresh",
    SessionLogout = "session_logout",
    GetAccount = "get_account",
    UpdateAccount = "update_account",
    DeleteAccount = "delete_account",
    GetUsers = "get_users",
    LinkCustom = "link_custom",
    LinkDevice = "link_device",
    LinkEmail = "link_email",
    UnlinkCustom = "unlink_custom",
    UnlinkDevice = "unlink_device",
    UnlinkEmail = "unlink_email",
    StorageRead = "read_storage_objects",
    StorageWrite = "write_storage_objects",
    StorageDelete = "delete_storage_objects",
    StorageList = "list_storage_objects",
    Rpc = "rpc",
    ListFriends = "list_friends",
    ListFriendsOfFriends = "list_friends_of_friends",
    AddFriends = "add_friends",
    DeleteFriends = "delete_friends",
    BlockFriends = "block_friends",
    CreateGroup = "create_group",
    UpdateGroup = "update_group",
    DeleteGroup = "delete_group",
    JoinGroup = "join_group",
    LeaveGroup = "leave_group",
    AddGroupUsers = "add_group_users",
    KickGroupUsers = "kick_group_users",
    BanGroupUsers = "ban_group_users",
    PromoteGroupUsers = "promote_group_users",
    DemoteGroupUsers = "demote_group_users",
    ListGroups = "list_groups",
    ListGroupUsers = "list_group_users",
    ListUserGroups = "list_user_groups",
    ListLeaderboardRecords = "list_leaderboard_records",
    ListLeaderboardRecordsAroundOwner = "list_leaderboard_records_around_owner",
    WriteLeaderboardRecord = "write_leaderboard_record",
    DeleteLeaderboardRecord = "delete_leaderboard_record",
    ListTournaments = "list_tournaments",
    JoinTournament = "join_tournament",
    ListTournamentRecords = "list_tournament_records",
    ListTournamentRecordsAroundOwner = "list_tournament_records_around_owner",
    WriteTournamentRecord = "write_tournament_record",
    DeleteTournamentRecord = "delete_tournament_record",
    ListNotifications = "list_notifications",
    DeleteNotifications = "delete_notifications",
    ListChannelMessages = "list_channel_messages",
    ListMatches = "list_matches",
    SessionConnect = "session_connect",
    SessionDisconnect = "session_disconnect",
    ChannelJoin = "channel_join",
    ChannelLeave = "channel_leave",
    ChannelMessageSend = "channel_message_send",
    ChannelMessageUpdate = "channel_message_update",
    ChannelMessageRemove = "channel_message_remove",
    MatchCreate = "match_create",
    MatchJoin = "match_join",
    MatchLeave = "match_leave",
    MatchDataSend = "match_data_send",
    MatchmakerAdd = "matchmaker_add",
    MatchmakerRemove = "matchmaker_remove",
    PartyCreate = "party_create",
    PartyJoin = "party_join",
    PartyLeave = "party_leave",
    PartyPromote = "party_promote",
    PartyAccept = "party_accept",
    PartyRemove = "party_remove",
    PartyClose = "party_close",
    PartyJoinRequestList = "party_join_request_list",
    PartyDataSend = "party_data_send",
    PartyMatchmakerAdd = "party_matchmaker_add",
    PartyMatchmakerRemove = "party_matchmaker_remove",
    StatusFollow = "status_follow",
    StatusUnfollow = "status_unfollow",
    StatusUpdate = "status_update",
    Ping = "ping",
}

impl std::fmt::Display for HookOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
