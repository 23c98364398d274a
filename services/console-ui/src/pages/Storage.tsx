// Storage: browse by collection, owner and key with the API's cursors; view an object;
// edit its JSON with a version check (a stale version is refused); delete.

import { useState } from "react";
import type { StorageObject } from "../api";
import {
  Button, Card, DangerButton, ErrorBox, Field, Form, Input, Loading, Mono, Page, Select, Table, TextArea, useAction,
  useLoad, usePager, useSession,
} from "../ui";

type Id = { collection: string; key: string; user_id: string };

function Editor({ id, onDone, onDeleted }: { id: Id; onDone: () => void; onDeleted: () => void }) {
  const { api, can } = useSession();
  const object = useLoad(() => api.object(id), [api, id.collection, id.key, id.user_id]);
  const [text, setText] = useState<string | null>(null);
  const [read, setRead] = useState<number | null>(null);
  const act = useAction();
  const o = object.data;
  const writable = can("PUT", "/v2/console/storage/{collection}/{key}/{user_id}");
  if (!o) return <Card><Loading loading={object.loading} /><ErrorBox error={object.error} /></Card>;
  const shown = text ?? JSON.stringify(o.value, null, 2);
  return (
    <Card title={`${o.collection} / ${o.key}`}>
      <p className="mb-2 text-sm">
        Owner <Mono>{o.user_id}</Mono>, version <Mono>{o.version}</Mono>, updated {o.update_time}
      </p>
      <Form
        error={act.error}
        onSubmit={() =>
          act.run(async () => {
            const value = JSON.parse(shown);
            await api.writeObject(id, value, o.version, read ?? o.permission_read, o.permission_write);
            setText(null);
            object.reload();
            onDone();
          })
        }
      >
        <Field label="Value (a JSON object)">
          <TextArea rows={12} cols={70} value={shown} readOnly={!writable} onChange={(e) => setText(e.target.value)} />
        </Field>
        <Field label="Read permission">
          <Select value={read ?? o.permission_read} disabled={!writable} onChange={(e) => setRead(Number(e.target.value))}>
            <option value={0}>0: server only</option>
            <option value={1}>1: owner</option>
            <option value={2}>2: public</option>
          </Select>
        </Field>
        {writable && <Button kind="primary" type="submit" disabled={act.busy}>Save (if unchanged since loaded)</Button>}
        <DangerButton
          label="Delete object"
          confirm="Delete this object?"
          method="DELETE"
          path="/v2/console/storage/{collection}/{key}/{user_id}"
          onConfirm={() => act.run(() => api.deleteObject(id, o.version)).then((ok) => ok && onDeleted())}
        />
      </Form>
    </Card>
  );
}

export function Storage() {
  const { api } = useSession();
  const [filter, setFilter] = useState({ collection: "", user_id: "", key: "" });
  const [form, setForm] = useState(filter);
  const [open, setOpen] = useState<Id | null>(null);
  const pager = usePager();
  const collections = useLoad(() => api.collections(), [api]);
  const list = useLoad(
    () =>
      filter.collection
        ? api.objects({ ...filter, cursor: pager.cursor, limit: 50 })
        : Promise.resolve({ objects: [] as StorageObject[], cursor: undefined }),
    [api, filter, pager.cursor],
  );
  return (
    <Page title="Storage">
      <Form
        onSubmit={() => {
          pager.reset();
          setOpen(null);
          setFilter(form);
        }}
      >
        <Field label="Collection">
          <Select value={form.collection} onChange={(e) => setForm({ ...form, collection: e.target.value })} required>
            <option value="">choose…</option>
            {(collections.data?.collections ?? []).map((c) => (
              <option key={c}>{c}</option>
            ))}
          </Select>
        </Field>
        <Field label="Owner (player id)">
          <Input value={form.user_id} onChange={(e) => setForm({ ...form, user_id: e.target.value })} placeholder="any" />
        </Field>
        <Field label="Key">
          <Input value={form.key} onChange={(e) => setForm({ ...form, key: e.target.value })} placeholder="any" />
        </Field>
        <Button kind="primary" type="submit">Browse</Button>
      </Form>
      <ErrorBox error={collections.error ?? list.error} />
      <Loading loading={list.loading} />
      {filter.collection ? (
        <>
          <Table
            head={["Key", "Owner", "Version", "Read", "Updated"]}
            empty="No objects here."
            rows={(list.data?.objects ?? []).map((o) => [
              <Button onClick={() => setOpen({ collection: o.collection, key: o.key, user_id: o.user_id })}>{o.key}</Button>,
              <Mono>{o.user_id}</Mono>,
              <Mono>{o.version.slice(0, 12)}</Mono>,
              String(o.permission_read),
              o.update_time,
            ])}
          />
          {!filter.key && pager.controls(list.data?.cursor)}
        </>
      ) : (
        <p className="text-sm text-zinc-500">Choose a collection to browse.</p>
      )}
      {open && (
        <Editor
          key={`${open.collection}/${open.key}/${open.user_id}`}
          id={open}
          onDone={list.reload}
          onDeleted={() => {
            setOpen(null);
            list.reload();
          }}
        />
      )}
    </Page>
  );
}
