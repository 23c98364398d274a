import { describe, expect, it } from "vitest";
import { parseMetrics, rates, reading, total } from "./metrics";

const text = (requests: number, sum: number, count: number) => `# HELP kaos_api_requests_total REST calls
# TYPE kaos_api_requests_total counter
kaos_api_requests_total{operation="a",result="ok"} ${requests}
kaos_api_requests_total{operation="b",result="ok"} 10
kaos_api_request_seconds_sum{operation="a"} ${sum}
kaos_api_request_seconds_count{operation="a"} ${count}
kaos_sessions{transport="websocket"} 3
kaos_sessions{transport="rudp"} 2
kaos_uptime_seconds 12
`;

describe("metrics", () => {
  it("parse series and sum a metric over its labels", () => {
    const m = parseMetrics(text(5, 0, 0));
    expect(m.get('kaos_sessions{transport="rudp"}')).toBe(2);
    expect(total(m, "kaos_sessions")).toBe(5);
    expect(total(m, "kaos_api_requests_total")).toBe(15);
    expect(total(m, "kaos_uptime")).toBe(0);
  });

  it("give rates and latency between two readings", () => {
    const a = reading(text(5, 0.5, 100), 0);
    const b = reading(text(25, 0.7, 200), 2000);
    const r = rates(a, b);
    expect(r.requestsPerSec).toBe(10);
    expect(r.latencyMs).toBeCloseTo(2, 6);
    expect(rates(b, b).latencyMs).toBe(0);
  });
});
