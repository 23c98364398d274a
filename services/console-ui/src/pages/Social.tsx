// Social: a player's friends; groups found by name, their members, membership edited
// (add, kick, promote, demote, ban), a group deleted.

import { useState } from "react";
import {
  Button, Card, DangerButton, ErrorBox, Field, Form, Input, Loading, Mono, Page, Table, useAction, useLoad, usePager,
  useSession,
} from "../ui";

const states = ["superadmin", "admin", "member", "join request", "banned"];

function Members({ id, onDeleted }: { id: string; onDeleted: () => void }) {
  const { api, can } = useSession();
  const pager = usePager();
  const members = useLoad(() => api.members(id, pager.cursor), [api, id, pager.cursor]);
  const [add, setAdd] = useState("");
  const act = useAction();
  const op = (name: "add" | "kick" | "promote" | "demote" | "ban", user: string) =>
    act.run(() => api.groupOp(id, name, [user])).then(members.reload);
  const editable = can("POST", "/v2/console/group/{id}/{op}");
  return (
    <Card title="Members">
      <ErrorBox error={members.error ?? act.error} />
      <Loading loading={members.loading} />
      <Table
        head={["Player", "Role", ""]}
        empty="No members."
        rows={(members.data?.members ?? []).map((m) => [
          <a className="text-indigo-600 underline dark:text-indigo-400" href={`#/players?id=${encodeURIComponent(m.user_id)}`}>{m.username}</a>,
          states[m.state] ?? String(m.state),
          editable ? (
            <div className="flex gap-1">
              <Button onClick={() => op("promote", m.user_id)}>Promote</Button>
              <Button onClick={() => op("demote", m.user_id)}>Demote</Button>
              <DangerButton label="Kick" name={`Kick ${m.username}`} confirm="Kick from the group?" method="POST" path="/v2/console/group/{id}/{op}" onConfirm={() => op("kick", m.user_id)} />
              <DangerButton label="Ban" name={`Ban ${m.username} from the group`} confirm="Ban from the group?" method="POST" path="/v2/console/group/{id}/{op}" onConfirm={() => op("ban", m.user_id)} />
            </div>
          ) : null,
        ])}
      />
      {pager.controls(members.data?.cursor)}
      {editable && (
        <Form className="mt-3" onSubmit={() => op("add", add.trim()).then(() => setAdd(""))}>
          <Field label="Add a player (id)">
            <Input value={add} onChange={(e) => setAdd(e.target.value)} className="w-96" required />
          </Field>
          <Button type="submit">Add</Button>
        </Form>
      )}
      <div className="mt-3">
        <DangerButton
          label="Delete group"
          confirm="Delete this group?"
          method="DELETE"
          path="/v2/console/group/{id}"
          onConfirm={() => act.run(() => api.deleteGroup(id)).then((ok) => ok && onDeleted())}
        />
      </div>
    </Card>
  );
}

/** A player's friends, page by page, each removable (both ways). */
export function Friends({ id }: { id: string }) {
  const { api } = useSession();
  const pager = usePager();
  const friends = useLoad(() => api.friends(id, pager.cursor), [api, id, pager.cursor]);
  const act = useAction();
  return (
    <Card title="Friends">
      <ErrorBox error={friends.error ?? act.error} />
      <Table
        head={["Player", "State", ""]}
        empty="No friends."
        rows={(friends.data?.friends ?? []).map((f) => [
          <a className="text-indigo-600 underline dark:text-indigo-400" href={`#/players?id=${encodeURIComponent(f.user_id)}`}>{f.username}</a>,
          ["mutual", "invite sent", "invite received", "blocked"][f.state] ?? String(f.state),
          <DangerButton
            label="Remove"
            name={`Remove friend ${f.username}`}
            confirm="Remove this friendship (both ways)?"
            method="DELETE"
            path="/v2/console/account/{id}/friend/{friend_id}"
            onConfirm={() => act.run(() => api.unfriend(id, f.user_id)).then(friends.reload)}
          />,
        ])}
      />
      {pager.controls(friends.data?.cursor)}
    </Card>
  );
}

export function Social() {
  const { api } = useSession();
  const [name, setName] = useState("");
  const [applied, setApplied] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const [player, setPlayer] = useState("");
  const [friendsOf, setFriendsOf] = useState<string | null>(null);
  const pager = usePager();
  const groups = useLoad(() => api.groups(applied || undefined, pager.cursor), [api, applied, pager.cursor]);
  return (
    <Page title="Social">
      <Form onSubmit={() => setFriendsOf(player.trim())}>
        <Field label="A player's friends (player id)">
          <Input value={player} onChange={(e) => setPlayer(e.target.value)} className="w-96" required />
        </Field>
        <Button type="submit">Show</Button>
      </Form>
      {friendsOf && <Friends key={friendsOf} id={friendsOf} />}
      <h2 className="pt-2 text-lg font-medium">Groups</h2>
      <Form onSubmit={() => { pager.reset(); setApplied(name); }}>
        <Field label="Group name (% matches anything)">
          <Input value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Button type="submit">Find</Button>
      </Form>
      <ErrorBox error={groups.error} />
      <Table
        head={["Group", "Id", "Members", "Open"]}
        empty="No groups."
        rows={(groups.data?.groups ?? []).map((g) => [
          <Button onClick={() => setOpen(g.id)}>{g.name}</Button>,
          <Mono>{g.id}</Mono>,
          `${g.edge_count ?? 0} / ${g.max_count ?? "—"}`,
          g.open ? "yes" : "no",
        ])}
      />
      {pager.controls(groups.data?.cursor)}
      {open && <Members key={open} id={open} onDeleted={() => { setOpen(null); groups.reload(); }} />}
    </Page>
  );
}
