// Console users: listed with their roles, created, given a new role or password, removed.

import { useState } from "react";
import type { Role } from "../api";
import { Button, Card, DangerButton, ErrorBox, Field, Form, Input, Page, Select, Table, Time, useAction, useLoad, useSession } from "../ui";

const roles: Role[] = ["readonly", "developer", "admin"];

export function Accounts() {
  const { api, username } = useSession();
  const users = useLoad(() => api.users(), [api]);
  const [form, setForm] = useState({ username: "", password: "", role: "readonly" as Role });
  const act = useAction();
  return (
    <Page title="Accounts">
      <ErrorBox error={users.error ?? act.error} />
      <Table
        head={["User", "Role", "Created", ""]}
        empty="No console users."
        rows={(users.data?.users ?? []).map((u) => [
          u.username,
          u.username === username ? (
            u.role
          ) : (
            <Select
              aria-label={`Role of ${u.username}`}
              value={u.role}
              onChange={(e) => {
                const role = e.target.value as Role;
                if (window.confirm(`Make ${u.username} ${role}?`)) {
                  act.run(() => api.editUser(u.username, { role })).then(users.reload);
                }
              }}
            >
              {roles.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </Select>
          ),
          <Time unix={u.create_time} />,
          u.username === username ? null : (
            <div className="flex gap-2">
              <Button
                onClick={() => {
                  const password = window.prompt(`New password for ${u.username} (8 to 128 characters):`);
                  if (password) act.run(() => api.editUser(u.username, { password }));
                }}
              >
                Set password
              </Button>
              <DangerButton
                label="Remove"
                name={`Remove ${u.username}`}
                confirm={`Remove console user ${u.username}? Their sessions end at once.`}
                method="DELETE"
                path="/v2/console/user/{username}"
                onConfirm={() => act.run(() => api.deleteUser(u.username)).then(users.reload)}
              />
            </div>
          ),
        ])}
      />
      <Card title="New console user">
        <Form
          onSubmit={() =>
            act.run(() => api.createUser(form.username, form.password, form.role)).then((ok) => {
              if (ok) setForm({ username: "", password: "", role: "readonly" });
              users.reload();
            })
          }
        >
          <Field label="Username">
            <Input value={form.username} onChange={(e) => setForm({ ...form, username: e.target.value })} required />
          </Field>
          <Field label="Password (8 to 128 characters)">
            <Input type="password" autoComplete="new-password" minLength={8} value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} required />
          </Field>
          <Field label="Role">
            <Select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
              {roles.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </Select>
          </Field>
          <Button kind="primary" type="submit">Create</Button>
        </Form>
      </Card>
    </Page>
  );
}
