/**
 * Start-time validation of a model's resources (issue 8, defect 4): the chat template
 * (`--custom-jinja-template` or a template file) and the tokenizer files a model card
 * names. A broken resource MUST fail the worker's start with an error naming it, instead
 * of a worker that reports healthy while every request fails.
 *
 * @module
 */
import { createChatTemplate } from "../chat_template/chat_template.ts";
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import { ModelResourceLoader, type ModelResourceSource } from "../frontend/model_resources.ts";
import type { ModelCard } from "../model_card/model_card.ts";

/** The conversation a chat template MUST render at start. */
const PROBE_CONVERSATION = [{ role: "user" as const, content: "Hello" }];

/** What {@linkcode checkModelResources} checks. */
export interface ModelResourceCheck {
  /** The model's served name (for messages). */
  model: string;
  /** `--custom-jinja-template`, if set. */
  customChatTemplate?: string;
  /** Files of the model card (tokenizer, config, template, generation config). */
  files?: ModelCard["files"];
  /** EOS ids of the model card. */
  eosTokenIds?: number[];
  /**
   * Loads and caches resources (share the frontend's to load each model once); when absent
   * a loader over `readFile` is made, used only when the card names files. With neither,
   * the files are not checked here (only by the frontend that loads them).
   */
  loader?: ModelResourceLoader;
  /** Reads a local file's bytes (the runtime adapter's `readFile`). */
  readFile?: (path: string) => Promise<Uint8Array>;
}

function broken(what: string, param: string | undefined, error: unknown): SluiceError {
  return new SluiceError(
    "EngineShutdown",
    `Cannot start worker: ${what} is broken: ${toSluiceError(error).message}`,
    { param, code: "model_resource_invalid", cause: error },
  );
}

/**
 * Compiles the chat template and renders a one-message conversation with it, and loads and
 * verifies every file the card names (reading, SHA-256, size, parsing the tokenizer).
 * Without files and without a custom template there is nothing to check (the bundled
 * default tokenizer and template are used), unless a shared `loader` is given, which is
 * then warmed for the frontend. Without `loader` and `readFile`, files are not checked.
 *
 * @throws {SluiceError} `EngineShutdown` (a failed start) naming the resource in the message
 * and, for `--custom-jinja-template`, in `param`.
 */
export async function checkModelResources(check: ModelResourceCheck): Promise<void> {
  const custom = check.customChatTemplate;
  if (custom !== undefined) {
    try {
      createChatTemplate(custom).render(PROBE_CONVERSATION);
    } catch (error) {
      throw broken("--custom-jinja-template", "--custom-jinja-template", error);
    }
  }
  const files = check.files ?? {};
  if (check.loader === undefined && (Object.keys(files).length === 0 || !check.readFile)) return;
  const loader = check.loader ?? new ModelResourceLoader({ readFile: check.readFile });
  const source: ModelResourceSource = {
    served_model_name: check.model,
    files,
    custom_chat_template: custom,
    eos_token_ids: check.eosTokenIds,
  };
  const named = Object.entries(files).map(([role, f]) => `${role} (${f.path ?? f.url})`);
  const what = named.length === 0 ? "the default tokenizer" : `model file ${named.join(", ")}`;
  let resources;
  try {
    resources = await loader.get(source);
  } catch (error) {
    throw broken(what, undefined, error);
  }
  if (resources.chatTemplate !== undefined && custom === undefined) {
    try {
      resources.chatTemplate.render(PROBE_CONVERSATION);
    } catch (error) {
      throw broken(`the chat template of ${what}`, undefined, error);
    }
  }
}
