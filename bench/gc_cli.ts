/**
 * The `sluice` command line with a full garbage collection on SIGUSR2, for memory benchmarks
 * of child processes: `DENO_V8_FLAGS=--expose-gc deno run -A bench/gc_cli.ts frontend …`
 * (Bun has its own `gc`). After the collection it prints one JSON line on stdout,
 * `{"event":"memory","t":0,"seq":N,"rss":…,"heapUsed":…,"external":…}` (bytes, from
 * `process.memoryUsage()`), so a benchmark can tell what a process retains from garbage it has
 * not collected yet.
 */
import process from "node:process";
import { collectGarbage } from "./bench_util.ts";

let seq = 0;
process.on("SIGUSR2", () => {
  collectGarbage();
  // Twice: the first pass runs finalizers that free more on the second.
  setTimeout(() => {
    collectGarbage();
    const { rss, heapUsed, external } = process.memoryUsage();
    console.log(JSON.stringify({ event: "memory", t: 0, seq: ++seq, rss, heapUsed, external }));
  }, 50);
});

const { main } = await import("../apps/cli/main.ts");
const { currentRuntime } = await import("../src/runtime/runtime.ts");
const runtime = currentRuntime();
runtime.exit(await main(runtime.args(), runtime));
