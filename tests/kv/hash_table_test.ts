import { test } from "node:test";
import assert from "node:assert/strict";
import { HashTable, parseHash } from "../../src/kv/hash_table.ts";
import { below, rng } from "./_random.ts";

test("hash table: random inserts and deletes agree with a Map (backward-shift deletion)", () => {
  const random = rng(99);
  const table = new HashTable(4);
  const model = new Map<string, number>();
  // Few distinct high words and clustered low words: long probe runs, wrap-around.
  const key = () => [below(random, 3), below(random, 300)] as const;
  for (let step = 0; step < 50000; step++) {
    const [hi, lo] = key();
    const name = `${hi}:${lo}`;
    if (random() < 0.55) {
      if (!model.has(name)) {
        table.set(hi, lo, step);
        model.set(name, step);
      }
    } else {
      assert.equal(table.delete(hi, lo), model.get(name) ?? -1);
      model.delete(name);
    }
    if (step % 1000 === 0) {
      for (let h = 0; h < 3; h++) {
        for (let l = 0; l < 300; l++) assert.equal(table.get(h, l), model.get(`${h}:${l}`) ?? -1);
      }
    }
    assert.equal(table.size, model.size);
  }
});

test("hash table: slot tags follow their keys through backward shifts and resizes", () => {
  const random = rng(7);
  const table = new HashTable(4);
  const model = new Map<string, number>(); // key → tag
  const key = () => [below(random, 2), below(random, 2000)] as const;
  for (let step = 0; step < 30000; step++) {
    const [hi, lo] = key();
    const name = `${hi}:${lo}`;
    const found = table.find(hi, lo);
    assert.equal(found >= 0, model.has(name));
    if (random() < 0.6) {
      const tag = (step * 2654435761) >>> 0;
      if (found < 0) {
        const i = table.insert(hi, lo, step, tag, found);
        assert.equal(table.find(hi, lo), i);
      } else {
        table.slots[(found << 2) + 3] = tag;
      }
      model.set(name, tag);
    } else if (found >= 0) {
      table.deleteAt(found);
      model.delete(name);
    }
    if (step % 1000 === 0) {
      for (const [k, tag] of model) {
        const [h, l] = k.split(":").map(Number);
        assert.equal(table.slots[(table.find(h, l) << 2) + 3] >>> 0, tag);
      }
    }
  }
});

test("parseHash splits a 16-hex-digit hash into u32 halves", () => {
  assert.deepEqual(parseHash("ffffffff00000001"), [0xffffffff, 1]);
  assert.deepEqual(parseHash("2d06800538d394c2"), [0x2d068005, 0x38d394c2]);
  assert.deepEqual(parseHash("ABCDEF0123456789"), [0xabcdef01, 0x23456789]);
});
