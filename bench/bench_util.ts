/**
 * Small helpers shared by the benchmarks (runtime label, JSON output).
 */
import { writeFile } from "node:fs/promises";
import process from "node:process";
import { createLogger, createWorker, type Worker } from "../src/entries/serve.ts";
import {
  InProcessRequestPlane,
  MemoryDiscovery,
  type TransportAddress,
} from "../src/entries/planes.ts";
import type { LLMEngine } from "../mod.ts";

/** "Deno 2.9.6" / "Bun 1.4.5" / "Node v20...". */
export function runtimeLabel(): string {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Deno) return `Deno ${g.Deno.version.deno}`;
  if (g.Bun) return `Bun ${g.Bun.version}`;
  return `Node ${process.version}`;
}

/** Writes `value` as pretty JSON. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2) + "\n");
}

/** Forces a full GC when the runtime exposes one (Bun, or V8 with --expose-gc). */
export function collectGarbage(): void {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (g.Bun?.gc) g.Bun.gc(true);
  else if (typeof g.gc === "function") g.gc();
}

/** A started worker over in-process planes, for benchmarks: no grace period, no canary. */
export interface BenchWorker {
  worker: Worker;
  plane: InProcessRequestPlane;
  /** Where the worker's endpoint is served. */
  address: TransportAddress;
  close(): Promise<void>;
}

/** Starts `engine` in a worker with its own in-process planes. */
export async function startBenchWorker(engine: LLMEngine): Promise<BenchWorker> {
  const plane = new InProcessRequestPlane();
  const discovery = new MemoryDiscovery();
  const worker = createWorker({
    engine,
    config: { model_name: "sample-model" },
    discovery,
    requestPlane: plane,
    logger: createLogger({ level: "off" }),
    timings: { gracePeriodMs: 0 },
    healthCanary: false,
  });
  await worker.start();
  const [entry] = await discovery.list<{ transport: TransportAddress }>("v1/instances");
  return {
    worker,
    plane,
    address: entry.value.transport,
    async close() {
      await worker.shutdown();
      await plane.close();
      await discovery.close();
    },
  };
}
