import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MetricsRegistry } from "../../src/entries/serve.ts";

describe("MetricsRegistry", () => {
  it("renders counters, gauges and histograms in Prometheus text format", () => {
    const m = new MetricsRegistry();
    m.counter("req_total", "Requests.").inc({ model: "a" });
    m.counter("req_total", "Requests.").inc({ model: "a" }, 2);
    m.gauge("inflight", "In flight.").set({ model: "a" }, 4);
    const h = m.histogram("lat_seconds", "Latency.", [0.1, 1]);
    h.observe({ model: "a" }, 0.05);
    h.observe({ model: "a" }, 0.5);
    h.observe({ model: "a" }, 5);
    assert.equal(
      m.render(),
      [
        "# HELP req_total Requests.",
        "# TYPE req_total counter",
        'req_total{model="a"} 3',
        "# HELP inflight In flight.",
        "# TYPE inflight gauge",
        'inflight{model="a"} 4',
        "# HELP lat_seconds Latency.",
        "# TYPE lat_seconds histogram",
        'lat_seconds_bucket{model="a",le="0.1"} 1',
        'lat_seconds_bucket{model="a",le="1"} 2',
        'lat_seconds_bucket{model="a",le="+Inf"} 3',
        'lat_seconds_sum{model="a"} 5.55',
        'lat_seconds_count{model="a"} 3',
        "",
      ].join("\n"),
    );
  });

  it("escapes label values and rejects bad names and kind changes", () => {
    const m = new MetricsRegistry();
    m.counter("x_total", "X.").inc({ path: 'a"b\\c\nd' });
    assert.match(m.render(), /x_total\{path="a\\"b\\\\c\\nd"\} 1/);
    assert.throws(() => m.gauge("x_total", "X."), TypeError);
    assert.throws(() => m.counter("bad-name", "."), TypeError);
  });
});
