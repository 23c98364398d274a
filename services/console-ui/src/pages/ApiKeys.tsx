// API keys for automation: created (the key is shown this once), listed by prefix,
// revoked.

import { useState } from "react";
import type { Role } from "../api";
import { Button, Card, DangerButton, ErrorBox, Field, Form, Input, Mono, Page, Select, Table, Time, useAction, useLoad, useSession } from "../ui";

export function ApiKeys() {
  const { api } = useSession();
  const keys = useLoad(() => api.apiKeys(), [api]);
  const [form, setForm] = useState({ name: "", role: "readonly" as Role });
  const [made, setMade] = useState<string | null>(null);
  const act = useAction();
  return (
    <Page title="API keys">
      <ErrorBox error={keys.error ?? act.error} />
      {made && (
        <Card title="New key: copy it now, it is not shown again">
          <p className="break-all" data-new-key>
            <Mono>{made}</Mono>
          </p>
          <Button className="mt-2" onClick={() => setMade(null)}>Done</Button>
        </Card>
      )}
      <Table
        head={["Prefix", "Name", "Role", "Created", "State", ""]}
        empty="No API keys."
        rows={(keys.data?.keys ?? []).map((k) => [
          <Mono>{k.prefix}…</Mono>,
          k.name,
          k.role,
          <Time unix={k.create_time} />,
          k.revoked ? "revoked" : "active",
          k.revoked ? null : (
            <DangerButton
              label="Revoke"
              name={`Revoke ${k.name}`}
              confirm={`Revoke ${k.name}? It stops working at once.`}
              method="DELETE"
              path="/v2/console/api_key/{id}"
              onConfirm={() => act.run(() => api.revokeApiKey(k.id)).then(keys.reload)}
            />
          ),
        ])}
      />
      <Card title="New API key">
        <Form
          onSubmit={() =>
            act.run(async () => {
              setMade((await api.createApiKey(form.name, form.role)).key);
              setForm({ name: "", role: "readonly" });
              keys.reload();
            })
          }
        >
          <Field label="Name">
            <Input value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} required />
          </Field>
          <Field label="Role">
            <Select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
              <option>readonly</option>
              <option>developer</option>
              <option>admin</option>
            </Select>
          </Field>
          <Button kind="primary" type="submit">Create</Button>
        </Form>
      </Card>
    </Page>
  );
}
