import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  InProcessEventBus,
  InProcessEventPlane,
  subjectMatches,
} from "../../src/entries/planes.ts";
import { eventPlaneConformance } from "./event_plane_conformance.ts";

eventPlaneConformance("in-process", () => {
  const bus = new InProcessEventBus();
  const publisher = new InProcessEventPlane({ bus });
  const subscriber = new InProcessEventPlane({ bus });
  return Promise.resolve({
    publisher,
    subscriber,
    settle: () => Promise.resolve(),
    close: async () => {
      await publisher.close();
      await subscriber.close();
    },
  });
});

describe("subjectMatches", () => {
  it("follows NATS wildcard rules", () => {
    assert.equal(subjectMatches("a.b.c", "a.b.c"), true);
    assert.equal(subjectMatches("a.*.c", "a.b.c"), true);
    assert.equal(subjectMatches("a.*", "a.b.c"), false);
    assert.equal(subjectMatches("a.>", "a.b.c"), true);
    assert.equal(subjectMatches("a.>", "a"), false);
    assert.equal(subjectMatches("a.b", "a.b.c"), false);
    assert.equal(subjectMatches("a.b.c", "a.b"), false);
  });
});
