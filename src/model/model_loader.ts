/**
 * Loads a Llama-family model from local files: a `.gguf` file, or a directory holding
 * `config.json` and `model.safetensors` (or the shards named by
 * `model.safetensors.index.json`). File access is injected (the runtime adapter's
 * `readFile`/`readTextFile`), so this module runs unchanged on Deno and Bun.
 *
 * @example
 * ```ts ignore
 * import { currentRuntime } from "../runtime/runtime.ts";
 * import { loadLlamaModel } from "./model_loader.ts";
 * const model = await loadLlamaModel("qwen2.5-0.5b-instruct-q8_0.gguf", currentRuntime());
 * console.log(model.checkpoint.config);
 * ```
 */
import { SluiceError } from "../errors/sluice_error.ts";
import { llamaCheckpointFromGguf } from "./gguf/gguf_llama.ts";
import { type GgufFile, readGguf } from "./gguf/gguf_model_file.ts";
import type { LlamaCheckpoint } from "./llama_config.ts";
import { ModelFileError } from "./model_file_error.ts";
import { llamaCheckpointFromHf } from "./safetensors/hf_llama.ts";
import { readSafetensors, type SafetensorsFile } from "./safetensors/safetensors_reader.ts";

/** The file access the loader needs. */
export interface ModelFileAccess {
  /** Reads a file's bytes; rejects when it does not exist. */
  readFile(path: string): Promise<Uint8Array>;
  /** Reads a UTF-8 text file; rejects when it does not exist. */
  readTextFile(path: string): Promise<string>;
}

/** A loaded model and where its tokenizer comes from. */
export interface LoadedLlamaModel {
  /** The path given. */
  readonly path: string;
  /** The weights and description. */
  readonly checkpoint: LlamaCheckpoint;
  /** The parsed GGUF file (its `tokenizer.ggml.*` metadata), for GGUF models. */
  readonly gguf?: GgufFile;
  /**
   * The model-card entry (role `gguf`) of a GGUF model: its path and the SHA-256 and size of
   * its metadata prefix, which is all a frontend reads to build the tokenizer.
   */
  readonly ggufCardFile?: { readonly path: string; readonly sha256: string; readonly size: number };
  /** The directory of `config.json` (and `tokenizer.json`), for safetensors models. */
  readonly directory?: string;
}

/**
 * Loads the model at `path`. A missing file is a `CannotConnect` {@link SluiceError}; a bad
 * one a {@link ModelFileError}. `progress` receives a line per file read.
 */
export async function loadLlamaModel(
  path: string,
  files: ModelFileAccess,
  progress: (line: string) => void = () => {},
): Promise<LoadedLlamaModel> {
  if (path.toLowerCase().endsWith(".gguf")) {
    progress(`Reading ${path}`);
    const bytes = await read(files, path);
    const gguf = readGguf(bytes);
    progress(`Parsed GGUF v${gguf.version}: ${gguf.tensors.size} tensors`);
    const checkpoint = llamaCheckpointFromGguf(gguf);
    const prefix = bytes.subarray(0, gguf.metadataEnd);
    return {
      path,
      checkpoint,
      gguf,
      ggufCardFile: { path, sha256: await sha256Hex(prefix), size: prefix.length },
    };
  }
  const dir = path.replace(/\/+$/, "");
  const configText = await readText(files, `${dir}/config.json`);
  let config: unknown;
  try {
    config = JSON.parse(configText);
  } catch (error) {
    throw new ModelFileError("corrupt", `Cannot load ${dir}/config.json: not valid JSON`, {
      cause: error,
    });
  }
  const shards = await shardNames(files, dir);
  const parsed: SafetensorsFile[] = [];
  for (const [i, name] of shards.entries()) {
    progress(`Reading ${dir}/${name} (${i + 1}/${shards.length})`);
    parsed.push(readSafetensors(await read(files, `${dir}/${name}`), `${dir}/${name}`));
  }
  return { path, checkpoint: llamaCheckpointFromHf(config, parsed), directory: dir };
}

async function shardNames(files: ModelFileAccess, dir: string): Promise<string[]> {
  let indexText: string;
  try {
    indexText = await files.readTextFile(`${dir}/model.safetensors.index.json`);
  } catch {
    return ["model.safetensors"];
  }
  try {
    const map = (JSON.parse(indexText) as { weight_map?: Record<string, string> }).weight_map;
    if (!map || typeof map !== "object") throw new TypeError("no weight_map");
    return [...new Set(Object.values(map).map(String))];
  } catch (error) {
    throw new ModelFileError(
      "corrupt",
      `Cannot load ${dir}/model.safetensors.index.json: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

async function read(files: ModelFileAccess, path: string): Promise<Uint8Array> {
  try {
    return await files.readFile(path);
  } catch (error) {
    throw new SluiceError(
      "CannotConnect",
      `Cannot read model file ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

async function readText(files: ModelFileAccess, path: string): Promise<string> {
  try {
    return await files.readTextFile(path);
  } catch (error) {
    throw new SluiceError(
      "CannotConnect",
      `Cannot read model file ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/** Hex SHA-256 of `bytes`. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
