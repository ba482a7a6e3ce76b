/**
 * The llama engine's start: loads the GGUF file or safetensors checkpoint, sizes the paged KV
 * cache, opens the backend (falling back to `cpu` when no GPU adapter exists), uploads the
 * weights with progress lines, and builds the batch runner, the multi-step decoder (WebGPU),
 * the block manager (publishing KV events when services are given) and the scheduler.
 *
 * @module
 */
import type { EngineConfig } from "../../src/engine/engine_config.ts";
import type { EngineServices } from "../../src/engine/engine_services.ts";
import type { Backend } from "../../src/gpu/ops/backend.ts";
import { canCapture } from "../../src/gpu/ops/backend.ts";
import {
  createKvCachePool,
  createLlamaBatchRunner,
  type KvCachePool,
  type LlamaBatchRunner,
} from "../../src/gpu/llama/llama_batch_runner.ts";
import type { LlamaModel } from "../../src/gpu/llama/llama_decode_step.ts";
import {
  createLlamaMultiStepDecoder,
  DEFAULT_MULTI_STEPS,
  type LlamaMultiStepDecoder,
} from "../../src/gpu/llama/llama_multi_step.ts";
import { kernelCacheEnv } from "../../src/gpu/compile/cache_key_factors.ts";
import { fsKernelCacheStorage } from "../../src/runtime/gpu_cache_storage.ts";
import { acquireRuntimeGpu } from "../../src/runtime/gpu_device.ts";
import { type LoadedLlamaModel, loadLlamaModel } from "../../src/model/model_loader.ts";
import { llamaKernelConfig, uploadLlamaCheckpoint } from "../../src/model/llama_upload.ts";
import { currentRuntime } from "../../src/runtime/runtime.ts";
import { createGgufTokenizer } from "../../src/tokenizer/gguf_tokenizer.ts";
import { tmpdir } from "node:os";
import { createLlamaBackend, type LlamaBackendHandle } from "./llama_backend.ts";
import type { BlockManager } from "./block_manager.ts";
import { Scheduler } from "./scheduler.ts";
import { modelCardFiles } from "./model_card_files.ts";
import { createEngineBlockManager, LoadMetricsPublisher } from "./engine_publication.ts";
import {
  KV_BUDGET_BYTES,
  type LlamaEngineOptions,
  servedModelName,
} from "./llama_engine_options.ts";

/**
 * What a start builds, filled in as it goes: a start that fails part-way leaves the parts
 * built so far here, so cleanup MUST release whichever are set.
 */
export interface LlamaEngineParts {
  loaded?: LoadedLlamaModel;
  handle?: LlamaBackendHandle;
  backend?: Backend;
  model?: LlamaModel;
  pool?: KvCachePool;
  runner?: LlamaBatchRunner;
  multi?: LlamaMultiStepDecoder;
  blocks?: BlockManager;
  scheduler?: Scheduler;
  /** Longest sequence served. */
  maxLen?: number;
  /** End-of-generation ids (EOS, EOT, ...). */
  eos?: number[];
}

/** Loads and uploads the model described by `o` into `parts`; returns the engine config. */
export async function startLlamaEngine(
  parts: LlamaEngineParts,
  o: LlamaEngineOptions,
  services: EngineServices | undefined,
): Promise<EngineConfig> {
  const log = o.log ?? ((line: string) => console.error(line));
  const started = performance.now();
  const loaded = await loadLlamaModel(o.model, o.files ?? currentRuntime(), log);
  parts.loaded = loaded;
  const c = loaded.checkpoint.config;
  const blockSize = o.blockSize ?? 16;
  const maxLen = Math.min(o.maxModelLen ?? Math.min(c.contextLength, 2048), c.contextLength);
  parts.maxLen = maxLen;
  const maxBlocks = Math.ceil(maxLen / blockSize);
  const maxNumSeqs = o.maxNumSeqs ?? 16;
  // Default: room for max-num-seqs full sequences within a 512 MiB f32 KV budget, but
  // always at least one full sequence.
  const blockBytes = c.layers * blockSize * c.kvHeads * c.headDim * 4 * 2;
  const numBlocks = o.numBlocks ??
    Math.max(
      maxBlocks,
      Math.min(maxBlocks * maxNumSeqs, Math.floor(KV_BUDGET_BYTES / blockBytes)),
    );
  const wanted = o.backend ?? "cpu";
  const runtime = currentRuntime();
  const env = (k: string) => runtime.env(k);
  const cacheEnv = kernelCacheEnv(
    {
      SLUICE_KERNEL_CACHE_DIR: env("SLUICE_KERNEL_CACHE_DIR"),
      SLUICE_DISABLE_KERNEL_CACHE: env("SLUICE_DISABLE_KERNEL_CACHE"),
    },
    `${tmpdir()}/sluice-kernels`,
  );
  const handle = await createLlamaBackend(
    wanted,
    llamaKernelConfig(loaded.checkpoint, { blockSize, maxBlocks }),
    {
      acquire: o.gpu ?? (() => acquireRuntimeGpu(log)),
      ownsDevice: !o.gpu,
      cache: o.kernelCache ?? { storage: fsKernelCacheStorage(), ...cacheEnv },
      buckets: o.warmBuckets ?? [1, 8],
      int8Gemv: o.int8Gemv ?? "auto",
    },
    log,
    { kernels: o.cpuKernels ?? "wasm", threads: o.cpuThreads },
  );
  parts.handle = handle;
  const backend = parts.backend = handle.backend;
  log(
    `Loading ${c.arch} model (${c.layers} layers, hidden ${c.hidden}, vocab ${c.vocab}, ` +
      `${loaded.checkpoint.format}, RoPE ${c.ropeMode}) on backend ${backend.name}`,
  );
  let last = -1;
  const model = parts.model = uploadLlamaCheckpoint(backend, loaded.checkpoint, {
    blockSize,
    maxBlocks,
    progress(done, total) {
      const pct = Math.floor((done / total) * 10) * 10;
      if (pct !== last) {
        last = pct;
        log(`Uploading weights: ${pct}% (${done}/${total} tensors)`);
      }
    },
  });
  const pool = parts.pool = createKvCachePool(backend, model.config, {
    layers: c.layers,
    numBlocks,
  });
  const runner = parts.runner = createLlamaBatchRunner(backend, model, pool);
  const blocks = parts.blocks = await createEngineBlockManager(numBlocks, blockSize, services);
  const maxBatched = o.maxNumBatchedTokens ?? 256;
  const multiStep = o.multiStep ?? DEFAULT_MULTI_STEPS;
  if (multiStep > 1 && canCapture(backend)) {
    parts.multi = createLlamaMultiStepDecoder(backend, model, pool, { maxSteps: multiStep });
  }
  let metrics: LoadMetricsPublisher | undefined;
  const scheduler = parts.scheduler = new Scheduler(
    { runner, multiStep: parts.multi, afterStep: (idle) => metrics?.publish(idle) },
    blocks,
    { maxSeqs: maxNumSeqs, maxBatchedTokens: maxBatched, maxBlocks },
  );
  if (services) metrics = new LoadMetricsPublisher(services, blocks, scheduler);
  const modelFiles = await modelCardFiles(loaded, o.files ?? currentRuntime());
  // The GGUF vocabulary's end-of-generation ids (EOS, EOT, ...), as the frontend derives them.
  parts.eos = loaded.gguf
    ? [...createGgufTokenizer(loaded.gguf.metadata).eosTokenIds]
    : [...c.eosTokenIds];
  log(`Model ready in ${((performance.now() - started) / 1000).toFixed(2)} s`);
  const name = servedModelName(o.model);
  return {
    model: name,
    served_model_name: name,
    context_length: maxLen,
    kv_cache_block_size: blockSize,
    total_kv_blocks: numBlocks,
    max_num_seqs: maxNumSeqs,
    max_num_batched_tokens: maxBatched,
    model_files: modelFiles,
  };
}
