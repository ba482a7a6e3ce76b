/**
 * The worker: runs one engine through its lifecycle, serves it on the request
 * plane, registers it in discovery, and shuts it down gracefully.
 *
 *     Init → Running | StartFailed → Stopped
 *
 * Over 400 lines on purpose: `createWorker` is one state machine (start, serve,
 * admission, shutdown sequence) whose steps share its closure state; the pieces
 * that stand alone live beside it (timings, model card, metrics, canary, requests).
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { LLMEngine } from "../engine/engine.ts";
import { type EngineConfig, EngineConfigSchema } from "../engine/engine_config.ts";
import { parseGenerateRequest } from "../engine/generate_request.ts";
import {
  parseWorkerConfig,
  type WorkerConfig,
  type WorkerConfigInput,
} from "../engine/worker_config.ts";
import {
  type Discovery,
  discoveryKey,
  DiscoveryPrefix,
  newInstanceId,
} from "../discovery/discovery.ts";
import { createLogger, type Logger } from "../logging/logger.ts";
import { MetricsRegistry } from "../metrics/metrics_registry.ts";
import type { InstanceRecord, ModelCardInput } from "../model_card/model_card.ts";
import type { RequestPlane, ServedEndpoint } from "../request_plane/request_plane.ts";
import { resolveHealthCheckPayload, startHealthCanary } from "./health_canary.ts";
import { InflightTracker } from "./inflight_tracker.ts";
import { serveRequest } from "./serve_request.ts";
import {
  bounded,
  SHUTDOWN_DEADLINE_EXIT,
  STEP_TIMEOUT_MS,
  type WorkerTimings,
} from "./worker_timings.ts";
import { buildModelCard } from "./build_model_card.ts";
import { checkModelResources } from "./check_model_resources.ts";
import type { ModelResourceLoader } from "../frontend/model_resources.ts";
import { createWorkerMetrics, type EndpointLabels } from "./worker_metrics.ts";

export { SHUTDOWN_DEADLINE_EXIT, workerTimingsFromEnv } from "./worker_timings.ts";
export type { WorkerTimings } from "./worker_timings.ts";

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

/** Creates a worker; nothing happens until `start()`. */
export function createWorker(options: WorkerOptions): Worker {
  const config = parseWorkerConfig(options.config);
  const instanceId = options.instanceId ?? newInstanceId();
  const engine = options.engine;
  const registry = options.metrics ?? new MetricsRegistry();
  const metrics = createWorkerMetrics(registry);
  const timings: WorkerTimings = {
    gracePeriodMs: 5000,
    shutdownTimeoutMs: 30000,
    canaryWaitMs: 10000,
    canaryTimeoutMs: 3000,
    ...options.timings,
  };
  const logger = (options.logger ?? createLogger()).child({ worker_id: instanceId });
  const inflight = new InflightTracker();
  const path = {
    namespace: config.namespace,
    component: config.component,
    endpoint: config.endpoint,
  };
  const keys = {
    instance: discoveryKey(DiscoveryPrefix.instances, path, instanceId),
    card: discoveryKey(DiscoveryPrefix.modelCards, path, instanceId),
  };
  let state: WorkerState = "Init";
  let engineConfig: EngineConfig | undefined;
  let labels: EndpointLabels = {
    ...config.metrics_labels,
    ...path,
    worker_id: instanceId,
    model: config.model_name,
  };
  let served: ServedEndpoint | undefined;
  let draining = false;
  let healthy = true;
  let startPromise: Promise<void> | undefined;
  let shutdownPromise: Promise<number> | undefined;
  let cleanupPromise: Promise<void> | undefined;
  let stopCanary = () => {};
  /** The instance record as last published; its `ready` follows the canary. */
  let record: InstanceRecord | undefined;
  /** Readiness publications, one at a time and in order. */
  let publishing: Promise<void> = Promise.resolve();
  /** Set before unregistering: no publication may re-register the instance after it. */
  let withdrawn = false;

  /**
   * Publishes the canary's verdict in the instance record (`ready`), so a frontend in
   * another process stops routing to this worker while it fails and resumes after.
   */
  const publishReadiness = (ready: boolean) => {
    publishing = publishing.then(async () => {
      if (withdrawn || record === undefined || record.ready === ready) return;
      const next: InstanceRecord = { ...record, ready };
      try {
        await options.discovery.register(keys.instance, next);
        record = next;
        logger.info("readiness published", { ready });
      } catch (error) {
        logger.warn("cannot publish readiness; will retry on the next canary", {
          ready,
          error: String(error),
        });
      }
    });
  };
  /** Stops readiness publication and waits for the one in progress (bounded). */
  const withdraw = async () => {
    withdrawn = true;
    await bounded(publishing, STEP_TIMEOUT_MS);
  };
  let removeStatsCollector = () => {};

  const cleanupOnce = () => {
    cleanupPromise ??= (async () => {
      removeStatsCollector();
      const t0 = performance.now();
      try {
        await engine.cleanup();
      } catch (error) {
        logger.error("engine cleanup() failed", { error: String(error) });
      }
      metrics.cleanupTime.set(labels, (performance.now() - t0) / 1000);
    })();
    return cleanupPromise;
  };

  const handler = (incoming: Parameters<typeof serveRequest>[0]) =>
    serveRequest(incoming, {
      engine,
      engineConfig: engineConfig!,
      logger,
      metrics,
      labels,
      inflight,
      admission: () =>
        draining || state !== "Running"
          ? new SluiceError("EngineShutdown", "Cannot accept request: worker draining", {
            code: "worker_draining",
          })
          : config.max_inflight_requests !== undefined &&
              inflight.count >= config.max_inflight_requests
          ? new SluiceError("EngineShutdown", "Cannot accept request: worker overloaded", {
            code: "worker_overloaded",
          })
          : undefined,
    });

  const serveAndRegister = async (payload: Record<string, unknown>) => {
    served = await options.requestPlane.serve({ ...path, instanceId }, handler);
    const initial: InstanceRecord = {
      ...path,
      instance_id: instanceId,
      transport: served.address,
      ready: true,
    };
    if (config.max_inflight_requests !== undefined) {
      initial.max_inflight_requests = config.max_inflight_requests;
    }
    const card = buildModelCard({
      config,
      engineConfig: engineConfig!,
      instanceId,
      extra: options.modelCard,
    });
    await options.discovery.register(keys.card, card);
    await options.discovery.register(keys.instance, initial);
    record = initial;
    logger.info("worker serving", { model: card.served_model_name, endpoint: keys.instance });
    if (options.healthCanary !== false) {
      stopCanary = startHealthCanary({
        payload,
        handle: handler,
        idleMs: () => inflight.count > 0 ? 0 : performance.now() - inflight.lastActivity,
        waitMs: timings.canaryWaitMs,
        timeoutMs: timings.canaryTimeoutMs,
        unrefTimer: options.unrefTimer,
        onResult(ok, error) {
          metrics.canaries.inc({ ...labels, result: ok ? "ok" : "failed" });
          metrics.healthy.set(labels, ok ? 1 : 0);
          if (ok && !healthy) logger.info("health canary recovered");
          if (!ok && healthy) {
            logger.warn("health canary failed; worker marked not ready", { error: String(error) });
          }
          healthy = ok;
          publishReadiness(ok);
        },
      });
    }
  };

  /** Undoes a start that cannot serve: stop serving, unregister what was registered, clean up. */
  const abandonStart = async () => {
    stopCanary();
    draining = true;
    await withdraw();
    await bounded(
      Promise.allSettled([
        options.discovery.unregister(keys.instance),
        options.discovery.unregister(keys.card),
        served?.close(),
      ]),
      STEP_TIMEOUT_MS,
    );
    await inflight.idle();
    await cleanupOnce();
    state = "Stopped";
  };

  const start = () => {
    if (startPromise) {
      return Promise.reject(new TypeError("Cannot start worker: start() was already called"));
    }
    startPromise = (async () => {
      try {
        // Before the (possibly long) engine start: a broken template or tokenizer file
        // fails the start instead of a worker that is healthy while every request fails.
        await checkModelResources({
          model: config.served_model_name ?? config.model_name,
          customChatTemplate: config.custom_jinja_template,
          files: options.modelCard?.files,
          eosTokenIds: options.modelCard?.eos_token_ids,
          loader: options.resourceLoader,
          readFile: options.readFile,
        });
      } catch (error) {
        state = "StartFailed";
        logger.error("model resources invalid", { error: toSluiceError(error).message });
        await cleanupOnce();
        state = "Stopped";
        throw error;
      }
      logger.info("engine starting");
      const t0 = performance.now();
      try {
        engineConfig = EngineConfigSchema.parse(await engine.start(instanceId));
      } catch (error) {
        state = "StartFailed";
        logger.error("engine start() failed", { error: String(error) });
        await cleanupOnce();
        state = "Stopped";
        throw new SluiceError(
          "EngineShutdown",
          `Cannot start engine: ${toSluiceError(error).message}`,
          {
            cause: error,
          },
        );
      }
      state = "Running";
      labels = { ...labels, model: engineConfig.served_model_name ?? engineConfig.model };
      metrics.modelLoadTime.set(labels, (performance.now() - t0) / 1000);
      metrics.healthy.set(labels, 1);
      if (engineConfig.total_kv_blocks !== undefined) {
        metrics.kvTotalBlocks.set(labels, engineConfig.total_kv_blocks);
      }
      if (engine.stats !== undefined) {
        const statsLabels = labels;
        removeStatsCollector = registry.addCollector(() => {
          const s = engine.stats!();
          if (s.kv_usage !== undefined) metrics.kvUsage.set(statsLabels, s.kv_usage * 100);
          if (s.waiting_requests !== undefined) {
            metrics.waiting.set(statsLabels, s.waiting_requests);
          }
          if (s.running_requests !== undefined) {
            metrics.running.set(statsLabels, s.running_requests);
          }
          if (s.kv_cache_hit_rate !== undefined) {
            metrics.kvHitRate.set(statsLabels, s.kv_cache_hit_rate);
          }
        });
      }
      logger.info("engine started", { seconds: ((performance.now() - t0) / 1000).toFixed(3) });
      if (shutdownPromise) {
        logger.info("shutdown requested during start; not serving");
        return;
      }
      let payload: Record<string, unknown>;
      try {
        payload = resolveHealthCheckPayload({
          fromConfig: config.health_check_payload,
          fromEnv: options.healthCheckPayloadFromEnv,
          engine,
          model: engineConfig.model,
        });
        parseGenerateRequest(payload);
      } catch (error) {
        await abandonStart();
        const typed = toSluiceError(error);
        throw new SluiceError(
          "InvalidArgument",
          `Cannot use health check payload: ${typed.message}`,
          {
            param: "--health-check-payload",
            cause: error,
          },
        );
      }
      try {
        await serveAndRegister(payload);
      } catch (error) {
        await abandonStart();
        throw new SluiceError(
          "CannotConnect",
          `Cannot serve worker: ${toSluiceError(error).message}`,
          {
            cause: error,
          },
        );
      }
    })();
    return startPromise;
  };

  const sequence = async () => {
    stopCanary();
    await withdraw();
    const wasServing = served !== undefined;
    try {
      const unregistered = await bounded(
        Promise.all([
          options.discovery.unregister(keys.instance),
          options.discovery.unregister(keys.card),
        ]),
        STEP_TIMEOUT_MS,
      );
      if (!unregistered) {
        logger.warn("unregistering from discovery timed out; continuing shutdown", {
          seconds: STEP_TIMEOUT_MS / 1000,
        });
      }
    } catch (error) {
      logger.warn("cannot unregister from discovery; continuing shutdown", {
        error: String(error),
      });
    }
    if (wasServing && timings.gracePeriodMs > 0) {
      logger.info("grace period", {
        seconds: timings.gracePeriodMs / 1000,
        inflight: inflight.count,
      });
      await new Promise((resolve) => setTimeout(resolve, timings.gracePeriodMs));
    }
    draining = true;
    logger.info("admission stopped; waiting for in-flight requests", { inflight: inflight.count });
    await inflight.idle();
    if (engine.drain) {
      const t0 = performance.now();
      try {
        await engine.drain();
      } catch (error) {
        logger.warn("engine drain() failed", { error: String(error) });
      }
      metrics.drainTime.set(labels, (performance.now() - t0) / 1000);
    }
    await cleanupOnce();
    try {
      await served?.close();
    } catch (error) {
      logger.warn("cannot close the served endpoint", { error: String(error) });
    }
    state = "Stopped";
    logger.info("worker stopped");
  };

  const shutdown = () => {
    shutdownPromise ??= (async () => {
      logger.info("shutdown requested", { state });
      if (startPromise) await startPromise.catch(() => {});
      if (state === "Init" || state === "Stopped") {
        state = "Stopped";
        return 0;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadlineMs = timings.gracePeriodMs + timings.shutdownTimeoutMs;
      const deadline = new Promise<number>((resolve) => {
        timer = setTimeout(() => resolve(SHUTDOWN_DEADLINE_EXIT), deadlineMs);
      });
      try {
        const code = await Promise.race([sequence().then(() => 0), deadline]);
        if (code !== 0) {
          logger.error("graceful shutdown missed its deadline", {
            seconds: deadlineMs / 1000,
            inflight: inflight.count,
          });
        }
        return code;
      } finally {
        clearTimeout(timer);
      }
    })();
    return shutdownPromise;
  };

  return {
    instanceId,
    config,
    get state() {
      return state;
    },
    get engineConfig() {
      return engineConfig;
    },
    get inflight() {
      return inflight.count;
    },
    get draining() {
      return draining;
    },
    get ready() {
      return state === "Running" && !draining && healthy && shutdownPromise === undefined;
    },
    metrics: registry,
    start,
    shutdown,
  };
}
