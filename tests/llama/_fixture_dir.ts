/**
 * Test helper: writes fixture models (GGUF and safetensors twins of `fixture_model.ts`) into a
 * fresh temp directory and removes it after.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FixtureModelOptions, writeFixtureModel } from "../fixtures/model/fixture_model.ts";
import { writeSafetensorsFixture } from "../fixtures/model/safetensors_fixture.ts";

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
