import { test } from "node:test";
import assert from "node:assert/strict";
import { createEmbeddedStack } from "../../src/serve/embedded_stack.ts";
import { MockerEngine } from "../../engines/mocker/mod.ts";
import type { KvRoutingPolicy } from "../../src/router/kv_policy.ts";
import { createLogger } from "../../src/logging/logger.ts";

async function complete(
  fetch: (r: Request) => Response | Promise<Response>,
  prompt: number[],
): Promise<{ cached: number; tokens: number }> {
  const res = await fetch(
    new Request("http://local/v1/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "mocker-model", prompt, max_tokens: 3 }),
    }),
  );
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return {
    cached: body.usage.prompt_tokens_details?.cached_tokens ?? 0,
    tokens: body.usage.completion_tokens,
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

for (const mode of ["kv", "round-robin"] as const) {
  test(`sluice serve --engine mocker --workers 4 --router-mode ${mode}: repeated prefixes`, async () => {
    const stack = await createEmbeddedStack({
      engine: MockerEngine,
      engineArgs: ["--speedup-ratio", "0", "--block-size", "16"],
      workers: 4,
      routerMode: mode,
      healthCanary: false,
      logger: createLogger({ level: "error" }),
    });
    try {
      const prefixes = [0, 1, 2, 3].map((p) =>
        Array.from({ length: 64 }, (_, i) => 1000 * (p + 1) + i)
      );
      let cachedRepeats = 0;
      for (const prefix of prefixes) {
        await complete(stack.frontend.fetch, [...prefix, 1]);
        await settle(); // KV events reach the router's index
        for (let r = 0; r < 3; r++) {
          const { cached } = await complete(stack.frontend.fetch, [...prefix, 2 + r]);
          if (cached >= 64) cachedRepeats++;
          await settle();
        }
      }
      if (mode === "kv") {
        assert.equal(cachedRepeats, 12, "every repeat went to the worker holding its prefix");
        const policy = stack.frontend.router.policy as KvRoutingPolicy;
        assert.equal(policy.name, "kv");
        assert.equal(policy.lastDecision?.overlapBlocks, 4);
        for (const w of stack.workers) {
          assert.equal(policy.activeBlocks(w.instanceId), 0, "released");
        }
      } else {
        // Round-robin sends each repeat to the next worker: the prefix is never there.
        assert.ok(cachedRepeats < 12, `round-robin hit ${cachedRepeats} of 12`);
      }
    } finally {
      assert.equal(await stack.shutdown(), 0);
    }
  });
}

test("--router-mode kv without an event plane is refused naming the flag", async () => {
  const { createFrontend } = await import("../../src/frontend/frontend_app.ts");
  const { MemoryDiscovery } = await import("../../src/discovery/memory_discovery.ts");
  const { InProcessRequestPlane } = await import(
    "../../src/request_plane/in_process_request_plane.ts"
  );
  const discovery = new MemoryDiscovery();
  const plane = new InProcessRequestPlane();
  await assert.rejects(
    createFrontend({ discovery, requestPlane: plane, routerMode: "kv" }),
    /router-mode kv needs an event plane/,
  );
  await plane.close();
  await discovery.close();
});
