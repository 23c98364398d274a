// The signed-in console user: who they are, a password change, refreshing the session,
// signing out.

import { useState } from "react";
import { Button, Card, ErrorBox, Field, Form, Input, Page, useAction, useSession } from "../ui";

export function Auth() {
  const s = useSession();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState<string | null>(null);
  const change = useAction();
  const refresh = useAction();
  return (
    <Page title="My account">
      <Card title="Signed in">
        <p className="text-sm">
          {s.username}, role <strong>{s.role}</strong>
        </p>
        <div className="mt-3 flex gap-2">
          <Button
            onClick={() =>
              refresh.run(async () => {
                s.setToken((await s.api.refresh()).token);
                setDone("Session refreshed.");
              })
            }
          >
            Refresh session
          </Button>
          <Button onClick={s.signOut}>Sign out</Button>
        </div>
        <div className="mt-2">
          <ErrorBox error={refresh.error} />
        </div>
      </Card>
      <Card title="Change password">
        <Form
          error={change.error}
          onSubmit={() =>
            change.run(async () => {
              s.setToken((await s.api.changePassword(current, next)).token);
              setCurrent("");
              setNext("");
              setDone("Password changed: your other sessions have ended.");
            })
          }
        >
          <Field label="Current password">
            <Input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
          </Field>
          <Field label="New password (8 to 128 characters)">
            <Input type="password" autoComplete="new-password" minLength={8} value={next} onChange={(e) => setNext(e.target.value)} required />
          </Field>
          <Button kind="primary" type="submit" disabled={change.busy}>
            Change password
          </Button>
        </Form>
        {done && <p role="status" className="mt-2 text-sm text-green-700 dark:text-green-300">{done}</p>}
      </Card>
    </Page>
  );
}
