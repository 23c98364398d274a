// Reads the server's Prometheus text (`GET /metrics`) for the Dashboard: totals now, and
// rates between two readings.

/** Each series' value, by its name with labels as written (`name{a="b"}`). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    const value = Number(line.slice(at + 1));
    if (at > 0 && Number.isFinite(value)) out.set(line.slice(0, at), value);
  }
  return out;
}

/** The sum of every series of metric `name` (whatever its labels). */
export function total(m: Map<string, number>, name: string): number {
  let sum = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(`${name}{`)) sum += v;
  return sum;
}

export interface Reading {
  at: number;
  sessions: number;
  matches: number;
  requests: number;
  socketMessages: number;
  latencySum: number;
  latencyCount: number;
}

export function reading(text: string, at: number): Reading {
  const m = parseMetrics(text);
  return {
    at,
    sessions: total(m, "kaos_sessions"),
    matches: total(m, "kaos_matches"),
    requests: total(m, "kaos_api_requests_total"),
    socketMessages: total(m, "kaos_socket_messages_total"),
    latencySum: total(m, "kaos_api_request_seconds_sum"),
    latencyCount: total(m, "kaos_api_request_seconds_count"),
  };
}

/** Requests and socket messages a second, and REST latency (ms) between two readings. */
export function rates(a: Reading, b: Reading) {
  const seconds = Math.max((b.at - a.at) / 1000, 1e-3);
  const calls = b.latencyCount - a.latencyCount;
  return {
    requestsPerSec: Math.max(0, (b.requests - a.requests) / seconds),
    messagesPerSec: Math.max(0, (b.socketMessages - a.socketMessages) / seconds),
    latencyMs: calls > 0 ? ((b.latencySum - a.latencySum) / calls) * 1000 : 0,
  };
}
