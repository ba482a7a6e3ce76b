/**
 * `sluice/frontend`: the OpenAI-compatible HTTP frontend (hono), the worker router and
 * its policies, tokenizers with incremental detokenization and stop strings, and chat
 * templates. `createFrontend` learns models from discovery and calls workers over a
 * request plane; `sluice/serve` wires it to in-process workers.
 *
 * @module
 */
export * from "./src/frontend/mod.ts";
export * from "./src/router/mod.ts";
export * from "./src/tokenizer/mod.ts";
export * from "./src/chat_template/mod.ts";
