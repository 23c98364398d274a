// Players: found by id, username, device id, email or custom id; a profile with devices,
// wallet and metadata; edit, ban until a time or for good, unban, delete, export as JSON.

import { useState } from "react";
import { go, useHash } from "../App";
import { Friends } from "./Social";
import type { Player } from "../api";
import {
  Button, Card, DangerButton, ErrorBox, Field, Form, Input, Json, Loading, Mono, Page, Table, TextArea, Time,
  useAction, useLoad, usePager, useSession,
} from "../ui";

function download(name: string, value: unknown) {
  const url = URL.createObjectURL(new Blob([JSON.stringify(value, null, 2)], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  // Revoked once the browser has started the download.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function banned(p: Player) {
  return p.ban_until > Date.now() / 1000;
}

function Profile({ id }: { id: string }) {
  const { api, can } = useSession();
  const player = useLoad(() => api.player(id), [api, id]);
  const groups = useLoad(() => api.playerGroups(id), [api, id]);
  const act = useAction();
  const [until, setUntil] = useState("");
  const [edit, setEdit] = useState<{ display_name: string; metadata: string; wallet: string } | null>(null);
  const p = player.data;
  if (player.loading && !p) return <Loading loading />;
  if (!p) return <ErrorBox error={player.error} />;
  const canEdit = can("PUT", "/v2/console/account/{id}");
  return (
    <div className="space-y-4">
      <ErrorBox error={act.error ?? player.error} />
      <Card title={p.username}>
        <dl className="grid grid-cols-1 gap-2 text-sm md:grid-cols-2">
          <div><dt className="text-zinc-500">Id</dt><dd><Mono>{p.user_id}</Mono></dd></div>
          <div><dt className="text-zinc-500">Display name</dt><dd>{p.display_name || "—"}</dd></div>
          <div><dt className="text-zinc-500">Email</dt><dd>{p.email || "—"}</dd></div>
          <div><dt className="text-zinc-500">Custom id</dt><dd>{p.custom_id || "—"}</dd></div>
          <div><dt className="text-zinc-500">Devices</dt><dd>{p.devices.length ? p.devices.map((d) => <div key={d}><Mono>{d}</Mono></div>) : "—"}</dd></div>
          <div><dt className="text-zinc-500">Created</dt><dd><Time unix={p.create_time} /></dd></div>
          <div><dt className="text-zinc-500">Online</dt><dd>{p.online ? "yes" : "no"}</dd></div>
          <div><dt className="text-zinc-500">Banned</dt><dd data-banned={banned(p)}>{banned(p) ? (p.ban_until > 4e18 ? "for good" : <>until <Time unix={p.ban_until} /></>) : "no"}</dd></div>
        </dl>
        <h3 className="mt-3 font-medium">Wallet</h3>
        <Json value={p.wallet} />
        <h3 className="mt-3 font-medium">Metadata</h3>
        <Json value={p.metadata} />
        <div className="mt-3 flex flex-wrap items-end gap-2">
          <Button onClick={() => act.run(async () => download(`player-${p.user_id}.json`, await api.exportPlayer(id)))}>Export JSON</Button>
          {canEdit && (
            <Button onClick={() => setEdit({ display_name: p.display_name, metadata: JSON.stringify(p.metadata, null, 2), wallet: "{}" })}>
              Edit
            </Button>
          )}
          {banned(p) ? (
            can("POST", "/v2/console/account/{id}/unban") && (
              <Button onClick={() => act.run(() => api.unban(id)).then(player.reload)}>Unban</Button>
            )
          ) : (
            can("POST", "/v2/console/account/{id}/ban") && (
              <Field label="Ban until (empty: for good)">
                <Input type="datetime-local" value={until} onChange={(e) => setUntil(e.target.value)} />
              </Field>
            )
          )}
          {!banned(p) && (
            <DangerButton
              label="Ban"
              confirm={`Ban ${p.username} ${until ? `until ${new Date(until).toLocaleString()}` : "for good"}? Their sockets close and their sessions end.`}
              method="POST"
              path="/v2/console/account/{id}/ban"
              onConfirm={() =>
                act.run(() => api.ban(id, until ? Math.floor(new Date(until).getTime() / 1000) : undefined)).then(player.reload)
              }
            />
          )}
          <DangerButton
            label="Delete player"
            confirm={`Delete ${p.username} and all their data (storage, records, friends, groups)? This cannot be undone.`}
            method="DELETE"
            path="/v2/console/account/{id}"
            onConfirm={() => act.run(() => api.deletePlayer(id)).then((ok) => ok && go("players"))}
          />
        </div>
      </Card>
      {edit && (
        <Card title="Edit">
          <Form
            error={act.error}
            onSubmit={() =>
              act.run(async () => {
                const body: Record<string, unknown> = { display_name: edit.display_name, metadata: JSON.parse(edit.metadata) };
                const wallet = JSON.parse(edit.wallet || "{}");
                if (Object.keys(wallet).length) body.wallet = wallet;
                await api.editPlayer(id, body);
                setEdit(null);
                player.reload();
              })
            }
          >
            <Field label="Display name">
              <Input value={edit.display_name} onChange={(e) => setEdit({ ...edit, display_name: e.target.value })} />
            </Field>
            <Field label="Metadata (a JSON object)">
              <TextArea rows={6} cols={50} value={edit.metadata} onChange={(e) => setEdit({ ...edit, metadata: e.target.value })} />
            </Field>
            <Field label='Wallet change (amounts to add, e.g. {"gold": 10})'>
              <TextArea rows={3} cols={30} value={edit.wallet} onChange={(e) => setEdit({ ...edit, wallet: e.target.value })} />
            </Field>
            <Button kind="primary" type="submit">Save</Button>
            <Button onClick={() => setEdit(null)}>Cancel</Button>
          </Form>
        </Card>
      )}
      <Friends id={id} />
      <Card title="Groups">
        <Table
          head={["Group", "State"]}
          empty="In no groups."
          rows={(groups.data?.groups ?? []).map((g) => [g.group.name, ["superadmin", "admin", "member", "join request", "banned"][g.state] ?? String(g.state)])}
        />
      </Card>
    </div>
  );
}

export function Players() {
  const { api } = useSession();
  const { params } = useHash();
  const id = params.get("id");
  const [q, setQ] = useState(params.get("q") ?? "");
  const [found, setFound] = useState<Player[] | null>(null);
  const search = useAction();
  const pager = usePager();
  const all = useLoad(() => (id || found ? Promise.resolve(null) : api.listPlayers(pager.cursor)), [api, id, found, pager.cursor]);
  return (
    <Page title="Players">
      <Form
        error={search.error}
        onSubmit={() => search.run(async () => setFound((await api.findPlayers(q.trim())).accounts))}
      >
        <Field label="Id, username, device id, email or custom id">
          <Input value={q} onChange={(e) => setQ(e.target.value)} className="w-96" required />
        </Field>
        <Button kind="primary" type="submit" disabled={search.busy}>Find</Button>
      </Form>
      {!found && !id && all.data && (
        <>
          <ErrorBox error={all.error} />
          <Table
            head={["Username", "Id", "Online"]}
            empty="No players yet."
            rows={(all.data.accounts ?? []).map((p) => [
              <a className="text-indigo-600 underline dark:text-indigo-400" href={`#/players?id=${encodeURIComponent(p.user_id)}`}>{p.username}</a>,
              <Mono>{p.user_id}</Mono>,
              p.online ? "yes" : "no",
            ])}
          />
          {pager.controls(all.data.cursor)}
        </>
      )}
      {found && (
        <Table
          head={["Username", "Id", "Online"]}
          empty="No player matches."
          rows={found.map((p) => [
            <a className="text-indigo-600 underline dark:text-indigo-400" href={`#/players?id=${encodeURIComponent(p.user_id)}`}>{p.username}</a>,
            <Mono>{p.user_id}</Mono>,
            p.online ? "yes" : "no",
          ])}
        />
      )}
      {id && <Profile key={id} id={id} />}
    </Page>
  );
}
