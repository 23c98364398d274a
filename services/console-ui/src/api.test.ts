import { describe, expect, it, vi } from "vitest";
import { allowed, ApiError, ConsoleApi, signIn, tokenClaims, type RouteInfo } from "./api";

function reply(status: number, body: unknown) {
  return Promise.resolve(new Response(typeof body === "string" ? body : JSON.stringify(body), { status }));
}

describe("ConsoleApi", () => {
  it("sends the token, the method, the path with its query, and the JSON body", async () => {
    const f = vi.fn((_url: string | URL | Request, _init?: RequestInit) => reply(200, { sessions: [] }));
    const api = new ConsoleApi("tok", () => {}, "http://h", f as unknown as typeof fetch);
    await api.sessions({ user_id: "u 1", transport: "", limit: 5 });
    expect(f.mock.calls[0][0]).toBe("http://h/v2/console/session?user_id=u%201&limit=5");
    expect((f.mock.calls[0][1]?.headers as Record<string, string>).Authorization).toBe("Bearer tok");
    await api.writeObject({ collection: "c/x", key: "k", user_id: "u" }, { a: 1 }, "v1", 2, 1);
    const [url, init] = f.mock.calls[1];
    expect(url).toBe("http://h/v2/console/storage/c%2Fx/k/u");
    expect(init?.method).toBe("PUT");
    expect(JSON.parse(init?.body as string)).toEqual({ value: { a: 1 }, version: "v1", permission_read: 2, permission_write: 1 });
  });

  it("turns errors into ApiError with the server's message, and 401 ends the session", async () => {
    const gone = vi.fn();
    const f = vi.fn(() => reply(401, { code: 16, message: "Console token expired." }));
    const api = new ConsoleApi("tok", gone, "", f as unknown as typeof fetch);
    await expect(api.status()).rejects.toEqual(new ApiError(401, "Console token expired."));
    expect(gone).toHaveBeenCalledOnce();
    const g = vi.fn(() => reply(403, { message: "The readonly role may not do this." }));
    const api2 = new ConsoleApi("tok", gone, "", g as unknown as typeof fetch);
    await expect(api2.kick("s")).rejects.toMatchObject({ status: 403, message: "The readonly role may not do this." });
    expect(gone).toHaveBeenCalledOnce();
    const h = vi.fn(() => reply(502, "Bad gateway"));
    await expect(new ConsoleApi("t", gone, "", h as unknown as typeof fetch).status()).rejects.toMatchObject({
      status: 502,
      message: "Bad gateway",
    });
  });

  it("signs in and reports a refusal", async () => {
    const ok = vi.fn(() => reply(200, { token: "abc" }));
    expect(await signIn("", "admin", "pw", ok as unknown as typeof fetch)).toBe("abc");
    const no = vi.fn(() => reply(401, { message: "Invalid credentials." }));
    await expect(signIn("", "admin", "x", no as unknown as typeof fetch)).rejects.toMatchObject({ message: "Invalid credentials." });
  });
});

describe("roles", () => {
  const routes: RouteInfo[] = [
    { method: "GET", path: "/v2/console/session", permission: "ViewSessions", role: "readonly" },
    { method: "DELETE", path: "/v2/console/session/{id}", permission: "KickSessions", role: "developer" },
    { method: "GET", path: "/v2/console/user", permission: "ManageAccounts", role: "admin" },
  ];
  it("allow what the server's route list allows, and nothing it does not list", () => {
    expect(allowed(routes, "readonly", "GET", "/v2/console/session")).toBe(true);
    expect(allowed(routes, "readonly", "DELETE", "/v2/console/session/{id}")).toBe(false);
    expect(allowed(routes, "developer", "DELETE", "/v2/console/session/{id}")).toBe(true);
    expect(allowed(routes, "developer", "GET", "/v2/console/user")).toBe(false);
    expect(allowed(routes, "admin", "GET", "/v2/console/user")).toBe(true);
    expect(allowed(routes, "admin", "GET", "/v2/console/nothing")).toBe(false);
  });

  it("read the token's claims, and nothing from garbage", () => {
    const payload = btoa(JSON.stringify({ usn: "ops", rol: "developer", exp: 99 })).replace(/=+$/, "");
    expect(tokenClaims(`h.${payload}.s`)).toEqual({ usn: "ops", rol: "developer", exp: 99 });
    expect(tokenClaims("not a token")).toBeNull();
  });
});
