// The matchmaker: waiting tickets and the pool's counts.

import { Button, Card, ErrorBox, Loading, Mono, Page, Table, useLoad, useSession } from "../ui";

export function Matchmaker() {
  const { api } = useSession();
  const pool = useLoad(() => api.matchmaker(), [api]);
  const stats = pool.data?.stats;
  return (
    <Page title="Matchmaker" actions={<Button onClick={pool.reload}>Refresh</Button>}>
      <ErrorBox error={pool.error} />
      <Loading loading={pool.loading} />
      {stats && (
        <Card>
          <p className="text-sm">
            {stats.tickets} tickets, {stats.players} players waiting, {stats.party_tickets} party tickets
          </p>
        </Card>
      )}
      <Table
        head={["Ticket", "Players", "Count", "Properties"]}
        empty="No tickets are waiting."
        rows={(pool.data?.tickets ?? []).map((t) => [
          <Mono>{t.ticket}</Mono>,
          t.players.map((p) => p.username).join(", "),
          `${t.min_count}-${t.max_count}`,
          <Mono>{JSON.stringify({ ...t.string_properties, ...t.numeric_properties })}</Mono>,
        ])}
      />
    </Page>
  );
}
