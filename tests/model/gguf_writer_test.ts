import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { GgmlType } from "../../src/model/gguf/gguf_format.ts";
import {
  decodeTensor,
  encodeTensor,
  f16BitsToF32,
  f32ToF16Bits,
  quantizeQ4_0,
  quantizeQ8_0,
} from "../../src/model/gguf/gguf_quant.ts";
import { GgufTruncatedError, parseGgufHeader } from "../../src/model/gguf/gguf_reader.ts";
import { encodeGguf, gguf } from "../../src/model/gguf/gguf_writer.ts";
import { fixtureGgufSpec, fixtureTensors, fixtureVocab } from "../fixtures/model/fixture_model.ts";

describe("GGUF writer and reader", () => {
  it("round-trips metadata of every value type and arrays", async () => {
    const bytes = await encodeGguf({
      metadata: [
        ["u8", gguf.u8(255)],
        ["i8", gguf.i8(-128)],
        ["u16", gguf.u16(65535)],
        ["i16", gguf.i16(-32768)],
        ["u32", gguf.u32(4294967295)],
        ["i32", gguf.i32(-2147483648)],
        ["f32", gguf.f32(0.5)],
        ["bool", gguf.bool(true)],
        ["string", gguf.string("héllo ▁ 😀")],
        ["u64", gguf.u64(2n ** 63n)],
        ["i64", gguf.i64(-5)],
        ["f64", gguf.f64(Math.PI)],
        ["arr.s", gguf.array("string", ["a", "", "▁b"])],
        ["arr.f", gguf.array("f32", [1.5, -2])],
        ["arr.i", gguf.array("i32", [])],
      ],
      tensors: [],
    });
    const header = parseGgufHeader(bytes);
    assert.equal(header.version, 3);
    assert.deepEqual(Object.fromEntries(header.metadata), {
      u8: 255,
      i8: -128,
      u16: 65535,
      i16: -32768,
      u32: 4294967295,
      i32: -2147483648,
      f32: 0.5,
      bool: true,
      string: "héllo ▁ 😀",
      u64: 2n ** 63n,
      i64: -5,
      f64: Math.PI,
      "arr.s": ["a", "", "▁b"],
      "arr.f": [1.5, -2],
      "arr.i": [],
    });
  });

  it("aligns tensor data and round-trips F32, F16, Q8_0 and Q4_0 tensors", async () => {
    const values = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 3);
    const types = [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0] as const;
    const bytes = await encodeGguf({
      metadata: [["general.alignment", gguf.u32(64)]],
      tensors: types.map((type, i) => ({
        name: `t${i}`,
        shape: [2, 32],
        type,
        data: () => encodeTensor(type, values),
      })),
    });
    const header = parseGgufHeader(bytes);
    assert.equal(header.alignment, 64);
    assert.equal(header.dataOffset % 64, 0);
    const tolerance = [0, 0.002, 0.02, 0.25];
    header.tensors.forEach((t, i) => {
      assert.equal(t.offset % 64, 0);
      assert.deepEqual(t.shape, [2, 32]);
      assert.deepEqual(t.ne, [32, 2]);
      assert.equal(t.type, types[i]);
      const back = decodeTensor(t.type, bytes.subarray(t.offset, t.offset + t.byteLength), 64);
      for (let j = 0; j < 64; j++) {
        assert.ok(Math.abs(back[j] - values[j]) <= tolerance[i] * 3, `${t.name}[${j}]`);
      }
    });
    assert.equal(bytes.length, header.tensors[3].offset + header.tensors[3].byteLength + 28); // 36 bytes, padded to 64
  });

  it("quantizes with ggml's block layouts and rounding", () => {
    const x = new Float32Array(32);
    x[0] = 127;
    x[1] = -63.5; // exactly half: roundf goes away from zero → -64 (Math.round would give -63)
    x[2] = 0.5;
    const q8 = quantizeQ8_0(x);
    assert.equal(q8.length, 34);
    assert.equal(f16BitsToF32(q8[0] | (q8[1] << 8)), 1);
    assert.deepEqual([...new Int8Array(q8.buffer, 2, 3)], [127, -64, 1]);
    const y = new Float32Array(32);
    y[0] = -8; // the largest magnitude, negative: d = -8 / -8 = 1
    y[16] = 7;
    y[5] = 3.4;
    const q4 = quantizeQ4_0(y);
    assert.equal(q4.length, 18);
    assert.equal(f16BitsToF32(q4[0] | (q4[1] << 8)), 1);
    // element 0 → low nibble of byte 0 (−8 + 8 = 0); element 16 → its high nibble (15).
    assert.equal(q4[2], 0 | (15 << 4));
    assert.equal(q4[2 + 5] & 0xf, 11); // trunc(3.4 + 8.5) = 11
    assert.equal(f32ToF16Bits(65520), 0x7c00); // rounds to infinity like IEEE
    assert.throws(() => quantizeQ8_0(new Float32Array(31)), RangeError);
  });

  it("rejects files that are not GGUF, truncated, or inconsistent", async () => {
    const good = await encodeGguf({
      metadata: [["general.name", gguf.string("x")]],
      tensors: [{ name: "w", shape: [32], type: GgmlType.Q8_0, data: new Uint8Array(34) }],
    });
    assert.throws(() => parseGgufHeader(new TextEncoder().encode("PK\x03\x04 not gguf")), {
      name: "TypeError",
      message: /Not a GGUF file/,
    });
    const cut = good.subarray(0, 30);
    assert.throws(() => parseGgufHeader(cut), (e) => e instanceof GgufTruncatedError);
    const badVersion = good.slice();
    badVersion[4] = 9;
    assert.throws(() => parseGgufHeader(badVersion), /Unsupported GGUF version 9/);
    await assert.rejects(
      encodeGguf({
        metadata: [],
        tensors: [{ name: "w", shape: [30], type: GgmlType.Q8_0, data: new Uint8Array(34) }],
      }),
      /multiple of 32/,
    );
    await assert.rejects(
      encodeGguf({
        metadata: [],
        tensors: [{ name: "w", shape: [32], type: GgmlType.F32, data: new Uint8Array(3) }],
      }),
      /Cannot write tensor w: 3 bytes, its shape needs 128/,
    );
  });
});

describe("fixture models", () => {
  it("write deterministic llama and qwen2 files whose tensors read back", async () => {
    for (
      const options of [{ dtype: "q8_0", vocab: "llama" }, {
        dtype: "f16",
        vocab: "gpt2",
        arch: "qwen2",
      }] as const
    ) {
      const a = await encodeGguf(fixtureGgufSpec(options));
      const b = await encodeGguf(fixtureGgufSpec(options));
      assert.deepEqual(a, b);
      const header = parseGgufHeader(a);
      const arch = options.arch ?? "llama";
      assert.equal(header.metadata.get("general.architecture"), arch);
      assert.equal(header.metadata.get(`${arch}.block_count`), 2);
      const tensors = fixtureTensors(options);
      assert.equal(header.tensors.length, tensors.length);
      assert.equal(
        header.tensors.some((t) => t.name === "blk.0.attn_q.bias"),
        arch === "qwen2",
      );
      for (const [i, info] of header.tensors.entries()) {
        assert.equal(info.name, tensors[i].name);
        const want = tensors[i].values();
        const got = decodeTensor(info.type, a.subarray(info.offset), want.length);
        const max = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        for (let j = 0; j < want.length; j += 7) {
          assert.ok(Math.abs(got[j] - want[j]) <= max / 100, `${info.name}[${j}]`);
        }
      }
      const vocab = fixtureVocab(options);
      assert.ok(vocab.tokens.length > 300 && vocab.tokens.length < 5000);
      assert.deepEqual(header.metadata.get("tokenizer.ggml.tokens"), vocab.tokens);
    }
  });

  it("give every seed its own weights", () => {
    const a = fixtureTensors({ seed: 1 })[1].values();
    const b = fixtureTensors({ seed: 2 })[1].values();
    assert.notDeepEqual(a, b);
  });
});
