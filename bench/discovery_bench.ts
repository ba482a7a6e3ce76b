/**
 * Discovery backends: registration latency and register → watcher propagation, per
 * backend, against the raw write of the same server in the same run (etcd: one gateway
 * `kv/put`; NATS: one `kv.put`). Starts its own etcd and nats-server on loopback.
 *
 *   deno run -A bench/discovery_bench.ts [--n 200]
 */
import { parseArgs } from "node:util";
import process from "node:process";
import { Kvm } from "@nats-io/kv";
import type { Discovery, DiscoveryEvent } from "../src/discovery/discovery.ts";
import { discoveryConnectors } from "../src/discovery/discovery_connectors.ts";
import { connectNats } from "../src/wire/nats_connection.ts";
import { MemoryDiscovery, MemoryDiscoveryStore } from "../src/discovery/memory_discovery.ts";
import { startEtcd } from "../tests/support/etcd_server.ts";
import { startNatsKvServer } from "../tests/support/nats_kv_server.ts";
import { removeDir, tempDir } from "../tests/support/loopback_process.ts";
import { runtimeLabel } from "./bench_util.ts";

const { values } = parseArgs({ args: process.argv.slice(2), options: { n: { type: "string" } } });
const N = Number(values.n ?? 200);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (xs: number[]) => `${pct(xs, 50).toFixed(2)} / ${pct(xs, 99).toFixed(2)}`;

/** Registers N keys one at a time; times each register and its arrival at a watcher. */
async function measure(a: Discovery, b: Discovery, tag: string) {
  const prefix = `v1/instances/bench-${tag}/`;
  const watch = b.watch(prefix);
  const it = watch[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done || first.value.type !== "snapshot") throw new Error("no snapshot");
  const register: number[] = [];
  const propagate: number[] = [];
  for (let i = 0; i < N; i++) {
    const key = `${prefix}${i}`;
    const t0 = performance.now();
    const arrived = (async () => {
      while (true) {
        const r: IteratorResult<DiscoveryEvent> = await it.next();
        if (r.done) throw new Error("watch ended");
        if (r.value.type === "added" && r.value.entry.key === key) return performance.now();
      }
    })();
    await a.register(key, { instance_id: String(i), transport: { nats: "x" } });
    register.push(performance.now() - t0);
    propagate.push((await arrived) - t0);
  }
  await watch.close();
  return { register, propagate };
}

async function rawEtcdPut(endpoint: string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const res = await fetch(`${endpoint}/v3/kv/put`, {
      method: "POST",
      body: JSON.stringify({ key: btoa(`raw/${i}`), value: btoa("{}") }),
    });
    await res.text();
    out.push(performance.now() - t0);
  }
  return out;
}

async function rawNatsPut(url: string): Promise<number[]> {
  const nc = await connectNats([url]);
  const kv = await new Kvm(nc).create("raw_bench", { history: 1 });
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await kv.put(`raw.${i}`, "{}");
    out.push(performance.now() - t0);
  }
  await nc.close();
  return out;
}

const etcd = await startEtcd();
const nats = await startNatsKvServer();
const dir = await tempDir("sluice-bench-kv-");
const env: Record<string, string> = {
  ETCD_ENDPOINTS: etcd.endpoint,
  NATS_SERVER: nats.url,
  DYN_FILE_KV: dir,
};
const rows: string[][] = [];
try {
  console.error(`discovery bench: ${N} registrations per backend (${runtimeLabel()})`);
  const store = new MemoryDiscoveryStore();
  const mem = await measure(
    new MemoryDiscovery({ store }),
    new MemoryDiscovery({ store }),
    "memory",
  );
  rows.push(["memory", "—", fmt(mem.register), fmt(mem.propagate), "—"]);
  const rawEtcd = await rawEtcdPut(etcd.endpoint);
  const rawNats = await rawNatsPut(nats.url);
  const backends: [string, string, number[] | undefined][] = [
    ["etcd", "gateway kv/put", rawEtcd],
    ["nats", "kv.put (TCP)", rawNats],
    ["file", "—", undefined],
  ];
  for (const [name, rawLabel, raw] of backends) {
    const connect = discoveryConnectors()[name];
    const a = await connect((k) => env[k]);
    const b = await connect((k) => env[k]);
    try {
      console.error(`  ${name}…`);
      const m = await measure(a, b, name);
      rows.push([
        name,
        raw ? `${rawLabel} ${fmt(raw)}` : "—",
        fmt(m.register),
        fmt(m.propagate),
        raw ? `${(pct(m.register, 50) / pct(raw, 50)).toFixed(1)}×` : "—",
      ]);
    } finally {
      await a.close();
      await b.close();
    }
  }
} finally {
  await etcd.close();
  await nats.close();
  await removeDir(dir);
}
console.log(
  "| backend | raw write p50 / p99 ms (same server) | register p50 / p99 ms | register → watcher p50 / p99 ms | register ÷ raw (p50) |",
);
console.log("| --- | --- | --: | --: | --: |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
