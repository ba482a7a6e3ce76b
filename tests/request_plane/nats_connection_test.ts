/** Choosing the NATS server and transport: flag, then NATS_SERVER, then the default. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isSluiceError } from "../../mod.ts";
import { DEFAULT_NATS_SERVER, resolveNatsServer } from "../../src/wire/nats_connection.ts";

const env = (value?: string) => (name: string) => name === "NATS_SERVER" ? value : undefined;

describe("resolveNatsServer", () => {
  it("takes the flag over NATS_SERVER over the default", () => {
    assert.deepEqual(resolveNatsServer(env(), undefined), [DEFAULT_NATS_SERVER]);
    assert.deepEqual(resolveNatsServer(env("ws://h:8080")), ["ws://h:8080"]);
    assert.deepEqual(resolveNatsServer(env("ws://h:8080"), "nats://f:4222"), ["nats://f:4222"]);
  });

  it("splits a cluster list and refuses mixed or unknown schemes", () => {
    assert.deepEqual(resolveNatsServer(env("nats://a:1, tls://b:2")), ["nats://a:1", "tls://b:2"]);
    assert.deepEqual(resolveNatsServer(env("wss://a/x")), ["wss://a/x"]);
    for (const bad of ["nats://a:1,ws://b:2", "http://a:4222", "a:4222", " , "]) {
      assert.throws(
        () => resolveNatsServer(env(bad)),
        (e: unknown) => isSluiceError(e, "InvalidArgument") && e.param === "NATS_SERVER",
        bad,
      );
    }
  });
});
