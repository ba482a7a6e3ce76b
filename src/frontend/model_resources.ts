/**
 * Model resources: the tokenizer, chat template and EOS ids a frontend needs to
 * serve a model, built from its model card. Files named in the card are read
 * (local path through an injected reader, or URL through `fetch`) and verified
 * against their SHA-256 and size; a card without a tokenizer file gets the bundled
 * default (Qwen3) tokenizer and chat template, which is what the embedded default
 * and the sample engine use. Resources are cached by the files they come from, so
 * every worker of a model shares one tokenizer.
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
import { decoderFactory } from "../tokenizer/byte_level_decoder.ts";

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
}

/** A file entry of a model card. */
type ModelFile = NonNullable<ModelCard["files"]["tokenizer"]>;

/** Options for {@linkcode ModelResourceLoader}. */
export interface ModelResourceLoaderOptions {
  /** Reads a local file as UTF-8 text (the runtime adapter's `readTextFile`). */
  readTextFile?: (path: string) => Promise<string>;
  /** Fetches files named by URL (default the global `fetch`). */
  fetch?: typeof fetch;
}

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
  #readTextFile: ((path: string) => Promise<string>) | undefined;
  #fetch: typeof fetch;

  constructor(options: ModelResourceLoaderOptions = {}) {
    this.#readTextFile = options.readTextFile;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /**
   * The resources for `card`, loading them on first use. A failed load is not cached, so
   * the next request retries.
   * @throws {SluiceError} `CannotConnect` when a file cannot be read or fails verification.
   */
  get(card: ModelCard): Promise<ModelResources> {
    const key = JSON.stringify([card.files, card.custom_chat_template, card.eos_token_ids]);
    let entry = this.#cache.get(key);
    if (entry === undefined) {
      entry = this.#load(card).catch((error) => {
        this.#cache.delete(key);
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

  async #load(card: ModelCard): Promise<ModelResources> {
    const files = card.files;
    let tokenizerJson: string | Record<string, unknown>;
    let config: TokenizerConfig | undefined;
    let defaultEos: readonly number[] = [];
    if (files.tokenizer === undefined) {
      const defaults = await loadDefaultTokenizerFiles();
      tokenizerJson = defaults.tokenizerJson;
      config = defaults.tokenizerConfig;
      defaultEos = QWEN3_EOS_TOKEN_IDS;
    } else {
      tokenizerJson = await this.#read(files.tokenizer);
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
    const parsedJson = typeof tokenizerJson === "string"
      ? JSON.parse(tokenizerJson) as Record<string, unknown>
      : tokenizerJson;
    return {
      tokenizer,
      chatTemplate,
      eosTokenIds: card.eos_token_ids ?? tokenizer.eosTokenIds,
      createDecoder: decoderFactory(tokenizer, parsedJson, config),
    };
  }

  async #read(file: ModelFile): Promise<string> {
    let text: string;
    if (file.path !== undefined) {
      if (this.#readTextFile === undefined) {
        throw new TypeError(`cannot read "${file.path}": this frontend has no file reader`);
      }
      text = await this.#readTextFile(file.path);
    } else {
      const response = await this.#fetch(file.url!);
      if (!response.ok) throw new TypeError(`GET ${file.url} answered ${response.status}`);
      text = await response.text();
    }
    const bytes = new TextEncoder().encode(text);
    const where = file.path ?? file.url;
    if (bytes.byteLength !== file.size) {
      throw new TypeError(`${where} has ${bytes.byteLength} bytes, the card says ${file.size}`);
    }
    const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
    if (digest !== file.sha256) {
      throw new TypeError(`${where} has SHA-256 ${digest}, the card says ${file.sha256}`);
    }
    return text;
  }
}
