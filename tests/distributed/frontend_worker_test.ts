/**
 * `sluice frontend` and `sluice worker` as separate processes over real servers
 * (nats-server for the request and event planes, etcd for discovery): a chat completion
 * through the frontend with the `openai` client, models following workers joining and
 * leaving, KV routing over the NATS event plane, a graceful frontend shutdown with a
 * stream in flight, and the exits when a plane is unreachable.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type AddressInfo, createServer, type Socket } from "node:net";
import OpenAI from "openai";
import { type Fixture, spawnFixture } from "../fixtures/spawn_fixture.ts";
import { type EtcdServer, startEtcd } from "../support/etcd_server.ts";
import { type NatsServer, startNatsServer } from "../support/nats_server.ts";
import { freePort } from "../support/loopback_process.ts";

const CLI = "apps/cli/main.ts";
let nats: NatsServer | undefined;
let etcd: EtcdServer | undefined;
let env: Record<string, string> = {};

before(async () => {
  // One after the other: if the second fails to start, `after` still stops the first.
  nats = await startNatsServer();
  etcd = await startEtcd();
  env = {
    NATS_SERVER: nats.url,
    ETCD_ENDPOINTS: etcd.endpoint,
    DYN_DISCOVERY_TTL_SECS: "3",
    DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0",
    DYN_LOG: "info",
  };
});
after(async () => {
  await nats?.stop();
  await etcd?.close();
});

async function startFrontend(args: string[] = [], extra: Record<string, string> = {}) {
  const child = spawnFixture(CLI, ["frontend", "--port", "0", "--host", "127.0.0.1", ...args], {
    ...env,
    ...extra,
  });
  const match = await child.waitForStdout(/sluice frontend: listening on (http:\/\/\S+) /, 30_000);
  return { child, url: match[1] };
}

async function startWorker(args: string[] = [], extra: Record<string, string> = {}) {
  const child = spawnFixture(CLI, ["worker", "--engine", "sample", ...args], { ...env, ...extra });
  await child.waitForStderr(/worker serving/, 30_000);
  return child;
}

function startMocker(args: string[]) {
  const child = spawnFixture(CLI, ["worker", ...args], env);
  return child.waitForStderr(/worker serving/, 30_000).then(() => child);
}

async function models(url: string): Promise<string[]> {
  const body = await (await fetch(`${url}/v1/models`)).json() as { data: { id: string }[] };
  return body.data.map((m) => m.id);
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000) {
  const deadline = performance.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stop(child: Fixture): Promise<number> {
  child.kill("SIGTERM");
  return await child.exited;
}

describe("sluice frontend + sluice worker over NATS and etcd", () => {
  it("serves a chat completion through the frontend; models follow the worker joining and leaving", async () => {
    const { child: frontend, url } = await startFrontend();
    await using _f = frontend;
    assert.match(
      frontend.stdout(),
      new RegExp(`discovery etcd ${etcd!.endpoint}, request plane nats ${nats!.url}`),
    );
    assert.deepEqual(await models(url), []);
    const worker = await startWorker(["--delay-ms", "0"]);
    await using _w = worker;
    assert.match(
      worker.stderr(),
      /worker planes: discovery etcd, request plane nats, event plane nats/,
    );
    await eventually(
      "the model to appear",
      async () => (await models(url)).includes("sample-model") || undefined,
    );

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: "unused" });
    const whole = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 5,
    });
    assert.equal(whole.choices[0].finish_reason, "length");
    assert.equal(whole.usage?.completion_tokens, 5);
    const stream = await client.chat.completions.create({
      model: "sample-model",
      messages: [{ role: "user", content: "Hi" }],
      max_tokens: 5,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let usage: number | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? "";
      if (chunk.usage) usage = chunk.usage.completion_tokens;
    }
    assert.equal(text, whole.choices[0].message.content);
    assert.equal(usage, 5);

    assert.equal(await stop(worker), 0, worker.stderr());
    await eventually(
      "the model to disappear",
      async () => (await models(url)).length === 0 || undefined,
    );
    const gone = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "sample-model", messages: [{ role: "user", content: "x" }] }),
    });
    assert.equal(gone.status, 404, await gone.text());

    // A worker that joins later is found at runtime.
    const again = await startWorker(["--delay-ms", "0"]);
    await using _a = again;
    await eventually(
      "the model to reappear",
      async () => (await models(url)).includes("sample-model") || undefined,
    );
    assert.equal(await stop(again), 0, again.stderr());
    assert.equal(await stop(frontend), 0, frontend.stderr());
    assert.match(frontend.stdout(), /sluice frontend: stopped \(exit code 0\)/);
    assert.equal(frontend.stdout().match(/listening on/g)?.length, 1);
  });

  it("routes by KV overlap over the NATS event plane (--router-mode kv, mocker workers)", async () => {
    const { child: frontend, url } = await startFrontend(["--router-mode", "kv"]);
    await using _f = frontend;
    const mocker = ["--engine", "mocker", "--speedup-ratio", "0", "--block-size", "16"];
    const workers = await Promise.all([0, 1, 2].map(() => startMocker(mocker)));
    try {
      await eventually("three workers", async () => {
        const health = await (await fetch(`${url}/health`)).json() as { instances: unknown[] };
        return health.instances.length === 3 || undefined;
      });
      const complete = async (prompt: number[]) => {
        const res = await fetch(`${url}/v1/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ model: "mocker-model", prompt, max_tokens: 3 }),
        });
        const body = await res.json();
        assert.equal(res.status, 200, JSON.stringify(body));
        return (body.usage.prompt_tokens_details?.cached_tokens ?? 0) as number;
      };
      // Each repeat of a prefix must land on the worker that cached it; ties are broken at
      // random, so without the KV events crossing NATS most repeats would miss.
      const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
      let cachedRepeats = 0;
      for (let p = 0; p < 4; p++) {
        const prefix = Array.from({ length: 64 }, (_, i) => 1000 * (p + 1) + i);
        await complete([...prefix, 1]);
        await settle();
        for (let r = 0; r < 3; r++) {
          if (await complete([...prefix, 2 + r]) >= 64) cachedRepeats++;
          await settle();
        }
      }
      assert.equal(cachedRepeats, 12, "every repeat went to the worker holding its prefix");
    } finally {
      for (const w of workers) assert.equal(await stop(w), 0, w.stderr());
    }
    assert.equal(await stop(frontend), 0, frontend.stderr());
  });

  it("--namespace routes only to that namespace's workers", async () => {
    const { child: frontend, url } = await startFrontend(["--namespace", "prod"]);
    await using _f = frontend;
    await using other = await startWorker(["--model-name", "other-model"]);
    await using prod = await startWorker(["--namespace", "prod", "--model-name", "prod-model"]);
    await eventually(
      "the prod model",
      async () => (await models(url)).includes("prod-model") || undefined,
    );
    // Both registered in the same etcd; the other namespace's model never shows.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(await models(url), ["prod-model"]);
    assert.equal(await stop(other), 0, other.stderr());
    assert.equal(await stop(prod), 0, prod.stderr());
    assert.equal(await stop(frontend), 0, frontend.stderr());
  });

  it("SIGTERM to the frontend lets a stream in flight finish, then exits 0", async () => {
    const { child: frontend, url } = await startFrontend();
    await using _f = frontend;
    await using worker = await startWorker(["--delay-ms", "40"]);
    await eventually(
      "the model",
      async () => (await models(url)).includes("sample-model") || undefined,
    );
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "sample-model", prompt: "x", max_tokens: 20, stream: true }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let body = (await reader.read()).value ?? "";
    frontend.kill("SIGTERM");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      body += value;
    }
    const tokens = body.split("\n").filter((l) => l.startsWith("data: {")).map((l) =>
      JSON.parse(l.slice(6)) as { choices: { text: string }[] }
    ).filter((c) => c.choices.length > 0 && c.choices[0].text !== "");
    assert.ok(body.trimEnd().endsWith("data: [DONE]"), body);
    assert.doesNotMatch(body, /"error"/);
    assert.ok(tokens.length >= 15, `only ${tokens.length} chunks:\n${body}`);
    assert.equal(await frontend.exited, 0, frontend.stderr());
    assert.equal(await stop(worker), 0, worker.stderr());
  });
});

describe("sluice frontend shutdown bounds", () => {
  async function streamingRequest(url: string) {
    const res = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "sample-model", prompt: "x", max_tokens: 200, stream: true }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const first = (await reader.read()).value ?? "";
    const rest = (async () => {
      let body = first;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return body;
        body += value;
      }
    })();
    return rest;
  }

  it("past DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT the stream is cut (error frame, [DONE]) and it exits 911", async () => {
    const { child: frontend, url } = await startFrontend([], {
      DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT: "0.5",
    });
    await using _f = frontend;
    await using worker = await startWorker(["--delay-ms", "50"]);
    await eventually(
      "the model",
      async () => (await models(url)).includes("sample-model") || undefined,
    );
    const body = streamingRequest(url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const t0 = performance.now();
    frontend.kill("SIGTERM");
    const text = await body;
    assert.match(text, /"error"/);
    assert.ok(text.trimEnd().endsWith("data: [DONE]"), text.slice(-200));
    assert.equal(await frontend.exited, 911 & 0xff, frontend.stderr());
    assert.match(frontend.stdout(), /sluice frontend: stopped \(exit code 911\)/);
    assert.ok(performance.now() - t0 < 5000, "the deadline bounded the shutdown");
    assert.equal(await stop(worker), 0, worker.stderr());
  });

  it("a second signal exits 130 at once", async () => {
    const { child: frontend, url } = await startFrontend();
    await using _f = frontend;
    await using worker = await startWorker(["--delay-ms", "50"]);
    await eventually(
      "the model",
      async () => (await models(url)).includes("sample-model") || undefined,
    );
    const body = streamingRequest(url).catch(() => "");
    await new Promise((resolve) => setTimeout(resolve, 100));
    frontend.kill("SIGTERM");
    await frontend.waitForStderr(/SIGTERM received/);
    frontend.kill("SIGINT");
    assert.equal(await frontend.exited, 130, frontend.stderr());
    await body;
    assert.equal(await stop(worker), 0, worker.stderr());
  });
});

describe("unreachable planes", () => {
  it("a worker with no etcd exits 1 promptly with CannotConnect naming the address", async () => {
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    const t0 = performance.now();
    await using worker = spawnFixture(CLI, ["worker", "--engine", "sample"], {
      ...env,
      ETCD_ENDPOINTS: endpoint,
    });
    assert.equal(await worker.exited, 1, worker.stderr());
    assert.ok(performance.now() - t0 < 15_000, "took too long");
    assert.match(worker.stderr(), new RegExp(`Cannot reach etcd at ${endpoint}`));
    assert.doesNotMatch(worker.stderr(), /worker serving/);
  });

  it("a worker with no NATS exits 1 promptly with CannotConnect naming the address", async () => {
    const server = `nats://127.0.0.1:${await freePort()}`;
    const t0 = performance.now();
    await using worker = spawnFixture(CLI, [
      "worker",
      "--engine",
      "sample",
      "--nats-server",
      server,
    ], env);
    assert.equal(await worker.exited, 1, worker.stderr());
    assert.ok(performance.now() - t0 < 15_000, "took too long");
    assert.match(worker.stderr(), new RegExp(`Cannot connect to NATS at ${server}`));
  });

  it("a worker whose etcd or NATS accepts connections but never answers exits 1 within seconds", async () => {
    // A listener that accepts and stays silent: a hung server, or a firewall that drops.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      for (
        const [extra, pattern] of [
          [{ ETCD_ENDPOINTS: `http://${address}` }, `Cannot reach etcd at http://${address}`],
          [{ NATS_SERVER: `nats://${address}` }, `Cannot connect to NATS at nats://${address}`],
        ] as const
      ) {
        const t0 = performance.now();
        await using worker = spawnFixture(CLI, ["worker", "--engine", "sample"], {
          ...env,
          ...extra,
        });
        assert.equal(await worker.exited, 1, worker.stderr());
        const seconds = (performance.now() - t0) / 1000;
        assert.ok(seconds < 12, `took ${seconds.toFixed(1)} s`);
        assert.match(worker.stderr(), new RegExp(pattern));
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("a frontend with no NATS or no etcd exits 1 naming the address, and never listens", async () => {
    const server = `nats://127.0.0.1:${await freePort()}`;
    await using noNats = spawnFixture(CLI, ["frontend", "--port", "0"], {
      ...env,
      NATS_SERVER: server,
    });
    assert.equal(await noNats.exited, 1, noNats.stderr());
    assert.match(
      noNats.stderr(),
      new RegExp(`sluice frontend: Cannot connect to NATS at ${server}`),
    );
    assert.doesNotMatch(noNats.stdout(), /listening on/);
    const endpoint = `http://127.0.0.1:${await freePort()}`;
    await using noEtcd = spawnFixture(CLI, ["frontend", "--port", "0"], {
      ...env,
      DYN_DISCOVERY_BACKEND: "etcd",
      ETCD_ENDPOINTS: endpoint,
    });
    assert.equal(await noEtcd.exited, 1, noEtcd.stderr());
    assert.match(noEtcd.stderr(), new RegExp(`Cannot reach etcd at ${endpoint}`));
  });
});
