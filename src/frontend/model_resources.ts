/**
 * Model resources: the tokenizer, chat template and EOS ids a frontend needs to
 * serve a model, built from its model card. Files named in the card are read
 * (local path through an injected reader, or URL through `fetch`) and verified
 * against their SHA-256 and size; a card without a tokenizer file gets the bundled
 * default (Qwen3) tokenizer and chat template, which is what the embedded default
 * and the sample engine use. A card that names a GGUF file (role `gguf`) instead gets the
 * tokenizer and chat template of its metadata, read from the verified metadata prefix only. Resources are cached by the files they come from, so
 * every worker of a model shares one tokenizer; the cache key is computed once per
 * model card object. Files are verified on their raw bytes (a BOM counts), then
 * decoded; a URL fetch is bounded by a timeout, and a failed load is forgotten so the
 * next request retries.
 *
 * @module
 */
import type { ChatTemplate } from "../chat_template/chat_template.ts";
import { createChatTemplate } from "../chat_template/chat_template.ts";
import { chatTemplateFromConfig } from "../chat_template/chat_template_config.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import type { ModelCard } from "../model_card/model_card.ts";
import { loadDefaultTokenizerFiles, QWEN3_EOS_TOKEN_IDS } from "../tokenizer/default_tokenizer.ts";
import { createHfTokenizer } from "../tokenizer/hf_tokenizer.ts";
import type { IncrementalDecoder } from "../tokenizer/incremental_decoder.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { TokenizerConfig } from "../tokenizer/tokenizer_config.ts";
import { ByteLevelVocabulary, decoderFactory } from "../tokenizer/byte_level_decoder.ts";
import { parseGgufHeader } from "../model/gguf/gguf_reader.ts";
import { createGgufTokenizer } from "../tokenizer/gguf_tokenizer.ts";
import { createIncrementalDecoder } from "../tokenizer/incremental_decoder.ts";

/** What the frontend uses to pre- and post-process one model's requests. */
export interface ModelResources {
  readonly tokenizer: Tokenizer;
  /** Absent when the model has no chat template (chat requests are then refused). */
  readonly chatTemplate?: ChatTemplate;
  /** Ids that end generation, sent to the engine with each request. */
  readonly eosTokenIds: readonly number[];
  /**
   * A streaming detokenizer for one response: the byte-level fast path when the tokenizer
   * allows it, else the generic window decoder with the prompt as context.
   */
  createDecoder(
    options: { skipSpecialTokens: boolean; promptTokenIds: readonly number[] },
  ): IncrementalDecoder;
  /**
   * A token's raw bytes (for logprob `bytes`), when the tokenizer is byte-level BPE;
   * absent otherwise (callers then use the UTF-8 of the token's text).
   */
  readonly tokenBytes?: (id: number) => Uint8Array;
}

/** The fields of a model card that resources come from. */
export type ModelResourceSource = Pick<
  ModelCard,
  "served_model_name" | "files" | "custom_chat_template" | "eos_token_ids"
>;

/** A file entry of a model card. */
type ModelFile = NonNullable<ModelCard["files"]["tokenizer"]>;

/** How long fetching one model file by URL may take, body included, by default. */
export const DEFAULT_FILE_FETCH_TIMEOUT_MS = 30_000;

/** Options for {@linkcode ModelResourceLoader}. */
export interface ModelResourceLoaderOptions {
  /**
   * Reads a local file's raw bytes; preferred over `readTextFile` because the SHA-256 in
   * the card is over the bytes.
   */
  readFile?: (path: string) => Promise<Uint8Array>;
  /**
   * Reads a local file as UTF-8 text (the runtime adapter's `readTextFile`); its text is
   * re-encoded for verification, which matches the file for any valid UTF-8 file.
   */
  readTextFile?: (path: string) => Promise<string>;
  /**
   * Reads bytes `[start, end)` of a local file; used for the metadata prefix of a GGUF file
   * (role `gguf`) so the weights are never read. Without it, `readFile` reads the whole file.
   */
  readFileRange?: (path: string, start: number, end: number) => Promise<Uint8Array>;
  /** Fetches files named by URL (default the global `fetch`). */
  fetch?: typeof fetch;
  /** Bound on each URL fetch, body included (default {@linkcode DEFAULT_FILE_FETCH_TIMEOUT_MS}). */
  fetchTimeoutMs?: number;
}

const encoder = new TextEncoder();
// Strips a leading BOM (the default), as `Response.text()` does: JSON.parse refuses one.
const decoder = new TextDecoder();

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Loads and caches {@linkcode ModelResources} per model card.
 *
 * @example
 * ```ts ignore
 * const loader = new ModelResourceLoader({ readTextFile: (p) => Deno.readTextFile(p) });
 * const { tokenizer } = await loader.get(card);
 * ```
 */
export class ModelResourceLoader {
  #cache = new Map<string, Promise<ModelResources>>();
  /** The cache key of each card object seen, so it is built once per card, not per request. */
  #keys = new WeakMap<ModelResourceSource, string>();
  #readFile: ((path: string) => Promise<Uint8Array>) | undefined;
  #readTextFile: ((path: string) => Promise<string>) | undefined;
  #readFileRange: ((path: string, start: number, end: number) => Promise<Uint8Array>) | undefined;
  #fetch: typeof fetch;
  #fetchTimeoutMs: number;

  constructor(options: ModelResourceLoaderOptions = {}) {
    this.#readFile = options.readFile;
    this.#readTextFile = options.readTextFile;
    this.#readFileRange = options.readFileRange;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? DEFAULT_FILE_FETCH_TIMEOUT_MS;
  }

  /**
   * The resources for `card`, loading them on first use. A failed load is not cached, so
   * the next request retries.
   * @throws {SluiceError} `CannotConnect` when a file cannot be read or fails verification.
   */
  get(card: ModelResourceSource): Promise<ModelResources> {
    let key = this.#keys.get(card);
    if (key === undefined) {
      key = JSON.stringify([card.files, card.custom_chat_template, card.eos_token_ids]);
      this.#keys.set(card, key);
    }
    let entry = this.#cache.get(key);
    if (entry === undefined) {
      const cacheKey = key;
      entry = this.#load(card).catch((error) => {
        this.#cache.delete(cacheKey);
        throw new SluiceError(
          "CannotConnect",
          `Cannot load tokenizer files of model "${card.served_model_name}": ${
            (error as Error).message
          }`,
          { cause: error, code: "model_files_unavailable" },
        );
      });
      this.#cache.set(key, entry);
    }
    return entry;
  }

  async #load(card: ModelResourceSource): Promise<ModelResources> {
    const files = card.files;
    if (files.tokenizer === undefined && files.gguf !== undefined) return this.#loadGguf(card);
    let tokenizerJson: Record<string, unknown>;
    let config: TokenizerConfig | undefined;
    let defaultEos: readonly number[] = [];
    if (files.tokenizer === undefined) {
      const defaults = await loadDefaultTokenizerFiles();
      tokenizerJson = defaults.tokenizerJson;
      config = defaults.tokenizerConfig;
      defaultEos = QWEN3_EOS_TOKEN_IDS;
    } else {
      tokenizerJson = parseObject(await this.#read(files.tokenizer), "tokenizer.json");
      if (files.tokenizer_config !== undefined) {
        config = JSON.parse(await this.#read(files.tokenizer_config)) as TokenizerConfig;
      }
    }
    const generationEos: number[] = [];
    if (files.generation_config !== undefined) {
      const generation = JSON.parse(await this.#read(files.generation_config));
      const eos = generation?.eos_token_id;
      for (const id of Array.isArray(eos) ? eos : eos === undefined ? [] : [eos]) {
        if (Number.isInteger(id)) generationEos.push(id);
      }
    }
    const tokenizer = createHfTokenizer(tokenizerJson, {
      config,
      eosTokenIds: [...defaultEos, ...generationEos],
    });
    let chatTemplate: ChatTemplate | undefined;
    const special = (name: "bos_token" | "eos_token") => {
      const value = config?.[name];
      return typeof value === "string" ? value : value?.content ?? "";
    };
    const templateOptions = { bosToken: special("bos_token"), eosToken: special("eos_token") };
    if (card.custom_chat_template !== undefined) {
      chatTemplate = createChatTemplate(card.custom_chat_template, templateOptions);
    } else if (files.chat_template !== undefined) {
      chatTemplate = createChatTemplate(await this.#read(files.chat_template), templateOptions);
    } else if (config?.chat_template) {
      chatTemplate = chatTemplateFromConfig(config);
    }
    // One byte-level vocabulary serves both the fast detokenizer and the logprob bytes.
    const byteLevel = ByteLevelVocabulary.fromTokenizerJson(tokenizerJson, config);
    return {
      tokenizer,
      chatTemplate,
      eosTokenIds: card.eos_token_ids ?? tokenizer.eosTokenIds,
      createDecoder: byteLevel === undefined
        ? decoderFactory(tokenizer, tokenizerJson, config)
        : (options) => byteLevel.createDecoder({ skipSpecialTokens: options.skipSpecialTokens }),
      tokenBytes: byteLevel === undefined ? undefined : (id) => byteLevel.entry(id).bytes,
    };
  }

  /**
   * Resources from a GGUF file's metadata: the tokenizer llama.cpp would build, its chat
   * template (unless the card overrides it) and its end-of-generation ids.
   */
  async #loadGguf(card: ModelResourceSource): Promise<ModelResources> {
    const files = card.files;
    const bytes = await this.#readBytes(files.gguf!, true);
    const header = parseGgufHeader(bytes, { metadataOnly: true });
    const tokenizer = createGgufTokenizer(header.metadata);
    const text = (id: number | undefined) => id === undefined ? "" : tokenizer.vocab.tokens[id];
    const templateOptions = {
      bosToken: text(tokenizer.vocab.bosId),
      eosToken: text(tokenizer.vocab.eosId),
    };
    const template = card.custom_chat_template ??
      (files.chat_template !== undefined
        ? await this.#read(files.chat_template)
        : tokenizer.chatTemplate);
    return {
      tokenizer,
      chatTemplate: template === undefined
        ? undefined
        : createChatTemplate(template, templateOptions),
      eosTokenIds: card.eos_token_ids ?? tokenizer.eosTokenIds,
      createDecoder: (options) =>
        createIncrementalDecoder(tokenizer, {
          skipSpecialTokens: options.skipSpecialTokens,
          context: options.promptTokenIds,
        }),
      tokenBytes: (id) => tokenizer.tokenBytes(id),
    };
  }

  async #read(file: ModelFile): Promise<string> {
    return decoder.decode(await this.#readBytes(file, false));
  }

  /**
   * A file's bytes, verified against the card; with `prefix`, only its first `file.size`
   * bytes (a ranged read or request where possible).
   */
  async #readBytes(file: ModelFile, prefix: boolean): Promise<Uint8Array> {
    const where = file.path ?? file.url;
    let bytes: Uint8Array;
    if (prefix && file.path !== undefined && this.#readFileRange !== undefined) {
      bytes = await this.#readFileRange(file.path, 0, file.size);
    } else if (prefix && file.path === undefined) {
      bytes = await this.#download(file.url!, file.size);
    } else if (file.path !== undefined) {
      if (this.#readFile !== undefined) bytes = await this.#readFile(file.path);
      else if (this.#readTextFile !== undefined) {
        bytes = encoder.encode(await this.#readTextFile(file.path));
      } else throw new TypeError(`cannot read "${file.path}": this frontend has no file reader`);
    } else {
      bytes = await this.#download(file.url!);
    }
    if (prefix && bytes.byteLength > file.size) bytes = bytes.subarray(0, file.size);
    if (bytes.byteLength !== file.size) {
      throw new TypeError(`${where} has ${bytes.byteLength} bytes, the card says ${file.size}`);
    }
    const digest = hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
    if (digest !== file.sha256) {
      throw new TypeError(`${where} has SHA-256 ${digest}, the card says ${file.sha256}`);
    }
    return bytes;
  }

  /**
   * GETs `url`'s raw bytes within the fetch timeout (headers and body); with `length`, asks
   * for the first `length` bytes only (a server that ignores `Range` sends them all).
   */
  async #download(url: string, length?: number): Promise<Uint8Array> {
    const signal = AbortSignal.timeout(this.#fetchTimeoutMs);
    try {
      const headers = length === undefined ? undefined : { range: `bytes=0-${length - 1}` };
      const response = await this.#fetch(url, { signal, headers });
      if (!response.ok) {
        await response.body?.cancel();
        throw new TypeError(`GET ${url} answered ${response.status}`);
      }
      return new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      if (signal.aborted) {
        throw new TypeError(`GET ${url} did not finish within ${this.#fetchTimeoutMs} ms`, {
          cause: error,
        });
      }
      throw error;
    }
  }
}

function parseObject(text: string, name: string): Record<string, unknown> {
  const value = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} is not a JSON object`);
  }
  return value;
}
