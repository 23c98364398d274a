// Leaderboards (or tournaments): the boards, a board's records page by page, a record
// deleted, a board reset or deleted.

import { useState } from "react";
import type { Board } from "../api";
import { Button, Card, DangerButton, ErrorBox, Json, Loading, Mono, Page, Table, useAction, useLoad, usePager, useSession } from "../ui";

function Records({ board, onChanged }: { board: Board; onChanged: () => void }) {
  const { api } = useSession();
  const pager = usePager();
  const records = useLoad(() => api.records(board.id, pager.cursor), [api, board.id, pager.cursor]);
  const act = useAction();
  return (
    <Card title={`Records of ${board.id}`}>
      <ErrorBox error={records.error ?? act.error} />
      <Loading loading={records.loading} />
      <Table
        head={["Rank", "Owner", "Score", "Subscore", "Submissions", "Updated", ""]}
        empty="No records in this period."
        rows={(records.data?.records ?? []).map((r) => [
          r.rank,
          <a className="text-indigo-600 underline dark:text-indigo-400" href={`#/players?id=${encodeURIComponent(r.owner_id)}`}>{r.username || <Mono>{r.owner_id}</Mono>}</a>,
          r.score,
          r.subscore,
          String(r.num_score),
          r.update_time,
          <DangerButton
            label="Delete"
            name={`Delete the record of ${r.username || r.owner_id}`}
            confirm="Delete this record?"
            method="DELETE"
            path="/v2/console/leaderboard/{id}/record/{owner_id}"
            onConfirm={() => act.run(() => api.deleteRecord(board.id, r.owner_id)).then(() => { records.reload(); onChanged(); })}
          />,
        ])}
      />
      {pager.controls(records.data?.next_cursor)}
      <div className="mt-3 flex gap-2">
        <DangerButton
          label="Reset period"
          confirm={`Remove every record of the current period of ${board.id}?`}
          method="POST"
          path="/v2/console/leaderboard/{id}/reset"
          onConfirm={() => act.run(() => api.resetBoard(board.id)).then(() => { records.reload(); onChanged(); })}
        />
        <DangerButton
          label="Delete board"
          confirm={`Delete ${board.id} and all its records?`}
          method="DELETE"
          path="/v2/console/leaderboard/{id}"
          onConfirm={() => act.run(() => api.deleteBoard(board.id)).then(onChanged)}
        />
      </div>
    </Card>
  );
}

export function BoardList({ tournaments }: { tournaments: boolean }) {
  const { api } = useSession();
  const boards = useLoad(() => api.boards(), [api]);
  const [open, setOpen] = useState<string | null>(null);
  const list = (boards.data?.leaderboards ?? []).filter((b) => (b.tournament !== null && b.tournament !== undefined) === tournaments);
  const chosen = list.find((b) => b.id === open);
  return (
    <Page title={tournaments ? "Tournaments" : "Leaderboards"} actions={<Button onClick={boards.reload}>Refresh</Button>}>
      <ErrorBox error={boards.error} />
      <Loading loading={boards.loading} />
      <Table
        head={["Id", "Order", "Operator", "Reset", "Records", ""]}
        empty={tournaments ? "No tournaments." : "No leaderboards."}
        rows={list.map((b) => [
          <Mono>{b.id}</Mono>,
          String(b.sort_order),
          String(b.operator),
          b.reset_schedule ?? "never",
          String(b.rank_count),
          <Button onClick={() => setOpen(b.id)}>Records</Button>,
        ])}
      />
      {chosen?.tournament && (
        <Card title="Tournament rules">
          <Json value={chosen.tournament} />
        </Card>
      )}
      {chosen && <Records key={chosen.id} board={chosen} onChanged={boards.reload} />}
    </Page>
  );
}

export function Leaderboards() {
  return <BoardList tournaments={false} />;
}
