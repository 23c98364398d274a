// Notifications: sent to one player or everyone; a player's listed and deleted.

import { useState } from "react";
import { Button, Card, DangerButton, ErrorBox, Field, Form, Input, Page, Table, TextArea, useAction, useLoad, usePager, useSession } from "../ui";

function List({ user }: { user: string }) {
  const { api } = useSession();
  const pager = usePager();
  const list = useLoad(() => api.notifications(user, pager.cursor), [api, user, pager.cursor]);
  const act = useAction();
  return (
    <Card title="Their notifications">
      <ErrorBox error={list.error ?? act.error} />
      <Table
        head={["When", "Subject", "Code", "Content", ""]}
        empty="No stored notifications."
        rows={(list.data?.notifications ?? []).map((n) => [
          n.create_time,
          n.subject,
          String(n.code),
          <span className="break-all">{n.content}</span>,
          <DangerButton
            label="Delete"
            name={`Delete notification ${n.subject}`}
            confirm="Delete this notification?"
            method="DELETE"
            path="/v2/console/notification/{user_id}/{id}"
            onConfirm={() => act.run(() => api.deleteNotification(user, n.id)).then(list.reload)}
          />,
        ])}
      />
      {pager.controls(list.data?.cursor)}
    </Card>
  );
}

export function Notifications() {
  const { api, can } = useSession();
  const [form, setForm] = useState({ user_id: "", subject: "", content: "{}", code: "1", persistent: true });
  const [sent, setSent] = useState<number | null>(null);
  const [user, setUser] = useState("");
  const [shown, setShown] = useState<string | null>(null);
  const send = useAction();
  return (
    <Page title="Notifications">
      {can("POST", "/v2/console/notification") && (
        <Card title="Send">
          <Form
            error={send.error}
            onSubmit={() =>
              send.run(async () => {
                const r = await api.sendNotification({
                  user_id: form.user_id.trim() || undefined,
                  subject: form.subject,
                  content: JSON.parse(form.content),
                  code: Number(form.code),
                  persistent: form.persistent,
                });
                setSent(r.sent);
              })
            }
          >
            <Field label="Player id (empty: everyone)">
              <Input value={form.user_id} onChange={(e) => setForm({ ...form, user_id: e.target.value })} />
            </Field>
            <Field label="Subject">
              <Input value={form.subject} onChange={(e) => setForm({ ...form, subject: e.target.value })} required />
            </Field>
            <Field label="Code (not 0)">
              <Input type="number" value={form.code} onChange={(e) => setForm({ ...form, code: e.target.value })} className="w-24" />
            </Field>
            <Field label="Content (a JSON object)">
              <TextArea rows={3} cols={40} value={form.content} onChange={(e) => setForm({ ...form, content: e.target.value })} />
            </Field>
            <label className="flex items-center gap-1 text-sm">
              <input type="checkbox" checked={form.persistent} onChange={(e) => setForm({ ...form, persistent: e.target.checked })} />
              Keep until read (persistent)
            </label>
            <Button kind="primary" type="submit" disabled={send.busy}>Send</Button>
          </Form>
          {sent !== null && <p role="status" className="mt-2 text-sm">Sent to {sent} players.</p>}
        </Card>
      )}
      <Form onSubmit={() => setShown(user.trim())}>
        <Field label="List a player's notifications (player id)">
          <Input value={user} onChange={(e) => setUser(e.target.value)} className="w-96" required />
        </Field>
        <Button type="submit">List</Button>
      </Form>
      {shown && <List key={shown} user={shown} />}
    </Page>
  );
}
