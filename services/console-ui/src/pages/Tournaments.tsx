// Tournaments: the leaderboards with tournament rules, their rules and records.

import { BoardList } from "./Leaderboards";

export function Tournaments() {
  return <BoardList tournaments />;
}
