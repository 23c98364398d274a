// Matches: listed by label or label query, a match's state inspected, signalled,
// terminated.

import { useState } from "react";
import { Button, Card, DangerButton, ErrorBox, Field, Form, Input, Json, Loading, Mono, Page, Table, useAction, useLoad, useSession } from "../ui";

function MatchDetail({ id, onGone }: { id: string; onGone: () => void }) {
  const { api, can } = useSession();
  const state = useLoad(() => api.matchState(id), [api, id]);
  const [data, setData] = useState("");
  const [answer, setAnswer] = useState<string | null>(null);
  const act = useAction();
  return (
    <Card title={`Match ${id}`}>
      <Loading loading={state.loading} />
      <ErrorBox error={state.error ?? act.error} />
      {state.data && (
        <>
          <p className="text-sm">Tick {state.data.tick}, {state.data.presences.length} players</p>
          <Json value={state.data.state} />
        </>
      )}
      <div className="mt-3 flex flex-wrap items-end gap-2">
        <Button onClick={state.reload}>Refresh state</Button>
        {can("POST", "/v2/console/match/{id}/signal") && (
          <Form onSubmit={() => act.run(async () => setAnswer((await api.signal(id, data)).data))}>
            <Field label="Signal data">
              <Input value={data} onChange={(e) => setData(e.target.value)} />
            </Field>
            <Button type="submit">Signal</Button>
          </Form>
        )}
        <DangerButton
          label="Terminate"
          confirm="End this match?"
          method="DELETE"
          path="/v2/console/match/{id}"
          onConfirm={() => act.run(() => api.terminate(id)).then((ok) => ok && onGone())}
        />
      </div>
      {answer !== null && <p className="mt-2 text-sm">Answer: <Mono>{answer}</Mono></p>}
    </Card>
  );
}

export function Rooms() {
  const { api } = useSession();
  const [query, setQuery] = useState("");
  const [applied, setApplied] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const list = useLoad(() => api.matches({ query: applied, limit: 100 }), [api, applied]);
  const rows = (list.data?.matches ?? []).map((m) => [
    <Button onClick={() => setOpen(m.match_id)} aria-label={`Inspect ${m.match_id}`}>
      <Mono>{m.match_id}</Mono>
    </Button>,
    m.authoritative ? "authoritative" : "relayed",
    <Mono>{m.label}</Mono>,
    String(m.size),
    m.handler_name || "—",
  ]);
  return (
    <Page title="Rooms" actions={<Button onClick={list.reload}>Refresh</Button>}>
      <Form onSubmit={() => setApplied(query)}>
        <Field label="Label query (e.g. +label.mode:duel)">
          <Input value={query} onChange={(e) => setQuery(e.target.value)} className="w-80" />
        </Field>
        <Button type="submit">Search</Button>
      </Form>
      <Loading loading={list.loading} />
      <ErrorBox error={list.error} />
      <Table head={["Match", "Kind", "Label", "Players", "Handler"]} rows={rows} empty="No matches are running." />
      {open && <MatchDetail key={open} id={open} onGone={() => { setOpen(null); list.reload(); }} />}
    </Page>
  );
}
