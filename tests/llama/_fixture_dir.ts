/**
 * Test helper: writes fixture models (GGUF and safetensors twins of `fixture_model.ts`) into a
 * fresh temp directory and removes it after.
 *
 * @module
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import {
  fixtureGgufSpec,
  type FixtureModelOptions,
  writeFixtureModel,
} from "../fixtures/model/fixture_model.ts";
import { encodeGguf } from "../../src/model/gguf/gguf_writer.ts";
import { GgmlType } from "../../src/model/gguf/gguf_format.ts";
import { writeSafetensorsFixture } from "../fixtures/model/safetensors_fixture.ts";

/** Model file access over `node:fs` (what `loadLlamaModel` takes). */
export const fixtureFiles = {
  readFile: async (p: string) => new Uint8Array(await readFile(p)),
  readTextFile: (p: string) => readFile(p, "utf8"),
};

/** A temp directory for fixture files; `dispose` removes it. */
export async function fixtureRoot(): Promise<{ path: string; dispose(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "sluice-llama-"));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** Writes a safetensors checkpoint directory under `root/name` and returns its path. */
export async function safetensorsModel(
  root: string,
  name: string,
  options: FixtureModelOptions = {},
  dtype: "F32" | "F16" | "BF16" = "F32",
): Promise<string> {
  const dir = join(root, name);
  await writeSafetensorsFixture(dir, options, dtype);
  return dir;
}

/** Writes a GGUF fixture `root/name.gguf` and returns its path. */
export async function ggufModel(
  root: string,
  name: string,
  options: FixtureModelOptions = {},
): Promise<string> {
  const path = join(root, `${name}.gguf`);
  await writeFixtureModel(path, options);
  return path;
}

/** Writes the tiny llama fixture plus a `rope_freqs.weight` of `divisors` (Llama 3 scaling). */
export async function ggufModelWithRopeFreqs(
  root: string,
  name: string,
  divisors: readonly number[],
): Promise<string> {
  const spec = fixtureGgufSpec({});
  const path = join(root, `${name}.gguf`);
  const data = new Uint8Array(new Float32Array(divisors).buffer);
  await writeFile(
    path,
    await encodeGguf({
      metadata: spec.metadata,
      tensors: [...spec.tensors, {
        name: "rope_freqs.weight",
        shape: [divisors.length],
        type: GgmlType.F32,
        data,
      }],
    }),
  );
  return path;
}
