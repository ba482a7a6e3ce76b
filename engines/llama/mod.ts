/**
 * The Llama-family engine (Llama 2/3, Mistral, Qwen2) on the `cpu`, `webgpu-eager` and
 * `webgpu` backends.
 *
 * @module
 */
export { LLAMA_BACKENDS, LlamaEngine, llamaEngineFactory } from "./llama_engine.ts";
export type { LlamaEngineOptions } from "./llama_engine.ts";
