/**
 * The engines the `sluice` command line knows by name, with their flag help. Adding a
 * built-in engine is one entry in {@linkcode ENGINES}; `resolve_engine.ts` picks built-in
 * and module engines the same way.
 *
 * @module
 */
import type { EngineFactory } from "../../src/engine/engine.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";
import { MockerEngine } from "../../engines/mocker/mod.ts";
import { LlamaEngine } from "../../engines/llama/mod.ts";
import { LLAMACPP_FLAGS_HELP, LlamaCppEngine } from "../../engines/llamacpp/mod.ts";

/** One engine the CLI can run. */
export interface EngineEntry {
  factory: EngineFactory;
  summary: string;
  flags: string;
}

/** Flags every engine accepts (the worker's). */
export const WORKER_FLAGS_HELP = `Worker flags (every engine):
  --namespace NAME             discovery namespace (default dynamo)
  --component NAME             component name (default backend)
  --endpoint NAME              endpoint name (default generate)
  --served-model-name NAME     model name clients use
  --migration-limit N          resend a stream that breaks off (worker died, connection lost)
                               to another worker up to N times (model card; default 0 = off)
  --max-inflight-requests N    refuse requests beyond N in flight ("worker overloaded")
  --health-check-payload JSON  canary request (overrides DYN_HEALTH_CHECK_PAYLOAD)
  --custom-jinja-template STR  chat template published in the model card`;

/** Built-in engines by name. */
export const ENGINES: Record<string, EngineEntry> = {
  sample: {
    factory: SampleEngine,
    summary: "rotating-token reference engine (token i = (i+1) % 32000)",
    flags: `Sample engine flags:
  --model-name NAME   model name (default sample-model)
  --max-tokens N      tokens per request when the request sets none (default 16)
  --delay-ms N        delay before each token in ms (default 10)`,
  },
  mocker: {
    factory: MockerEngine,
    summary: "simulated vLLM-like engine (paged KV, prefix caching, batching; no GPU)",
    flags: `Mocker engine flags (as Dynamo's mocker names them):
  --model-name NAME                   model name (default mocker-model)
  --model-path DIR                    read the context length from DIR/config.json (default 32768)
  --speedup-ratio X                   divide simulated time by X; 0 = no delay (default 1.0)
  --block-size N                      tokens per KV block (default 64)
  --num-gpu-blocks-override N         KV blocks (default 16384)
  --max-num-seqs N                    sequences per batch (default 256)
  --max-num-batched-tokens N          tokens per iteration (default 8192)
  --enable-prefix-caching / --no-enable-prefix-caching    (default on)
  --enable-chunked-prefill / --no-enable-chunked-prefill  (default on)
  --watermark X                       fraction of blocks kept free on admission (default 0.01)
  --startup-time S                    simulated start-up seconds (default 0)
  --seed N                            seed of the generated token ids (default 0)
  --max-tokens N                      tokens per request when the request sets none (default 16)`,
  },
  llama: {
    factory: LlamaEngine,
    summary: "Llama-family models (Llama 2/3, Mistral, Qwen2) from GGUF or safetensors",
    flags: `Llama engine flags:
  --model PATH                  .gguf file or safetensors directory (required)
  --backend NAME                cpu | webgpu-eager | webgpu (default cpu; no GPU falls back to cpu)
  --block-size N                tokens per KV block (default 16)
  --num-blocks N                KV blocks (default max-num-seqs full sequences within 512 MiB)
  --max-num-seqs N              sequences per scheduler step (default 16)
  --max-num-batched-tokens N    tokens per step, the prefill chunk budget (default 256)
  --max-model-len N             longest sequence (default the model's, at most 2048)
  --max-tokens N                tokens per request when it sets none (default 256)
  --multi-step K                greedy decode steps per submit on WebGPU (default 16; 1 = off)`,
  },
  llamacpp: {
    factory: LlamaCppEngine,
    summary: "GGUF models on llama.cpp (node-llama-cpp, installed on demand)",
    flags: LLAMACPP_FLAGS_HELP,
  },
};

/** The "Engines:" section of `--help`: each engine, its summary, then its flags. */
export function enginesHelp(): string {
  const engines = Object.entries(ENGINES).map(([name, e]) => `  ${name.padEnd(10)} ${e.summary}`)
    .join("\n");
  const flags = Object.values(ENGINES).map((e) => e.flags).join("\n\n");
  return `Engines:\n${engines}\n\n${flags}\n\n${WORKER_FLAGS_HELP}`;
}
