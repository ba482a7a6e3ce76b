/**
 * Request migration in the router: a stream that breaks off with `Disconnected` is resent to
 * another worker with the generated tokens appended and `max_tokens` reduced; the caller sees
 * one continuous stream with usage counted against the original prompt. Uses memory discovery
 * and a scripted request plane whose workers each run a script of chunks and failures.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { discoveryKey, DiscoveryPrefix } from "../../src/discovery/discovery.ts";
import { MemoryDiscovery } from "../../src/discovery/memory_discovery.ts";
import type { GenerateChunk } from "../../src/engine/generate_chunk.ts";
import type { GenerateRequestInput } from "../../src/engine/generate_request.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import type { InstanceRecord, ModelCardInput } from "../../src/model_card/model_card.ts";
import type {
  RequestPlane,
  ResponseStream,
  TransportAddress,
} from "../../src/request_plane/request_plane.ts";
import { RoutingTable, WorkerRouter } from "../../src/router/mod.ts";
import { continuationOf } from "../../src/router/migrating_stream.ts";

const path = { namespace: "dynamo", component: "backend", endpoint: "generate" };
const MODEL = "m";

async function register(discovery: MemoryDiscovery, address: string, migrationLimit: number) {
  const id = String(address.charCodeAt(0)); // instance ids are 64-bit integers
  const card: ModelCardInput = {
    served_model_name: MODEL,
    model_name: MODEL,
    model_type: ["chat", "completions"],
    model_input: "Tokens",
    instance_id: id,
    migration_limit: migrationLimit,
  };
  const record: InstanceRecord = { ...path, instance_id: id, transport: { inprocess: address } };
  await discovery.register(discoveryKey(DiscoveryPrefix.modelCards, path, id), card);
  await discovery.register(discoveryKey(DiscoveryPrefix.instances, path, id), record);
}

/**
 * Every worker continues the sequence: its next token is the last prompt token + 1. Workers in
 * `dying` break off (Disconnected) after that many tokens; those in `failing` break with `error`.
 */
class SequencePlane implements RequestPlane {
  readonly kind = "scripted";
  readonly calls: { target: string; payload: GenerateRequestInput }[] = [];
  dying = new Map<string, number>();
  error = new SluiceError("Disconnected", "worker went away");
  stopped: string[] = [];

  serve(): never {
    throw new Error("not used");
  }

  call(address: TransportAddress, payload: unknown): Promise<ResponseStream> {
    const target = (address as { inprocess: string }).inprocess;
    const request = payload as GenerateRequestInput;
    this.calls.push({ target, payload: request });
    const max = request.stop_conditions?.max_tokens ?? 4;
    const dieAfter = this.dying.get(target);
    const error = this.error;
    const prompt = request.token_ids.length;
    async function* run(): AsyncGenerator<GenerateChunk> {
      let last = request.token_ids.at(-1)!;
      for (let i = 0; i < max; i++) {
        if (dieAfter !== undefined && i === dieAfter) throw error;
        yield { token_ids: [++last], index: 0 };
      }
      if (dieAfter !== undefined && dieAfter >= max) throw error;
      yield {
        token_ids: [],
        index: 0,
        finish_reason: "length",
        completion_usage: {
          prompt_tokens: prompt,
          completion_tokens: max,
          total_tokens: prompt + max,
        },
      };
    }
    const readable = ReadableStream.from(run());
    return Promise.resolve({
      id: "r1",
      readable,
      stop: () => this.stopped.push(target),
      kill: () => this.stopped.push(target),
      [Symbol.asyncIterator]: () => readable[Symbol.asyncIterator](),
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function setup(migrationLimit: number, workers = ["a", "b", "c"]) {
  const discovery = new MemoryDiscovery();
  for (const id of workers) await register(discovery, id, migrationLimit);
  const table = await RoutingTable.open(discovery);
  const plane = new SequencePlane();
  const migrated: string[] = [];
  let clock = 0;
  const router = new WorkerRouter({
    table,
    requestPlane: plane,
    policy: "round-robin",
    now: () => clock,
    onMigrate: (_model, from) => migrated.push(String.fromCharCode(Number(from))),
  });
  return {
    table,
    plane,
    router,
    migrated,
    advance: (ms: number) => clock += ms,
    [Symbol.asyncDispose]: async () => {
      await table.close();
      await discovery.close();
    },
  };
}

async function collect(stream: AsyncIterable<GenerateChunk>) {
  const tokens: number[] = [];
  let terminal: GenerateChunk | undefined;
  for await (const chunk of stream) {
    tokens.push(...chunk.token_ids);
    if (chunk.finish_reason !== undefined) terminal = chunk;
  }
  return { tokens, terminal };
}

const request = (max?: number): GenerateRequestInput => ({
  model: MODEL,
  token_ids: [100, 101, 102],
  ...(max === undefined ? {} : { stop_conditions: { max_tokens: max } }),
});

describe("request migration", () => {
  it("continues a broken stream on another worker without duplicated or missing tokens", async () => {
    await using s = await setup(2);
    s.plane.dying.set("a", 2);
    const routed = await s.router.route(MODEL, request(6));
    const { tokens, terminal } = await collect(routed.stream);
    routed.release();
    assert.deepEqual(tokens, [103, 104, 105, 106, 107, 108]);
    assert.equal(terminal?.finish_reason, "length");
    assert.deepEqual(terminal?.completion_usage, {
      prompt_tokens: 3,
      completion_tokens: 6,
      total_tokens: 9,
    });
    assert.deepEqual(s.migrated, ["a"]);
    const second = s.plane.calls[1];
    assert.notEqual(second.target, "a");
    assert.deepEqual(second.payload.token_ids, [100, 101, 102, 103, 104]);
    assert.equal(second.payload.stop_conditions?.max_tokens, 4);
  });

  it("puts the broken worker in cool-down and leaves it out of the retry", async () => {
    await using s = await setup(3);
    s.plane.dying.set("a", 1);
    s.plane.dying.set("b", 1);
    const routed = await s.router.route(MODEL, request(4));
    const { tokens } = await collect(routed.stream);
    routed.release();
    assert.deepEqual(tokens, [103, 104, 105, 106]);
    const targets = s.plane.calls.map((c) => c.target);
    assert.equal(new Set(targets).size, targets.length, "no worker is tried twice");
    assert.equal(targets.at(-1), "c");
    // The workers that broke are cooling down: the next requests avoid them until it ends.
    const broken = new Set(targets.slice(0, -1));
    s.plane.dying.clear();
    for (let i = 0; i < 4; i++) {
      const next = await s.router.route(MODEL, request(1));
      await collect(next.stream);
      next.release();
      assert.ok(!broken.has(s.plane.calls.at(-1)!.target));
    }
    s.advance(6000);
    const seen = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const next = await s.router.route(MODEL, request(1));
      await collect(next.stream);
      next.release();
      seen.add(s.plane.calls.at(-1)!.target);
    }
    assert.equal(seen.size, 3, "after the cool-down every worker is routed to again");
  });

  it("fails with Disconnected when the migration limit is used up", async () => {
    await using s = await setup(1);
    for (const w of ["a", "b", "c"]) s.plane.dying.set(w, 1);
    const routed = await s.router.route(MODEL, request(4));
    await assert.rejects(collect(routed.stream), (e: SluiceError) => e.kind === "Disconnected");
    routed.release();
    assert.equal(s.plane.calls.length, 2);
  });

  it("does not migrate when the model's limit is 0", async () => {
    await using s = await setup(0);
    s.plane.dying.set("a", 1);
    const routed = await s.router.route(MODEL, request(4));
    await assert.rejects(collect(routed.stream), (e: SluiceError) => e.kind === "Disconnected");
    routed.release(new SluiceError("Disconnected", "x"));
    assert.equal(s.plane.calls.length, 1);
    assert.deepEqual(s.migrated, []);
  });

  it("does not migrate errors other than Disconnected", async () => {
    await using s = await setup(2);
    s.plane.dying.set("a", 1);
    s.plane.error = new SluiceError("InvalidArgument", "engine refused the token");
    const routed = await s.router.route(MODEL, request(4));
    await assert.rejects(collect(routed.stream), (e: SluiceError) => e.kind === "InvalidArgument");
    routed.release();
    assert.equal(s.plane.calls.length, 1);
  });

  it("does not migrate guided-decoding or multi-choice requests", async () => {
    await using s = await setup(2);
    s.plane.dying.set("a", 1);
    const guided = {
      ...request(4),
      sampling_options: { guided_decoding: { choice: ["x", "y"] } },
    } as GenerateRequestInput;
    const routed = await s.router.route(MODEL, guided);
    await assert.rejects(collect(routed.stream), (e: SluiceError) => e.kind === "Disconnected");
    routed.release();
    assert.equal(s.plane.calls.length, 1);
  });

  it("ends with length when only the terminal chunk was lost", async () => {
    await using s = await setup(2);
    s.plane.dying.set("a", 3);
    const routed = await s.router.route(MODEL, request(3));
    const { tokens, terminal } = await collect(routed.stream);
    routed.release();
    assert.deepEqual(tokens, [103, 104, 105]);
    assert.equal(terminal?.finish_reason, "length");
    assert.equal(terminal?.completion_usage?.completion_tokens, 3);
    assert.equal(s.plane.calls.length, 1);
  });

  it("continuationOf keeps max_tokens unset when the request set none", () => {
    const next = continuationOf({ model: MODEL, token_ids: [1] }, [2, 3]);
    assert.deepEqual(next.token_ids, [1, 2, 3]);
    assert.equal(next.stop_conditions?.max_tokens, undefined);
  });
});
