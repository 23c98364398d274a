// The pieces every page is made of: the session's context, loading with error and empty
// states, tables, forms, confirmations, JSON views and cursor pagination. Everything a
// user typed or a player stored is rendered as text (React escapes it), never as HTML.

import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { allowed, ApiError, type ConsoleApi, type Role, type RouteInfo } from "./api";

export interface Session {
  api: ConsoleApi;
  username: string;
  role: Role;
  routes: RouteInfo[];
  /** Whether this user may call `method path` (a route pattern as the server lists it). */
  can: (method: string, path: string) => boolean;
  signOut: () => void;
  setToken: (token: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error("no session");
  return s;
}

export function makeCan(routes: RouteInfo[], role: Role) {
  return (method: string, path: string) => allowed(routes, role, method, path);
}

export function message(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.status})`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Loads `load()` now and whenever `deps` change; `reload` loads again. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  // Only the latest load's answer is shown: an older, slower one is dropped.
  const latest = useRef(0);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const run = useCallback(load, deps);
  const reload = useCallback(() => {
    const mine = ++latest.current;
    setLoading(true);
    run()
      .then((d) => {
        if (mine !== latest.current) return;
        setData(d);
        setError(null);
      })
      .catch((e) => mine === latest.current && setError(message(e)))
      .finally(() => mine === latest.current && setLoading(false));
  }, [run]);
  useEffect(reload, [reload]);
  return { data, error, loading, reload };
}

/** Runs an action, keeping its error to show. */
export function useAction() {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (f: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await f();
      return true;
    } catch (e) {
      setError(message(e));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, run, setError };
}

export function Page({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  return (
    <section aria-labelledby="page-title" className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <h1 id="page-title" className="text-2xl font-semibold">
          {title}
        </h1>
        <div className="flex gap-2">{actions}</div>
      </div>
      {children}
    </section>
  );
}

export function Card({ title, children }: { title?: string; children: ReactNode }) {
  return (
    <div className="rounded-lg border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-700 dark:bg-zinc-900">
      {title && <h2 className="mb-3 text-lg font-medium">{title}</h2>}
      {children}
    </div>
  );
}

export function ErrorBox({ error }: { error: string | null }) {
  if (!error) return null;
  return (
    <p role="alert" className="rounded border border-red-300 bg-red-50 p-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200">
      {error}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="py-4 text-center text-sm text-zinc-500 dark:text-zinc-400">{children}</p>;
}

export function Loading({ loading }: { loading: boolean }) {
  return loading ? <p className="text-sm text-zinc-500" aria-live="polite">Loading…</p> : null;
}

const buttonKinds = {
  primary: "bg-indigo-600 text-white hover:bg-indigo-500",
  plain: "border border-zinc-300 bg-white hover:bg-zinc-100 dark:border-zinc-600 dark:bg-zinc-800 dark:hover:bg-zinc-700",
  danger: "bg-red-600 text-white hover:bg-red-500",
};

export function Button({
  kind = "plain",
  className = "",
  ...props
}: React.ButtonHTMLAttributes<HTMLButtonElement> & { kind?: keyof typeof buttonKinds }) {
  return (
    <button
      type="button"
      {...props}
      className={`rounded px-3 py-1.5 text-sm font-medium focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500 disabled:opacity-50 ${buttonKinds[kind]} ${className}`}
    />
  );
}

/** A destructive action: asks first, and is not shown to roles that may not do it. */
export function DangerButton({
  label,
  confirm,
  onConfirm,
  method,
  path,
  name,
}: {
  label: string;
  confirm: string;
  onConfirm: () => void;
  method: string;
  path: string;
  /** The accessible name, when the label alone does not say what it acts on. */
  name?: string;
}) {
  const { can } = useSession();
  if (!can(method, path)) return null;
  return (
    <Button
      kind="danger"
      aria-label={name}
      data-destructive="true"
      onClick={() => {
        if (window.confirm(confirm)) onConfirm();
      }}
    >
      {label}
    </Button>
  );
}

export function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="flex flex-col gap-1 text-sm">
      <span className="font-medium">{label}</span>
      {children}
    </label>
  );
}

export const inputClass =
  "rounded border border-zinc-300 bg-white px-2 py-1.5 text-sm dark:border-zinc-600 dark:bg-zinc-800 focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500";

export function Input(props: React.InputHTMLAttributes<HTMLInputElement>) {
  return <input {...props} className={`${inputClass} ${props.className ?? ""}`} />;
}

export function TextArea(props: React.TextareaHTMLAttributes<HTMLTextAreaElement>) {
  return <textarea {...props} className={`${inputClass} font-mono ${props.className ?? ""}`} />;
}

export function Select(props: React.SelectHTMLAttributes<HTMLSelectElement>) {
  return <select {...props} className={`${inputClass} ${props.className ?? ""}`} />;
}

/** A form that submits with Enter and shows its error. */
export function Form({
  onSubmit,
  children,
  error,
  className = "",
}: {
  onSubmit: () => void;
  children: ReactNode;
  error?: string | null;
  className?: string;
}) {
  return (
    <form
      className={`flex flex-wrap items-end gap-2 ${className}`}
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit();
      }}
    >
      {children}
      {error !== undefined && (
        <div className="basis-full">
          <ErrorBox error={error} />
        </div>
      )}
    </form>
  );
}

export function Table({ head, rows, empty }: { head: string[]; rows: ReactNode[][]; empty: string }) {
  if (rows.length === 0) return <Empty>{empty}</Empty>;
  return (
    <div className="overflow-x-auto">
      <table className="w-full text-left text-sm">
        <thead className="border-b border-zinc-200 text-zinc-500 dark:border-zinc-700">
          <tr>
            {head.map((h) => (
              <th key={h} scope="col" className="px-2 py-1.5 font-medium">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i} className="border-b border-zinc-100 dark:border-zinc-800">
              {r.map((c, j) => (
                <td key={j} className="px-2 py-1.5 align-top">
                  {c}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function Json({ value }: { value: unknown }) {
  return (
    <pre className="max-h-96 overflow-auto rounded bg-zinc-100 p-2 text-xs dark:bg-zinc-800">
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Pages through a listing by the API's cursors: `cursors` is the stack walked so far. */
export function usePager() {
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors[cursors.length - 1];
  return {
    cursor,
    reset: () => setCursors([]),
    controls: (next?: string | null) => (
      <div className="flex items-center gap-2 text-sm">
        <Button disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous
        </Button>
        <span>Page {cursors.length + 1}</span>
        <Button disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
          Next
        </Button>
      </div>
    ),
  };
}

export function Time({ unix }: { unix: number | string }) {
  if (typeof unix === "string") return <span>{unix}</span>;
  if (!unix) return <span>—</span>;
  return <span>{new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 19)}</span>;
}

export function Mono({ children }: { children: ReactNode }) {
  return <code className="font-mono text-xs break-all">{children}</code>;
}
