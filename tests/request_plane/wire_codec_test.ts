/** The wire format's codec and schemas: what another process may send us. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isSluiceError, SluiceError } from "../../mod.ts";
import { decodeControl, decodeReply, decodeRequest, jsonCodec } from "../../src/wire/wire_codec.ts";

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe("wire codec", () => {
  it("round-trips a request envelope, keeping 64-bit ids and headers as strings", () => {
    const envelope = {
      t: "req",
      v: 1,
      id: "18446744073709551615",
      payload: { token_ids: [1, 2], nested: { a: null } },
      headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      deadline: 1_800_000_000_000,
      reply: "_INBOX.x.r1",
      credits: 512,
      hb: 1000,
    };
    assert.deepEqual(decodeRequest(jsonCodec, jsonCodec.encode(envelope)), envelope);
  });

  it("rejects malformed bytes and envelopes with a typed InvalidArgument naming the field", () => {
    assert.throws(
      () => decodeRequest(jsonCodec, new TextEncoder().encode("{nope")),
      (e: unknown) => isSluiceError(e, "InvalidArgument"),
    );
    assert.throws(
      () =>
        decodeRequest(
          jsonCodec,
          encode({
            t: "req",
            v: 1,
            id: "a",
            payload: {},
            headers: {},
            reply: "r",
            credits: 0,
            hb: 1000,
          }),
        ),
      (e: unknown) => isSluiceError(e, "InvalidArgument") && e.param === "credits",
    );
    assert.throws(
      () =>
        decodeRequest(
          jsonCodec,
          encode({
            t: "req",
            v: 2,
            id: "a",
            payload: {},
            headers: {},
            reply: "r",
            credits: 1,
            hb: 1000,
          }),
        ),
      (e: unknown) => isSluiceError(e, "InvalidArgument") && e.param === "v",
    );
    assert.throws(
      () => decodeControl(jsonCodec, encode({ t: "explode" })),
      (e: unknown) => isSluiceError(e, "InvalidArgument"),
    );
  });

  it("typed errors keep kind, code and param; an unknown kind reads as Unknown", () => {
    const error = new SluiceError("ResponseTimeout", "Cannot complete: deadline", {
      code: "deadline",
      param: "x",
    });
    const reply = decodeReply(jsonCodec, jsonCodec.encode({ t: "error", seq: 3, error }));
    assert.equal(reply.t, "error");
    if (reply.t !== "error") return;
    const back = SluiceError.fromJSON(reply.error);
    assert.equal(back.kind, "ResponseTimeout");
    assert.equal(back.code, "deadline");
    assert.equal(back.param, "x");
    const odd = decodeReply(
      jsonCodec,
      encode({ t: "reject", id: "1", error: { kind: "Martian", message: "m" } }),
    );
    assert.equal(odd.t === "reject" && odd.error.kind, "Unknown");
  });

  it("chunks keep fields the runtime does not read; bad token ids are refused", () => {
    const chunk = {
      token_ids: [5],
      index: 0,
      finish_reason: { error: "x" },
      engine_data: { any: [1] },
    };
    const reply = decodeReply(jsonCodec, encode({ t: "chunk", seq: 1, chunks: [chunk] }));
    assert.deepEqual(reply.t === "chunk" && reply.chunks[0], chunk);
    assert.throws(
      () =>
        decodeReply(
          jsonCodec,
          encode({ t: "chunk", seq: 1, chunks: [{ token_ids: ["a"], index: 0 }] }),
        ),
      (e: unknown) => isSluiceError(e, "InvalidArgument"),
    );
    assert.throws(
      () =>
        decodeReply(
          jsonCodec,
          encode({ t: "chunk", seq: 0, chunks: [{ token_ids: [], index: 0 }] }),
        ),
      (e: unknown) => isSluiceError(e, "InvalidArgument"),
    );
  });

  it("refuses to encode what JSON cannot carry", () => {
    assert.throws(
      () => jsonCodec.encode({ big: 1n }),
      (e: unknown) => isSluiceError(e, "InvalidArgument"),
    );
    assert.throws(
      () => jsonCodec.encode(undefined),
      (e: unknown) => isSluiceError(e, "InvalidArgument"),
    );
  });
});
