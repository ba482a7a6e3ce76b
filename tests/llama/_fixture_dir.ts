/**
 * Test helper: writes fixture checkpoints into a fresh temp directory and removes it after.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type FixtureSpec,
  tinySpec,
  writeSafetensorsFixture,
} from "../fixtures/model/safetensors_fixture.ts";

/** A temp directory for fixture files; `dispose` removes it. */
export async function fixtureRoot(): Promise<{ path: string; dispose(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), "sluice-llama-"));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** Writes a safetensors checkpoint of `spec` under `root/name` and returns its path. */
export async function safetensorsModel(
  root: string,
  name: string,
  spec: FixtureSpec = tinySpec(),
  dtype: "F32" | "F16" | "BF16" = "F32",
): Promise<string> {
  const dir = join(root, name);
  await writeSafetensorsFixture(dir, spec, dtype);
  return dir;
}
