// Connected realtime sessions: filtered by player or transport, kicked.

import { useState } from "react";
import { Button, DangerButton, ErrorBox, Field, Form, Input, Loading, Mono, Page, Select, Table, useAction, useLoad, useSession } from "../ui";

export function Sessions() {
  const { api } = useSession();
  const [user, setUser] = useState("");
  const [transport, setTransport] = useState("");
  const [filter, setFilter] = useState({ user: "", transport: "" });
  const list = useLoad(() => api.sessions({ user_id: filter.user, transport: filter.transport, limit: 500 }), [api, filter]);
  const kick = useAction();
  const rows = (list.data?.sessions ?? []).map((s) => [
    <Mono>{s.session_id}</Mono>,
    <a className="text-indigo-600 underline dark:text-indigo-400" href={`#/players?id=${encodeURIComponent(s.user_id)}`}>
      <Mono>{s.user_id}</Mono>
    </a>,
    s.transport,
    <DangerButton
      label="Kick"
      name={`Kick session ${s.session_id}`}
      confirm="Close this session (code 4001)?"
      method="DELETE"
      path="/v2/console/session/{id}"
      onConfirm={() => kick.run(() => api.kick(s.session_id)).then(list.reload)}
    />,
  ]);
  return (
    <Page title="Sessions" actions={<Button onClick={list.reload}>Refresh</Button>}>
      <Form onSubmit={() => setFilter({ user, transport })}>
        <Field label="Player id">
          <Input value={user} onChange={(e) => setUser(e.target.value)} placeholder="any" />
        </Field>
        <Field label="Transport">
          <Select value={transport} onChange={(e) => setTransport(e.target.value)}>
            <option value="">any</option>
            <option value="websocket">WebSocket</option>
            <option value="rudp">RUDP</option>
          </Select>
        </Field>
        <Button type="submit">Filter</Button>
      </Form>
      <Loading loading={list.loading} />
      <ErrorBox error={list.error ?? kick.error} />
      <Table head={["Session", "Player", "Transport", ""]} rows={rows} empty="No sessions are connected." />
    </Page>
  );
}
