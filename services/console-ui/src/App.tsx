// The console's shell: sign-in, the navigation, the theme, and the page the address names
// (`#/players?id=…`). A session that ends (a 401 from any call) goes back to Login.

import { useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { ConsoleApi, tokenClaims, type RouteInfo } from "./api";
import { Button, ErrorBox, makeCan, message, SessionContext, type Session } from "./ui";
import { Login } from "./pages/Login";
import { Auth } from "./pages/Auth";
import { Dashboard } from "./pages/Dashboard";
import { Sessions } from "./pages/Sessions";
import { Rooms } from "./pages/Rooms";
import { Lua } from "./pages/Lua";
import { Players } from "./pages/Players";
import { Chat } from "./pages/Chat";
import { Leaderboards } from "./pages/Leaderboards";
import { Matchmaker } from "./pages/Matchmaker";
import { Notifications } from "./pages/Notifications";
import { Social } from "./pages/Social";
import { Storage } from "./pages/Storage";
import { Tournaments } from "./pages/Tournaments";
import { Accounts } from "./pages/Accounts";
import { ApiKeys } from "./pages/ApiKeys";

const TOKEN_KEY = "kaos-console-token";

/** The console's pages; `needs` is the route a page reads first (hidden from roles that
 * may not call it). */
export const pages: { path: string; title: string; page: () => ReactNode; needs?: [string, string] }[] = [
  { path: "dashboard", title: "Dashboard", page: () => <Dashboard /> },
  { path: "sessions", title: "Sessions", page: () => <Sessions /> },
  { path: "rooms", title: "Rooms", page: () => <Rooms /> },
  { path: "players", title: "Players", page: () => <Players /> },
  { path: "storage", title: "Storage", page: () => <Storage /> },
  { path: "leaderboards", title: "Leaderboards", page: () => <Leaderboards /> },
  { path: "tournaments", title: "Tournaments", page: () => <Tournaments /> },
  { path: "chat", title: "Chat", page: () => <Chat /> },
  { path: "notifications", title: "Notifications", page: () => <Notifications /> },
  { path: "social", title: "Social", page: () => <Social /> },
  { path: "matchmaker", title: "Matchmaker", page: () => <Matchmaker /> },
  { path: "lua", title: "Lua", page: () => <Lua /> },
  { path: "accounts", title: "Accounts", page: () => <Accounts />, needs: ["GET", "/v2/console/user"] },
  { path: "apikeys", title: "API keys", page: () => <ApiKeys />, needs: ["GET", "/v2/console/api_key"] },
  { path: "auth", title: "My account", page: () => <Auth /> },
];

/** The page and parameters in the address: `#/players?id=x` is ("players", {id: "x"}). */
export function parseHash(hash: string): { path: string; params: URLSearchParams } {
  const [path, query] = hash.replace(/^#\/?/, "").split("?");
  return { path: path || "dashboard", params: new URLSearchParams(query ?? "") };
}

export function useHash() {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const on = () => setHash(window.location.hash);
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return parseHash(hash);
}

export function go(path: string, params: Record<string, string> = {}) {
  const q = new URLSearchParams(params).toString();
  window.location.hash = `#/${path}${q ? `?${q}` : ""}`;
}

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(
    () => localStorage.getItem("kaos-console-theme") ?? (matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light"),
  );
  useEffect(() => {
    document.documentElement.classList.toggle("dark", theme === "dark");
    localStorage.setItem("kaos-console-theme", theme);
  }, [theme]);
  return [theme, () => setTheme(theme === "dark" ? "light" : "dark")];
}

export function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [routes, setRoutes] = useState<RouteInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [expired, setExpired] = useState(false);
  const [theme, toggleTheme] = useTheme();
  const { path } = useHash();

  const signOut = useCallback((why?: "expired") => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
    setRoutes(null);
    setExpired(why === "expired");
  }, []);
  const keep = useCallback((t: string) => {
    sessionStorage.setItem(TOKEN_KEY, t);
    setToken(t);
    setExpired(false);
  }, []);
  const claims = token ? tokenClaims(token) : null;
  const api = useMemo(() => (token ? new ConsoleApi(token, () => signOut("expired")) : null), [token, signOut]);

  useEffect(() => {
    if (!api) return;
    api
      .routes()
      .then((r) => setRoutes(r.routes))
      .catch((e) => setError(message(e)));
  }, [api]);

  if (!token || !api || !claims || claims.exp * 1000 < Date.now()) {
    return <Login expired={expired || (claims !== null && claims.exp * 1000 < Date.now())} onSignedIn={keep} />;
  }
  if (!routes) {
    return <main className="p-8">{error ? <ErrorBox error={error} /> : <p>Loading…</p>}</main>;
  }
  const session: Session = {
    api,
    username: claims.usn,
    role: claims.rol,
    routes,
    can: makeCan(routes, claims.rol),
    // The token is revoked before the page leaves it (a navigation would cancel the call).
    signOut: () => {
      api
        .logout()
        .catch(() => {})
        .finally(() => signOut());
    },
    setToken: keep,
  };
  const visible = pages.filter((p) => !p.needs || session.can(...p.needs));
  const current = visible.find((p) => p.path === path) ?? visible[0];
  return (
    <SessionContext.Provider value={session}>
      <div className="flex min-h-screen bg-zinc-50 text-zinc-900 dark:bg-zinc-950 dark:text-zinc-100">
        <nav aria-label="Console" className="w-52 shrink-0 border-r border-zinc-200 bg-white p-3 dark:border-zinc-800 dark:bg-zinc-900">
          <div className="mb-4 px-2 text-lg font-bold">KaosNet</div>
          <ul className="space-y-0.5">
            {visible.map((p) => (
              <li key={p.path}>
                <a
                  href={`#/${p.path}`}
                  aria-current={p.path === current.path ? "page" : undefined}
                  className={`block rounded px-2 py-1 text-sm hover:bg-zinc-100 dark:hover:bg-zinc-800 ${
                    p.path === current.path ? "bg-zinc-100 font-semibold dark:bg-zinc-800" : ""
                  }`}
                >
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
          <div className="mt-6 space-y-2 px-2 text-xs text-zinc-500">
            <div>
              {claims.usn} ({claims.rol})
            </div>
            <Button onClick={toggleTheme} aria-label="Switch theme">
              {theme === "dark" ? "Light theme" : "Dark theme"}
            </Button>
            <Button onClick={session.signOut}>Sign out</Button>
          </div>
        </nav>
        <main className="min-w-0 flex-1 p-6">{current.page()}</main>
      </div>
    </SessionContext.Provider>
  );
}
