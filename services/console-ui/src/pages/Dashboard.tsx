// The server at a glance: status, and sessions, matches, requests/s, socket messages/s and
// REST latency from its metrics, read every 5 seconds, with the last few minutes charted.

import { useEffect, useState } from "react";
import type { Status } from "../api";
import { rates, reading, type Reading } from "../metrics";
import { Card, ErrorBox, message, Page, useSession } from "../ui";

const EVERY_MS = 5000;
const KEEP = 60;

interface Point {
  sessions: number;
  matches: number;
  requestsPerSec: number;
  messagesPerSec: number;
  latencyMs: number;
}

function Spark({ values, label }: { values: number[]; label: string }) {
  const max = Math.max(1, ...values);
  const w = 200;
  const h = 40;
  const step = values.length > 1 ? w / (values.length - 1) : w;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / max) * h).toFixed(1)}`).join(" ");
  return (
    <svg role="img" aria-label={label} viewBox={`0 0 ${w} ${h}`} className="h-10 w-full text-indigo-500">
      <polyline fill="none" stroke="currentColor" strokeWidth="2" points={points} />
    </svg>
  );
}

function Stat({ title, value, series }: { title: string; value: string; series: number[] }) {
  return (
    <Card>
      <div className="text-sm text-zinc-500">{title}</div>
      <div className="text-2xl font-semibold" data-stat={title}>
        {value}
      </div>
      <Spark values={series} label={`${title}, last ${series.length} readings`} />
    </Card>
  );
}

export function Dashboard() {
  const { api } = useSession();
  const [status, setStatus] = useState<Status | null>(null);
  const [points, setPoints] = useState<Point[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let last: Reading | null = null;
    let live = true;
    const tick = async () => {
      try {
        const [s, text] = await Promise.all([api.status(), api.metrics()]);
        if (!live) return;
        setStatus(s);
        const now = reading(text, Date.now());
        const r = last ? rates(last, now) : { requestsPerSec: 0, messagesPerSec: 0, latencyMs: 0 };
        last = now;
        setPoints((p) => [...p, { sessions: s.sessions, matches: s.matches, ...r }].slice(-KEEP));
        setError(null);
      } catch (e) {
        if (live) setError(message(e));
      }
    };
    tick();
    const timer = setInterval(tick, EVERY_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [api]);
  const series = (f: (p: Point) => number) => points.map(f);
  const last = points[points.length - 1];
  return (
    <Page title="Dashboard">
      <ErrorBox error={error} />
      {status && (
        <Card>
          <dl className="grid grid-cols-2 gap-2 text-sm md:grid-cols-4">
            <div><dt className="text-zinc-500">Node</dt><dd>{status.node}</dd></div>
            <div><dt className="text-zinc-500">Version</dt><dd>{status.version}</dd></div>
            <div><dt className="text-zinc-500">Uptime</dt><dd>{Math.floor(status.uptime_sec / 60)} min</dd></div>
            <div><dt className="text-zinc-500">Database</dt><dd>{status.database ?? "—"}</dd></div>
            <div><dt className="text-zinc-500">Presences</dt><dd>{status.presences}</dd></div>
            <div><dt className="text-zinc-500">Matchmaker tickets</dt><dd>{status.matchmaker_tickets}</dd></div>
            <div><dt className="text-zinc-500">Lua modules</dt><dd>{status.lua_modules ?? 0}</dd></div>
          </dl>
        </Card>
      )}
      <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
        <Stat title="Sessions" value={String(last?.sessions ?? "—")} series={series((p) => p.sessions)} />
        <Stat title="Matches" value={String(last?.matches ?? "—")} series={series((p) => p.matches)} />
        <Stat title="REST requests/s" value={last ? last.requestsPerSec.toFixed(1) : "—"} series={series((p) => p.requestsPerSec)} />
        <Stat title="Socket messages/s" value={last ? last.messagesPerSec.toFixed(1) : "—"} series={series((p) => p.messagesPerSec)} />
        <Stat title="REST latency (ms)" value={last ? last.latencyMs.toFixed(2) : "—"} series={series((p) => p.latencyMs)} />
      </div>
    </Page>
  );
}
