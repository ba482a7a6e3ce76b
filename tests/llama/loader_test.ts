import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadLlamaModel } from "../../src/model/model_loader.ts";
import { ModelFileError } from "../../src/model/model_file_error.ts";
import {
  readSafetensors,
  safetensorsWeight,
} from "../../src/model/safetensors/safetensors_reader.ts";
import { writeSafetensors } from "../../src/model/safetensors/safetensors_writer.ts";
import { ggufWeight, readGguf } from "../../src/model/gguf/gguf_model_file.ts";
import { encodeGguf } from "../../src/model/gguf/gguf_writer.ts";
import { GgmlType } from "../../src/model/gguf/gguf_format.ts";
import { encodeTensor } from "../../src/model/gguf/gguf_quant.ts";
import { dequantizeWeight } from "../../src/gpu/kernels/host_weight.ts";
import { toF16 } from "../../src/gpu/kernels/quant.ts";
import { FIXTURE_SIZES, fixtureGgufSpec, fixtureTensors } from "../fixtures/model/fixture_model.ts";
import { hfFixtureTensors, toBf16 } from "../fixtures/model/safetensors_fixture.ts";
import { fixtureFiles, fixtureRoot, ggufModel, safetensorsModel } from "./_fixture_dir.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";

let root: Awaited<ReturnType<typeof fixtureRoot>>;
before(async () => (root = await fixtureRoot()));
after(() => root.dispose());

const files = fixtureFiles;

const rejectsWith = async (p: Promise<unknown>, reason: string, pattern: RegExp) => {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelFileError, `expected ModelFileError, got ${e}`);
    assert.equal(e.reason, reason, e.message);
    assert.equal(e.kind, "InvalidArgument");
    assert.match(e.message, pattern);
    return true;
  });
};

describe("GGUF loading", () => {
  for (const dtype of ["f32", "f16", "q8_0", "q4_0"] as const) {
    it(`reads a ${dtype} fixture back to the written tensors`, async () => {
      const path = await ggufModel(root.path, `rt-${dtype}`, { dtype });
      const { checkpoint } = await loadLlamaModel(path, files);
      const c = checkpoint.config;
      assert.equal(c.arch, "llama");
      assert.equal(c.ropeMode, "interleaved");
      const t = FIXTURE_SIZES.tiny;
      assert.deepEqual([c.hidden, c.layers, c.heads, c.kvHeads, c.headDim], [
        t.nEmbd,
        t.nLayer,
        t.nHead,
        t.nHeadKv,
        t.nEmbd / t.nHead,
      ]);
      assert.ok(c.kvHeads < c.heads, "the fixture is GQA");
      assert.equal(c.tiedEmbeddings, false);
      const byName = new Map(fixtureTensors({ dtype }).map((t) => [t.name, t]));
      const q = checkpoint.layers[1].q;
      const want = byName.get("blk.1.attn_q.weight")!.values();
      assert.equal(q.dtype, dtype);
      assert.deepEqual(q.shape, [t.nEmbd, t.nEmbd]);
      const type =
        { f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0 }[dtype];
      const bytes = encodeTensor(type, want);
      const got = q.data;
      assert.deepEqual(
        new Uint8Array(got.buffer, got.byteOffset, got.byteLength),
        bytes,
        "stored bytes are the writer's",
      );
      assert.deepEqual(
        checkpoint.layers[0].attnNorm,
        byName.get("blk.0.attn_norm.weight")!.values(),
      );
    });
  }

  it("reads qwen2 as NEOX with QKV biases, and a tied model without an output matrix", async () => {
    const qwen = await loadLlamaModel(await ggufModel(root.path, "qwen", { arch: "qwen2" }), files);
    assert.equal(qwen.checkpoint.config.ropeMode, "neox");
    assert.equal(qwen.checkpoint.config.qkvBias, true);
    const t = FIXTURE_SIZES.tiny;
    assert.equal(qwen.checkpoint.layers[0].kBias!.length, (t.nEmbd / t.nHead) * t.nHeadKv);
    const tied = await loadLlamaModel(await ggufModel(root.path, "tied", { tied: true }), files);
    assert.equal(tied.checkpoint.config.tiedEmbeddings, true);
    assert.equal(tied.checkpoint.lmHead, undefined);
  });

  it("refuses truncated files, bad magic, and names unsupported types", async () => {
    const whole = await readFile(await ggufModel(root.path, "cut", {}));
    const cut = async (n: number) => {
      const p = join(root.path, `cut-${n}.gguf`);
      await writeFile(p, whole.subarray(0, n));
      return p;
    };
    await rejectsWith(loadLlamaModel(await cut(100), files), "truncated", /GGUF header/);
    await rejectsWith(
      loadLlamaModel(await cut(whole.length - 100), files),
      "truncated",
      /run past/,
    );
    const bad = join(root.path, "bad.gguf");
    await writeFile(bad, new TextEncoder().encode("GGML not really"));
    await rejectsWith(loadLlamaModel(bad, files), "corrupt", /GGUF/);
    // A Q2_K attention matrix: refused by name.
    const spec = fixtureGgufSpec({});
    const tensors = spec.tensors.map((t) =>
      t.name === "blk.0.attn_q.weight"
        ? { name: t.name, shape: [256, 256], type: GgmlType.Q2_K, data: new Uint8Array(256 * 84) }
        : t
    );
    const q6 = join(root.path, "q2k.gguf");
    await writeFile(q6, await encodeGguf({ metadata: spec.metadata, tensors }));
    await rejectsWith(loadLlamaModel(q6, files), "unsupported_type", /Q2_K is not supported/);
    assert.throws(
      () =>
        ggufWeight({
          name: "x",
          dims: [256, 2],
          type: 23,
          typeName: "IQ4_XS",
          bytes: new Uint8Array(0),
        }),
      /type IQ4_XS is not supported/,
    );
  });

  it("refuses unsupported architectures and missing tensors, and a missing file is CannotConnect", async () => {
    const spec = fixtureGgufSpec({});
    const other = spec.metadata.map(([k, v]) =>
      k === "general.architecture"
        ? [k, { type: "string", value: "gemma2" }] as const
        : [k, v] as const
    );
    const p1 = join(root.path, "gemma.gguf");
    await writeFile(p1, await encodeGguf({ metadata: other as never, tensors: spec.tensors }));
    await rejectsWith(loadLlamaModel(p1, files), "unsupported_architecture", /gemma2/);
    const p2 = join(root.path, "missing.gguf");
    await writeFile(
      p2,
      await encodeGguf({
        metadata: spec.metadata,
        tensors: spec.tensors.filter((t) => t.name !== "blk.1.ffn_up.weight"),
      }),
    );
    await rejectsWith(loadLlamaModel(p2, files), "missing_tensor", /blk\.1\.ffn_up\.weight/);
    await assert.rejects(loadLlamaModel(join(root.path, "nope.gguf"), files), (e: unknown) => {
      assert.ok(e instanceof SluiceError && e.kind === "CannotConnect");
      return true;
    });
    assert.ok(readGguf(await readFile(p2)).tensors.size > 0);
  });
});

describe("safetensors loading", () => {
  for (const dtype of ["F32", "F16", "BF16"] as const) {
    it(`reads a ${dtype} checkpoint back to the written tensors`, async () => {
      const dir = await safetensorsModel(root.path, `st-${dtype}`, {}, dtype);
      const { checkpoint } = await loadLlamaModel(dir, files);
      assert.equal(checkpoint.config.ropeMode, "neox");
      const want = hfFixtureTensors({}).find((t) =>
        t.name === "model.layers.1.mlp.down_proj.weight"
      )!;
      const got = checkpoint.layers[1].down;
      assert.deepEqual(got.shape, [64, 128]);
      const expected = dtype === "F32"
        ? want.values
        : dtype === "F16"
        ? dequantizeWeight({ dtype: "f16", shape: [64, 128], data: toF16(want.values) })
        : new Float32Array(Uint32Array.from(toBf16(want.values), (b) => b << 16).buffer);
      assert.deepEqual(dequantizeWeight(got), expected);
      assert.equal(got.dtype, dtype === "F16" ? "f16" : "f32");
    });
  }

  it("reads a checkpoint sharded by model.safetensors.index.json", async () => {
    const dir = await safetensorsModel(root.path, "st-shards");
    const one = readSafetensors(await readFile(join(dir, "model.safetensors")));
    const names = [...one.tensors.keys()];
    const shard = (part: string[]) =>
      writeSafetensors(part.map((n) => {
        const t = one.tensors.get(n)!;
        return {
          name: n,
          dtype: "F32" as const,
          shape: t.shape,
          data: new Float32Array(new Uint8Array(t.bytes).buffer),
        };
      }));
    const half = Math.floor(names.length / 2);
    const sharded = join(root.path, "st-sharded");
    await mkdir(sharded);
    await writeFile(join(sharded, "a.safetensors"), shard(names.slice(0, half)));
    await writeFile(join(sharded, "b.safetensors"), shard(names.slice(half)));
    await writeFile(join(sharded, "config.json"), await readFile(join(dir, "config.json")));
    const weightMap = Object.fromEntries(
      names.map((n, i) => [n, i < half ? "a.safetensors" : "b.safetensors"]),
    );
    await writeFile(
      join(sharded, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: weightMap }),
    );
    const a = await loadLlamaModel(dir, files), b = await loadLlamaModel(sharded, files);
    assert.deepEqual(b.checkpoint.layers[1].up, a.checkpoint.layers[1].up);
    assert.deepEqual(b.checkpoint.finalNorm, a.checkpoint.finalNorm);
  });

  it("refuses truncated, corrupt and unsupported files with clear errors", async () => {
    const dir = await safetensorsModel(root.path, "st-bad");
    const whole = await readFile(join(dir, "model.safetensors"));
    const variant = async (name: string, bytes: Uint8Array, config?: unknown) => {
      const d = join(root.path, name);
      await mkdir(d, { recursive: true });
      await writeFile(join(d, "model.safetensors"), bytes);
      await writeFile(
        join(d, "config.json"),
        config === undefined ? await readFile(join(dir, "config.json")) : JSON.stringify(config),
      );
      return d;
    };
    await rejectsWith(
      loadLlamaModel(await variant("t1", whole.subarray(0, 4)), files),
      "truncated",
      /no header/,
    );
    await rejectsWith(
      loadLlamaModel(await variant("t2", whole.subarray(0, whole.length - 10)), files),
      "truncated",
      /runs past/,
    );
    const garbled = new Uint8Array(whole);
    garbled[9] = 0x7b;
    garbled[10] = 0x7b;
    await rejectsWith(
      loadLlamaModel(await variant("t3", garbled), files),
      "corrupt",
      /not valid JSON/,
    );
    const config = JSON.parse(await readFile(join(dir, "config.json"), "utf8"));
    await rejectsWith(
      loadLlamaModel(
        await variant("t4", whole, { ...config, architectures: ["GPT2LMHeadModel"] }),
        files,
      ),
      "unsupported_architecture",
      /GPT2LMHeadModel/,
    );
    const mistral = await loadLlamaModel(
      await variant("t4b", whole, {
        ...config,
        architectures: ["MistralForCausalLM"],
        sliding_window: 256,
      }),
      files,
    );
    assert.equal(mistral.checkpoint.config.arch, "mistral");
    assert.equal(
      mistral.checkpoint.config.contextLength,
      256,
      "served context capped at the window",
    );
    await rejectsWith(
      loadLlamaModel(await variant("t5", whole, { ...config, hidden_size: "big" }), files),
      "corrupt",
      /hidden_size/,
    );
    const int8 = writeSafetensors([]);
    assert.equal(readSafetensors(int8).tensors.size, 0);
    await rejectsWith(
      loadLlamaModel(await variant("t6", int8), files),
      "missing_tensor",
      /is missing/,
    );
    assert.throws(
      () => safetensorsWeight({ name: "w", dtype: "I8", shape: [2, 2], bytes: new Uint8Array(4) }),
      /dtype I8 is not supported/,
    );
  });
});
