/**
 * The llama.cpp engine (`--engine llamacpp`): GGUF models through `node-llama-cpp`, which is
 * installed on demand (`npm install --no-save node-llama-cpp@3.22.1`).
 *
 * @module
 */
export { LlamaCppEngine } from "./llamacpp_engine.ts";
export type { LlamaCppDeps } from "./llamacpp_engine.ts";
export type { LlamaCppStats } from "./llamacpp_stats.ts";
export { LLAMACPP_FLAGS_HELP, parseLlamaCppArgs } from "./llamacpp_options.ts";
export type { LlamaCppOptions } from "./llamacpp_options.ts";
export { loadNodeLlamaCpp, NODE_LLAMA_CPP_INSTALL } from "./node_llama_cpp.ts";
export { choiceGrammar, grammarFor } from "./guided_grammar.ts";
