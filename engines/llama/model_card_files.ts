/**
 * The model files the llama engine names in its `EngineConfig.model_files`, which the worker
 * puts in the model card so the frontend tokenizes exactly as the model expects: for a GGUF
 * model its metadata prefix (role `gguf`: `tokenizer.ggml.*` and `tokenizer.chat_template`),
 * for a safetensors checkpoint the `tokenizer.json`, `tokenizer_config.json` and
 * `generation_config.json` beside it (those that exist), each with its SHA-256 and size.
 *
 * @module
 */
import type { ModelFiles } from "../../src/model_card/model_card.ts";
import {
  type LoadedLlamaModel,
  type ModelFileAccess,
  sha256Hex,
} from "../../src/model/model_loader.ts";

/** The card files of `model`; files that do not exist are left out. */
export async function modelCardFiles(
  model: LoadedLlamaModel,
  files: ModelFileAccess,
): Promise<ModelFiles> {
  if (model.ggufCardFile) return { gguf: { ...model.ggufCardFile } };
  const out: ModelFiles = {};
  const roles = [
    ["tokenizer", "tokenizer.json"],
    ["tokenizer_config", "tokenizer_config.json"],
    ["generation_config", "generation_config.json"],
  ] as const;
  for (const [role, name] of roles) {
    const path = `${model.directory}/${name}`;
    let bytes: Uint8Array;
    try {
      bytes = await files.readFile(path);
    } catch {
      continue;
    }
    out[role] = { path, sha256: await sha256Hex(bytes), size: bytes.length };
  }
  return out;
}
