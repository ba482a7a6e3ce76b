/**
 * Model resources are validated at start (issue 8, defect 4): a broken chat template or
 * tokenizer file fails `worker.start()` before the engine starts, with an error naming the
 * resource; `sluice worker` and `sluice serve` then exit 1 (a failed start) instead of
 * serving a model whose every request fails.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, createWorker, type WorkerOptions } from "../../src/entries/serve.ts";
import { InProcessRequestPlane, MemoryDiscovery } from "../../src/entries/planes.ts";
import { isSluiceError } from "../../mod.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";

class CountingEngine extends SampleEngine {
  starts = 0;
  cleanups = 0;
  override start(id: string) {
    this.starts++;
    return super.start(id);
  }
  override cleanup() {
    this.cleanups++;
    return super.cleanup();
  }
}

async function startWith(options: Partial<WorkerOptions>) {
  const engine = new CountingEngine({ delayMs: 0 });
  const discovery = new MemoryDiscovery();
  const plane = new InProcessRequestPlane();
  const worker = createWorker({
    engine,
    config: { model_name: "test-model" },
    discovery,
    requestPlane: plane,
    logger: createLogger({ level: "off" }),
    timings: { gracePeriodMs: 0 },
    healthCanary: false,
    readFile: async (path) => new Uint8Array(await readFile(path)),
    ...options,
  });
  try {
    await worker.start();
    return { engine, error: undefined, registered: (await discovery.list("v1/")).length };
  } catch (error) {
    return { engine, error, registered: (await discovery.list("v1/")).length };
  } finally {
    await worker.shutdown();
    await plane.close();
    await discovery.close();
  }
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("model resources are checked at start", () => {
  it("a template that does not compile fails start before the engine starts, naming the flag", async () => {
    const { engine, error, registered } = await startWith({
      config: { model_name: "test-model", custom_jinja_template: "{%" },
    });
    assert.ok(isSluiceError(error), String(error));
    assert.equal(error.kind, "EngineShutdown");
    assert.equal(error.param, "--custom-jinja-template");
    assert.match(error.message, /--custom-jinja-template is broken/);
    assert.equal(engine.starts, 0, "the engine never started");
    assert.equal(engine.cleanups, 1);
    assert.equal(registered, 0, "nothing registered in discovery");
  });

  it("a template that compiles but cannot render a conversation fails start", async () => {
    const { error } = await startWith({
      config: { model_name: "test-model", custom_jinja_template: "{{ raise_exception('no') }}" },
    });
    assert.ok(isSluiceError(error), String(error));
    assert.match(error.message, /--custom-jinja-template is broken: .*no/);
  });

  it("a valid custom template starts and registers", async () => {
    const { engine, error, registered } = await startWith({
      config: {
        model_name: "test-model",
        custom_jinja_template: "{% for m in messages %}{{ m.content }}{% endfor %}",
      },
    });
    assert.equal(error, undefined);
    assert.equal(engine.starts, 1);
    assert.ok(registered >= 2);
  });

  it("a tokenizer file that fails verification or parsing fails start, naming the file", async () => {
    const dir = await mkdtemp(join(tmpdir(), "sluice-resources-"));
    try {
      const path = join(dir, "tokenizer.json");
      const bytes = new TextEncoder().encode("{not json");
      await writeFile(path, bytes);
      const good = { path, sha256: await sha256(bytes), size: bytes.byteLength };
      for (
        const [file, pattern] of [
          [{ ...good, sha256: "0".repeat(64) }, /SHA-256/],
          [{ ...good, size: 3 }, /has 9 bytes, the card says 3/],
          [good, /JSON/],
          [{ ...good, path: join(dir, "missing.json") }, /missing\.json/],
        ] as const
      ) {
        const { engine, error } = await startWith({ modelCard: { files: { tokenizer: file } } });
        assert.ok(isSluiceError(error), String(error));
        assert.match(error.message, /Cannot start worker: model file tokenizer \(.*\) is broken/);
        assert.match(error.message, pattern);
        assert.equal(engine.starts, 0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const command of ["worker", "serve"]) {
    it(`sluice ${command} --custom-jinja-template '{%' exits 1 naming the flag`, async () => {
      const args = command === "serve" ? ["serve", "--port", "0", "--host", "127.0.0.1"] : [
        "worker",
        "--discovery-backend",
        "memory",
        "--request-plane",
        "inprocess",
        "--event-plane",
        "inprocess",
      ];
      await using child = spawnFixture(
        "apps/cli/main.ts",
        [...args, "--custom-jinja-template", "{%"],
        { DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0" },
      );
      assert.equal(await child.exited, 1, child.stdout() + child.stderr());
      assert.match(child.stderr(), /--custom-jinja-template is broken/);
      assert.doesNotMatch(child.stdout(), /listening on/);
    });
  }
});
