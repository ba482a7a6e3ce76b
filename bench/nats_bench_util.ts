/**
 * Shared setup of the NATS benchmarks: a real nats-server (the test harness),
 * a worker with the sample engine (zero delay) serving on a NATS request plane
 * over its own connection, and a caller plane on a second connection.
 */
import { createLogger, createWorker, type Worker } from "../src/entries/serve.ts";
import { MemoryDiscovery, type TransportAddress } from "../src/entries/planes.ts";
import { SampleEngine } from "../engines/sample/mod.ts";
import { type NatsServer, startNatsServer } from "../tests/support/nats_server.ts";
import { connectNats } from "../src/wire/nats_connection.ts";
import { NatsTransport } from "../src/wire/nats_transport.ts";
import { WireRequestPlane } from "../src/request_plane/wire_request_plane.ts";
import type { NatsConnection } from "@nats-io/nats-core";

/** Everything a NATS benchmark needs; `close()` tears it down. */
export interface NatsBench {
  server: NatsServer;
  worker: Worker;
  /** The caller's plane (its own connection). */
  client: WireRequestPlane;
  /** The worker's endpoint. */
  address: TransportAddress;
  /** Two raw connections on the same URL, for the baselines. */
  rawA: NatsConnection;
  rawB: NatsConnection;
  close(): Promise<void>;
}

/** Starts nats-server, the worker and the caller, over `transport`. */
export async function startNatsBench(transport: "tcp" | "ws" = "tcp"): Promise<NatsBench> {
  const server = await startNatsServer();
  const url = transport === "tcp" ? server.url : server.wsUrl;
  const plane = async () =>
    new WireRequestPlane({
      kind: "nats",
      addressKey: "nats",
      transport: new NatsTransport(await connectNats([url])),
    });
  const workerPlane = await plane();
  const client = await plane();
  const discovery = new MemoryDiscovery();
  const worker = createWorker({
    engine: new SampleEngine({ delayMs: 0 }),
    config: { model_name: "sample-model" },
    discovery,
    requestPlane: workerPlane,
    logger: createLogger({ level: "off" }),
    timings: { gracePeriodMs: 0 },
    healthCanary: false,
  });
  await worker.start();
  const [entry] = await discovery.list<{ transport: TransportAddress }>("v1/instances");
  const rawA = await connectNats([url]);
  const rawB = await connectNats([url]);
  return {
    server,
    worker,
    client,
    address: entry.value.transport,
    rawA,
    rawB,
    async close() {
      await rawA.close();
      await rawB.close();
      await client.close();
      await worker.shutdown();
      await workerPlane.close();
      await discovery.close();
      await server.stop();
    },
  };
}

/** The `p`-th percentile (0–100) of `values`. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
