/**
 * The worker's public surface: its lifecycle states, the options of
 * {@linkcode createWorker}, and the {@linkcode Worker} handle it returns.
 *
 * @module
 */
import type { LLMEngine } from "../engine/engine.ts";
import type { EngineConfig } from "../engine/engine_config.ts";
import type { WorkerConfig, WorkerConfigInput } from "../engine/worker_config.ts";
import type { Discovery } from "../discovery/discovery.ts";
import type { Logger } from "../logging/logger.ts";
import type { MetricsRegistry } from "../metrics/metrics_registry.ts";
import type { ModelCardInput } from "../model_card/model_card.ts";
import type { RequestPlane } from "../request_plane/request_plane.ts";
import type { ModelResourceLoader } from "../frontend/model_resources.ts";
import type { EventPlane } from "../event_plane/event_plane.ts";
import type { WorkerTimings } from "./worker_timings.ts";

/** Lifecycle states. */
export type WorkerState = "Init" | "Running" | "StartFailed" | "Stopped";

/** What {@linkcode createWorker} needs. */
export interface WorkerOptions {
  /** The engine, built but not started. The worker owns its lifecycle from now on. */
  engine: LLMEngine;
  /** How to serve it; validated by `createWorker` (throws `InvalidArgument`). */
  config: WorkerConfigInput;
  /** Where the worker registers its model card and instance record. */
  discovery: Discovery;
  /** Where the worker serves its endpoint. */
  requestPlane: RequestPlane;
  /**
   * Where the engine's KV events and load metrics go (through the services handle passed
   * to `engine.start`); absent: the engine gets a handle that publishes nowhere.
   */
  eventPlane?: EventPlane;
  /** Registry for the worker's metrics (shared with a `/metrics` endpoint); a new one when absent. */
  metrics?: MetricsRegistry;
  /** Logger; every record gets `worker_id`. Default: info level to stderr. */
  logger?: Logger;
  /** Decimal 64-bit id; random when absent. */
  instanceId?: string;
  /**
   * Overrides of the shutdown and canary timings; absent fields take the defaults
   * (`createWorker` reads no environment: pass {@linkcode workerTimingsFromEnv} for that).
   */
  timings?: Partial<WorkerTimings>;
  /** Parsed `DYN_HEALTH_CHECK_PAYLOAD`, if set. */
  healthCheckPayloadFromEnv?: Record<string, unknown>;
  /** Extra model-card fields (tokenizer files, EOS ids). */
  modelCard?: Partial<ModelCardInput>;
  /** Enables the idle-time health canary (default true). */
  healthCanary?: boolean;
  /** Marks the canary's timer as not keeping the process alive (the runtime's `unrefTimer`). */
  unrefTimer?(timer: ReturnType<typeof setTimeout>): void;
  /**
   * Reads model files named in `modelCard.files`, to validate them at start (`run()` passes
   * the runtime's). Without it and without `resourceLoader`, files are not checked at start.
   */
  readFile?: (path: string) => Promise<Uint8Array>;
  /** A resource loader shared with an in-process frontend (validated at start, then cached). */
  resourceLoader?: ModelResourceLoader;
}

/** A running worker. */
export interface Worker {
  /** Decimal 64-bit id of this instance, as in its discovery keys. */
  readonly instanceId: string;
  /** The validated configuration. */
  readonly config: WorkerConfig;
  /** Lifecycle state: `Init → Running | StartFailed → Stopped`. */
  readonly state: WorkerState;
  /** Set once `start()` succeeded. */
  readonly engineConfig: EngineConfig | undefined;
  /** Requests in flight. */
  readonly inflight: number;
  /** False after a failed canary, once shutdown began, and when not running. */
  readonly ready: boolean;
  /** True once admission stopped (new requests are refused as `worker_draining`). */
  readonly draining: boolean;
  /** The registry holding the worker's metrics (the one passed in, or its own). */
  readonly metrics: MetricsRegistry;
  /**
   * Starts the engine (exactly once), then serves and registers. A start failure runs
   * `cleanup()` once and rejects with `EngineShutdown`. When shutdown was requested
   * during start, resolves without serving.
   */
  start(): Promise<void>;
  /**
   * The graceful shutdown sequence; resolves with the exit code: 0, or 911 when the
   * deadline passed. Idempotent: later calls return the same promise.
   */
  shutdown(): Promise<number>;
}
