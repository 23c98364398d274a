import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen, waitFor, fireEvent } from "@testing-library/react";
import { ConsoleApi, type Player, type RouteInfo } from "../api";
import { makeCan, SessionContext, type Session } from "../ui";
import { Players } from "./Players";

const evil = `<img src=x onerror="window.__pwned=1">`;
const player: Player = {
  user_id: "00000000-0000-4000-8000-000000000001",
  username: evil,
  display_name: "",
  avatar_url: "",
  lang_tag: "",
  location: "",
  timezone: "",
  email: "",
  custom_id: "",
  devices: ["dev-1"],
  metadata: { note: evil },
  wallet: { gold: 3 },
  create_time: 1,
  update_time: 1,
  ban_until: 0,
  online: false,
};

const routes: RouteInfo[] = [
  { method: "GET", path: "/v2/console/account/{id}", permission: "ViewPlayers", role: "readonly" },
  { method: "DELETE", path: "/v2/console/account/{id}", permission: "ManagePlayers", role: "developer" },
  { method: "POST", path: "/v2/console/account/{id}/ban", permission: "ManagePlayers", role: "developer" },
  { method: "PUT", path: "/v2/console/account/{id}", permission: "ManagePlayers", role: "developer" },
];

function session(role: Session["role"]): Session {
  const f = vi.fn((url: string | URL | Request) => {
    const u = String(url);
    const listing = u.includes("?q=") || u.includes("?limit=");
    const body = u.includes("/friend") ? { friends: [] } : u.includes("/group") ? { groups: [] } : listing ? { accounts: [player] } : player;
    return Promise.resolve(new Response(JSON.stringify(body), { status: 200 }));
  });
  const api = new ConsoleApi("t", () => {}, "", f as unknown as typeof fetch);
  return { api, username: "op", role, routes, can: makeCan(routes, role), signOut: () => {}, setToken: () => {} };
}

afterEach(() => {
  cleanup();
  window.location.hash = "";
});

describe("Players", () => {
  it("shows what a player stored as text, never as HTML", async () => {
    window.location.hash = `#/players?id=${player.user_id}`;
    render(
      <SessionContext.Provider value={session("developer")}>
        <Players />
      </SessionContext.Provider>,
    );
    await waitFor(() => expect(screen.getAllByText(evil, { exact: false }).length).toBeGreaterThan(0));
    expect(document.querySelector("img")).toBeNull();
    expect((window as unknown as { __pwned?: number }).__pwned).toBeUndefined();
    expect(screen.getByText("Delete player")).toBeTruthy();
  });

  it("hides destructive buttons from a readonly user", async () => {
    window.location.hash = `#/players?id=${player.user_id}`;
    render(
      <SessionContext.Provider value={session("readonly")}>
        <Players />
      </SessionContext.Provider>,
    );
    await waitFor(() => expect(screen.getByText("dev-1")).toBeTruthy());
    expect(document.querySelectorAll("[data-destructive]").length).toBe(0);
    expect(screen.queryByText("Edit")).toBeNull();
  });

  it("lists every player when nothing is searched", async () => {
    render(
      <SessionContext.Provider value={session("readonly")}>
        <Players />
      </SessionContext.Provider>,
    );
    await waitFor(() => expect(screen.getByText(player.user_id)).toBeTruthy());
    expect(screen.getByText("Page 1")).toBeTruthy();
  });

  it("finds players by what the operator types", async () => {
    const s = session("readonly");
    render(
      <SessionContext.Provider value={s}>
        <Players />
      </SessionContext.Provider>,
    );
    fireEvent.change(screen.getByLabelText(/username/), { target: { value: "dev-1" } });
    fireEvent.click(screen.getByText("Find"));
    await waitFor(() => expect(screen.getByText(player.user_id)).toBeTruthy());
  });
});
