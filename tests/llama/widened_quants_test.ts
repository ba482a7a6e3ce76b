/**
 * GGML Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K decoding against blocks packed here from known
 * integer codes and scales (the packing written from ggml's block layouts, the expected value
 * of element i written per element: scale of its sub-block × its code, minus its min).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decodeWidenedQuant } from "../../src/model/gguf/gguf_widened_quants.ts";
import { ggufWeight } from "../../src/model/gguf/gguf_model_file.ts";
import { dequantizeWeight } from "../../src/gpu/kernels/host_weight.ts";
import { f32ToF16Bits } from "../../src/gpu/kernels/quant.ts";

function stream(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}
const D = 0.0625, DMIN = 0.03125, M = -0.5; // exact in f16
const half = (view: DataView, at: number, v: number) => view.setUint16(at, f32ToF16Bits(v), true);

function packQ4K(five: boolean, sc: number[], mn: number[], q: number[]): Uint8Array {
  const bytes = new Uint8Array(five ? 176 : 144), view = new DataView(bytes.buffer);
  half(view, 0, D);
  half(view, 2, DMIN);
  const s = bytes.subarray(4, 16);
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      s[j] |= sc[j];
      s[j + 4] |= mn[j];
    } else {
      s[j + 4] = (sc[j] & 0xf) | ((mn[j] & 0xf) << 4);
      s[j - 4] |= (sc[j] >> 4) << 6;
      s[j] |= (mn[j] >> 4) << 6;
    }
  }
  const qs = bytes.subarray(five ? 48 : 16), qh = bytes.subarray(16, 48);
  for (let g = 0; g < 4; g++) {
    for (let l = 0; l < 32; l++) {
      const a = q[64 * g + l], b = q[64 * g + 32 + l];
      qs[32 * g + l] = (a & 0xf) | ((b & 0xf) << 4);
      if (five) qh[l] |= ((a >> 4) << (2 * g)) | ((b >> 4) << (2 * g + 1));
    }
  }
  return bytes;
}

function packQ6K(sc: number[], q: number[]): Uint8Array {
  const bytes = new Uint8Array(210), view = new DataView(bytes.buffer);
  for (let h = 0; h < 2; h++) {
    for (let l = 0; l < 32; l++) {
      const [a, b, c, d] = [0, 32, 64, 96].map((o) => q[128 * h + o + l]);
      bytes[64 * h + l] = (a & 0xf) | ((c & 0xf) << 4);
      bytes[64 * h + l + 32] = (b & 0xf) | ((d & 0xf) << 4);
      bytes[128 + 32 * h + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((d >> 4) << 6);
    }
  }
  sc.forEach((v, i) => view.setInt8(192 + i, v));
  half(view, 208, D);
  return bytes;
}

function packSmall(type: 3 | 6 | 7, q: number[]): Uint8Array {
  const size = { 3: 20, 6: 22, 7: 24 }[type], bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  half(view, 0, D);
  if (type !== 6) half(view, 2, M);
  let qh = 0;
  const qs = size - 16;
  for (let j = 0; j < 16; j++) {
    bytes[qs + j] = (q[j] & 0xf) | ((q[j + 16] & 0xf) << 4);
    qh |= ((q[j] >> 4) << j) | ((q[j + 16] >> 4) << (j + 16));
  }
  if (type === 6) view.setUint32(2, qh >>> 0, true);
  if (type === 7) view.setUint32(4, qh >>> 0, true);
  return bytes;
}

describe("widened GGML quantisations", () => {
  it("Q4_K and Q5_K: d·scale·q − dmin·min per 32-value sub-block", () => {
    for (const five of [false, true]) {
      const r = stream(five ? 5 : 4);
      const sc = Array.from({ length: 8 }, () => r(64)),
        mn = Array.from({ length: 8 }, () => r(64));
      const q = Array.from({ length: 256 }, () => r(five ? 32 : 16));
      const got = decodeWidenedQuant(five ? 13 : 12, packQ4K(five, sc, mn, q), 256);
      const want = q.map((v, i) => D * sc[i >> 5] * v - DMIN * mn[i >> 5]);
      assert.deepEqual([...got], want.map(Math.fround));
    }
  });

  it("Q6_K: d·scale·(q − 32) per 16-value sub-block, signed scales", () => {
    const r = stream(6);
    const sc = Array.from({ length: 16 }, () => r(256) - 128),
      q = Array.from({ length: 256 }, () => r(64));
    const got = decodeWidenedQuant(14, packQ6K(sc, q), 256);
    assert.deepEqual([...got], q.map((v, i) => Math.fround(D * sc[i >> 4] * (v - 32))));
  });

  it("Q4_1, Q5_0, Q5_1: q·d + m, (q − 16)·d, q·d + m", () => {
    const cases = [[3, 16, (v: number) => v * D + M], [6, 32, (v: number) => (v - 16) * D], [
      7,
      32,
      (v: number) => v * D + M,
    ]] as const;
    for (const [type, range, value] of cases) {
      const r = stream(type);
      const q = Array.from({ length: 32 }, () => r(range));
      const got = decodeWidenedQuant(type, packSmall(type, q), 32);
      assert.deepEqual([...got], q.map((v) => Math.fround(value(v))), `type ${type}`);
    }
  });

  it("a Q6_K GGUF matrix loads as F16 of the decoded values; short data is refused", () => {
    const r = stream(9);
    const blocks = [0, 1].map(() =>
      packQ6K(
        Array.from({ length: 16 }, () => r(64) - 32),
        Array.from({ length: 256 }, () => r(64)),
      )
    );
    const bytes = new Uint8Array(420);
    bytes.set(blocks[0]);
    bytes.set(blocks[1], 210);
    const w = ggufWeight({ name: "w", dims: [256, 2], type: 14, typeName: "Q6_K", bytes });
    assert.equal(w.dtype, "f16");
    assert.deepEqual(w.shape, [2, 256]);
    const decoded = decodeWidenedQuant(14, bytes, 512);
    const back = dequantizeWeight(w);
    decoded.forEach((v, i) => assert.ok(Math.abs(back[i] - v) <= Math.abs(v) * 2 ** -11 + 1e-7));
    assert.throws(() => decodeWidenedQuant(14, bytes.subarray(0, 300), 512), /from 300 bytes/);
    assert.throws(
      () => ggufWeight({ name: "x", dims: [128, 2], type: 12, typeName: "Q4_K", bytes }),
      /not whole 256-value Q4_K blocks/,
    );
  });
});
