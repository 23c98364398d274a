// The console API (docs/console.md), typed. One client per signed-in user; every call
// carries its token, and a 401 tells the app the session is over.

export type Role = "readonly" | "developer" | "admin";

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface RouteInfo {
  method: string;
  path: string;
  permission: string;
  role: Role;
}

export interface Status {
  node: string;
  version: string;
  uptime_sec: number;
  sessions: number;
  presences: number;
  matches: number;
  matchmaker_tickets: number;
  database?: string;
  lua_modules?: number;
}

export interface SessionInfo {
  session_id: string;
  user_id: string;
  transport: "websocket" | "rudp";
}

export interface Player {
  user_id: string;
  username: string;
  display_name: string;
  avatar_url: string;
  lang_tag: string;
  location: string;
  timezone: string;
  email: string;
  custom_id: string;
  devices: string[];
  metadata: Record<string, unknown>;
  wallet: Record<string, number>;
  create_time: number;
  update_time: number;
  ban_until: number;
  online: boolean;
}

export interface MatchInfo {
  match_id: string;
  authoritative: boolean;
  label: string;
  size: number;
  tick_rate: number;
  handler_name: string;
}

export interface StorageObject {
  collection: string;
  key: string;
  user_id: string;
  value: unknown;
  version: string;
  permission_read: number;
  permission_write: number;
  create_time: string;
  update_time: string;
}

export interface Board {
  id: string;
  authoritative: boolean;
  sort_order: string;
  operator: string;
  reset_schedule: string | null;
  metadata: string;
  tournament: Record<string, unknown> | null;
  rank_count: number;
  current_expiry: number;
}

export interface BoardRecord {
  leaderboard_id: string;
  owner_id: string;
  username?: string;
  score: string;
  subscore: string;
  num_score: number;
  rank: string;
  update_time: string;
}

export interface ChatMessage {
  channel_id: string;
  message_id: string;
  sender_id?: string;
  username?: string;
  content: string;
  create_time: string;
}

export interface Notification {
  id: string;
  subject: string;
  content: string;
  code: number;
  create_time: string;
  persistent?: boolean;
}

export interface Group {
  id: string;
  name: string;
  description?: string;
  open?: boolean;
  edge_count?: number;
  max_count?: number;
}

export interface ConsoleUser {
  username: string;
  role: Role;
  create_time: number;
}

export interface ApiKeyInfo {
  id: string;
  prefix: string;
  name: string;
  role: Role;
  create_time: number;
  revoked: boolean;
}

export interface Runtime {
  modules: { name: string; file: string; bytes: number }[];
  rpcs: string[];
  matches: string[];
  hooks: { side: string; operation: string }[];
  matchmaker_matched: boolean;
  states: number;
  idle_states: number;
  generation: number;
}

export interface Ticket {
  ticket: string;
  party_id: string | null;
  players: { user_id: string; username: string }[];
  min_count: number;
  max_count: number;
  string_properties: Record<string, string>;
  numeric_properties: Record<string, number>;
}

type Query = Record<string, string | number | boolean | undefined | null>;

function withQuery(path: string, q?: Query): string {
  if (!q) return path;
  const parts = Object.entries(q)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `${path}?${parts.join("&")}` : path;
}

const seg = encodeURIComponent;

/** What a console token says about its holder (read, not verified: the server checks). */
export function tokenClaims(token: string): { usn: string; rol: Role; exp: number } | null {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(payload));
    return typeof claims.usn === "string" ? claims : null;
  } catch {
    return null;
  }
}

const rank: Record<Role, number> = { readonly: 0, developer: 1, admin: 2 };

/** Whether `role` may call `method path` by the server's route list. */
export function allowed(routes: RouteInfo[], role: Role, method: string, path: string): boolean {
  const route = routes.find((r) => r.method === method && r.path === path);
  return route !== undefined && rank[role] >= rank[route.role];
}

export async function signIn(base: string, username: string, password: string, f: typeof fetch = fetch) {
  const res = await f(`${base}/v2/console/authenticate`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, body.message ?? `HTTP ${res.status}`);
  return body.token as string;
}

export class ConsoleApi {
  constructor(
    public token: string,
    private onUnauthorized: () => void = () => {},
    private base = "",
    private f: typeof fetch = (...a) => fetch(...a),
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.f(`${this.base}${path}`, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = { message: text };
    }
    if (!res.ok) {
      if (res.status === 401) this.onUnauthorized();
      const message = (parsed as { message?: string }).message ?? `HTTP ${res.status}`;
      throw new ApiError(res.status, message);
    }
    return parsed as T;
  }

  get = <T>(path: string, q?: Query) => this.call<T>("GET", withQuery(path, q));

  // Sign-in
  logout = () => this.call("POST", "/v2/console/authenticate/logout");
  refresh = () => this.call<{ token: string }>("POST", "/v2/console/authenticate/refresh");
  changePassword = (current: string, next: string) =>
    this.call<{ token: string }>("POST", "/v2/console/authenticate/password", { current, new: next });

  // Server
  status = () => this.get<Status>("/v2/console/status");
  routes = () => this.get<{ routes: RouteInfo[] }>("/v2/console/route");
  async metrics(): Promise<string> {
    const res = await this.f(`${this.base}/metrics`);
    return res.text();
  }

  // Sessions
  sessions = (q: { user_id?: string; transport?: string; limit?: number }) =>
    this.get<{ sessions: SessionInfo[] }>("/v2/console/session", q);
  kick = (id: string) => this.call("DELETE", `/v2/console/session/${seg(id)}`);

  // Players
  findPlayers = (q: string) => this.get<{ accounts: Player[] }>("/v2/console/account", { q });
  listPlayers = (cursor?: string) =>
    this.get<{ accounts: Player[]; cursor?: string }>("/v2/console/account", { cursor, limit: 50 });
  player = (id: string) => this.get<Player>(`/v2/console/account/${seg(id)}`);
  editPlayer = (id: string, edit: Record<string, unknown>) => this.call<Player>("PUT", `/v2/console/account/${seg(id)}`, edit);
  exportPlayer = (id: string) => this.get<Record<string, unknown>>(`/v2/console/account/${seg(id)}/export`);
  ban = (id: string, until?: number) => this.call("POST", `/v2/console/account/${seg(id)}/ban`, until ? { until } : {});
  unban = (id: string) => this.call("POST", `/v2/console/account/${seg(id)}/unban`);
  deletePlayer = (id: string) => this.call("DELETE", `/v2/console/account/${seg(id)}`);
  friends = (id: string, cursor?: string) =>
    this.get<{ friends: { user_id: string; username: string; state: number }[]; cursor?: string }>(
      `/v2/console/account/${seg(id)}/friend`,
      { cursor },
    );
  unfriend = (id: string, friend: string) => this.call("DELETE", `/v2/console/account/${seg(id)}/friend/${seg(friend)}`);
  playerGroups = (id: string) =>
    this.get<{ groups: { group: Group; state: number }[]; cursor?: string }>(`/v2/console/account/${seg(id)}/group`);

  // Matches
  matches = (q: { query?: string; label?: string; limit?: number }) =>
    this.get<{ matches: MatchInfo[] }>("/v2/console/match", q);
  matchState = (id: string) =>
    this.get<{ tick: number; presences: { user_id: string; username: string }[]; state: unknown }>(
      `/v2/console/match/${seg(id)}/state`,
    );
  signal = (id: string, data: string) => this.call<{ data: string }>("POST", `/v2/console/match/${seg(id)}/signal`, { data });
  terminate = (id: string) => this.call("DELETE", `/v2/console/match/${seg(id)}`);

  // Storage
  collections = (user_id?: string) => this.get<{ collections: string[] }>("/v2/console/storage/collection", { user_id });
  objects = (q: { collection: string; user_id?: string; key?: string; cursor?: string; limit?: number }) =>
    this.get<{ objects: StorageObject[]; cursor?: string }>("/v2/console/storage", q);
  private objectPath = (o: { collection: string; key: string; user_id: string }) =>
    `/v2/console/storage/${seg(o.collection)}/${seg(o.key)}/${seg(o.user_id)}`;
  object = (o: { collection: string; key: string; user_id: string }) => this.get<StorageObject>(this.objectPath(o));
  writeObject = (
    o: { collection: string; key: string; user_id: string },
    value: unknown,
    version: string,
    permission_read?: number,
    permission_write?: number,
  ) => this.call<StorageObject>("PUT", this.objectPath(o), { value, version, permission_read, permission_write });
  deleteObject = (o: { collection: string; key: string; user_id: string }, version?: string) =>
    this.call("DELETE", withQuery(this.objectPath(o), { version }));

  // Leaderboards and tournaments
  boards = () => this.get<{ leaderboards: Board[] }>("/v2/console/leaderboard");
  records = (id: string, cursor?: string) =>
    this.get<{ records: BoardRecord[]; next_cursor?: string; prev_cursor?: string; rank_count: number }>(
      `/v2/console/leaderboard/${seg(id)}/record`,
      { cursor, limit: 50 },
    );
  deleteRecord = (id: string, owner: string) => this.call("DELETE", `/v2/console/leaderboard/${seg(id)}/record/${seg(owner)}`);
  resetBoard = (id: string) => this.call<{ removed: number }>("POST", `/v2/console/leaderboard/${seg(id)}/reset`);
  deleteBoard = (id: string) => this.call("DELETE", `/v2/console/leaderboard/${seg(id)}`);

  // Chat, notifications, groups
  channels = (cursor?: string) =>
    this.get<{
      active: { channel_id: string; presences: number }[];
      stored: { channel_id: string; messages: number }[];
      cursor?: string;
    }>("/v2/console/channel", { cursor });
  messages = (channel: string, cursor?: string) =>
    this.get<{ messages: ChatMessage[]; next_cursor?: string }>(`/v2/console/channel/${seg(channel)}/message`, {
      cursor,
      limit: 50,
    });
  deleteMessage = (channel: string, id: string) =>
    this.call("DELETE", `/v2/console/channel/${seg(channel)}/message/${seg(id)}`);
  notifications = (user_id: string, cursor?: string) =>
    this.get<{ notifications: Notification[]; cursor?: string }>("/v2/console/notification", { user_id, cursor });
  sendNotification = (n: { user_id?: string; subject: string; content: unknown; code: number; persistent: boolean }) =>
    this.call<{ sent: number }>("POST", "/v2/console/notification", n);
  deleteNotification = (user: string, id: string) => this.call("DELETE", `/v2/console/notification/${seg(user)}/${seg(id)}`);
  groups = (name?: string, cursor?: string) =>
    this.get<{ groups: Group[]; cursor?: string }>("/v2/console/group", { name, cursor });
  members = (id: string, cursor?: string) =>
    this.get<{ members: { user_id: string; username: string; state: number }[]; cursor?: string }>(
      `/v2/console/group/${seg(id)}/member`,
      { cursor },
    );
  groupOp = (id: string, op: "add" | "kick" | "promote" | "demote" | "ban", user_ids: string[]) =>
    this.call("POST", `/v2/console/group/${seg(id)}/${op}`, { user_ids });
  deleteGroup = (id: string) => this.call("DELETE", `/v2/console/group/${seg(id)}`);

  // Matchmaker
  matchmaker = () =>
    this.get<{ tickets: Ticket[]; stats: { tickets: number; players: number; party_tickets: number } }>(
      "/v2/console/matchmaker",
    );

  // Lua
  runtime = () => this.get<Runtime>("/v2/console/runtime");
  reload = () => this.call<{ generation: number; rpcs: string[] }>("POST", "/v2/console/runtime/reload");
  callRpc = (id: string, payload: string, user_id?: string) =>
    this.call<{ payload: string }>("POST", `/v2/console/runtime/rpc/${seg(id)}`, { payload, user_id });
  execute = (code: string) => this.call<{ result: unknown[]; output: string[] }>("POST", "/v2/console/runtime/execute", { code });

  // Console users and API keys
  users = () => this.get<{ users: ConsoleUser[] }>("/v2/console/user");
  createUser = (username: string, password: string, role: Role) =>
    this.call("POST", "/v2/console/user", { username, password, role });
  editUser = (username: string, edit: { password?: string; role?: Role }) =>
    this.call("PUT", `/v2/console/user/${seg(username)}`, edit);
  deleteUser = (username: string) => this.call("DELETE", `/v2/console/user/${seg(username)}`);
  apiKeys = () => this.get<{ keys: ApiKeyInfo[] }>("/v2/console/api_key");
  createApiKey = (name: string, role: Role) => this.call<{ id: string; key: string }>("POST", "/v2/console/api_key", { name, role });
  revokeApiKey = (id: string) => this.call("DELETE", `/v2/console/api_key/${seg(id)}`);
}
