// Chat: the channels someone is in and those with history; a channel's messages page by
// page; a message removed (the channel is told).

import { useState } from "react";
import { Button, Card, DangerButton, ErrorBox, Field, Form, Input, Loading, Mono, Page, Table, useAction, useLoad, usePager, useSession } from "../ui";

function History({ channel }: { channel: string }) {
  const { api } = useSession();
  const pager = usePager();
  const messages = useLoad(() => api.messages(channel, pager.cursor), [api, channel, pager.cursor]);
  const act = useAction();
  return (
    <Card title={`Channel ${channel}`}>
      <ErrorBox error={messages.error ?? act.error} />
      <Loading loading={messages.loading} />
      <Table
        head={["When", "From", "Content", ""]}
        empty="No messages."
        rows={(messages.data?.messages ?? []).map((m) => [
          m.create_time,
          m.username || <Mono>{m.sender_id ?? "server"}</Mono>,
          <span className="break-all">{m.content}</span>,
          <DangerButton
            label="Delete"
            name={`Delete the message of ${m.create_time}`}
            confirm="Remove this message? The channel is told."
            method="DELETE"
            path="/v2/console/channel/{channel_id}/message/{message_id}"
            onConfirm={() => act.run(() => api.deleteMessage(channel, m.message_id)).then(messages.reload)}
          />,
        ])}
      />
      {pager.controls(messages.data?.next_cursor)}
    </Card>
  );
}

export function Chat() {
  const { api } = useSession();
  const pager = usePager();
  const channels = useLoad(() => api.channels(pager.cursor), [api, pager.cursor]);
  const [typed, setTyped] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  return (
    <Page title="Chat" actions={<Button onClick={channels.reload}>Refresh</Button>}>
      <Form onSubmit={() => setOpen(typed.trim())}>
        <Field label="Channel id (e.g. 2...lobby for room lobby)">
          <Input value={typed} onChange={(e) => setTyped(e.target.value)} className="w-80" required />
        </Field>
        <Button type="submit">Open</Button>
      </Form>
      <ErrorBox error={channels.error} />
      <Loading loading={channels.loading} />
      <div className="grid gap-4 md:grid-cols-2">
        <Card title="In use now">
          <Table
            head={["Channel", "Present"]}
            empty="Nobody is in a channel."
            rows={(channels.data?.active ?? []).map((c) => [<Button onClick={() => setOpen(c.channel_id)}><Mono>{c.channel_id}</Mono></Button>, String(c.presences)])}
          />
        </Card>
        <Card title="With history">
          <Table
            head={["Channel", "Messages"]}
            empty="No stored messages."
            rows={(channels.data?.stored ?? []).map((c) => [<Button onClick={() => setOpen(c.channel_id)}><Mono>{c.channel_id}</Mono></Button>, String(c.messages)])}
          />
          {pager.controls(channels.data?.cursor)}
        </Card>
      </div>
      {open && <History key={open} channel={open} />}
    </Page>
  );
}
