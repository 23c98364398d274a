// Sign-in: a console user's name and password; the token is kept for this tab only.

import { useState } from "react";
import { signIn } from "../api";
import { Button, ErrorBox, Field, Input, message } from "../ui";

export function Login({ expired, onSignedIn }: { expired: boolean; onSignedIn: (token: string) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main className="flex min-h-screen items-center justify-center bg-zinc-50 p-4 text-zinc-900 dark:bg-zinc-950 dark:text-zinc-100">
      <form
        aria-label="Sign in"
        className="w-full max-w-sm space-y-4 rounded-lg border border-zinc-200 bg-white p-6 shadow dark:border-zinc-700 dark:bg-zinc-900"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          try {
            onSignedIn(await signIn("", username, password));
          } catch (err) {
            setError(message(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <h1 className="text-xl font-semibold">KaosNet console</h1>
        {expired && <p role="status" className="text-sm text-amber-700 dark:text-amber-300">Your session has ended: sign in again.</p>}
        <Field label="Username">
          <Input name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
        </Field>
        <Field label="Password">
          <Input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </Field>
        <ErrorBox error={error} />
        <Button kind="primary" type="submit" disabled={busy} className="w-full">
          Sign in
        </Button>
      </form>
    </main>
  );
}
