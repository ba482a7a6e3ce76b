/**
 * What the llama engine tells the frontend through the model card, from its model files: the
 * tokenizer and chat-template files (`tokenizer.json`, `tokenizer_config.json`,
 * `generation_config.json` next to a safetensors checkpoint; the `.gguf` file itself, whose
 * `tokenizer.ggml.*` metadata and `tokenizer.chat_template` a GGUF-aware frontend reads) with
 * their SHA-256 and size, and the EOS ids the files name.
 *
 * @module
 */
import type { ModelCardInput } from "../../src/model_card/model_card.ts";
import {
  type LoadedLlamaModel,
  type ModelFileAccess,
  sha256Hex,
} from "../../src/model/model_loader.ts";
import { createGgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";

type CardFiles = NonNullable<ModelCardInput["files"]>;

/** The card fields of `model`; files that do not exist are left out. */
export async function modelCardFiles(
  model: LoadedLlamaModel,
  files: ModelFileAccess,
): Promise<Partial<ModelCardInput>> {
  if (model.gguf && model.ggufDigest) {
    const tokenizer = createGgufTokenizer(model.gguf.metadata);
    const eos = tokenizer.eosTokenIds.length
      ? [...tokenizer.eosTokenIds]
      : [...model.checkpoint.config.eosTokenIds];
    return {
      files: { tokenizer: { path: model.path, ...model.ggufDigest } },
      ...(eos.length ? { eos_token_ids: eos } : {}),
    };
  }
  const out: CardFiles = {};
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
  const eos = model.checkpoint.config.eosTokenIds;
  return { files: out, ...(eos.length ? { eos_token_ids: [...eos] } : {}) };
}
