/**
 * The worker: runs one engine through its lifecycle, serves it on the request
 * plane, registers it in discovery, and shuts it down gracefully.
 *
 *     Init → Running | StartFailed → Stopped
 *
 * `createWorker` is one state machine (start, serve, shutdown sequence) whose steps
 * share its closure state; the pieces that stand alone live beside it (timings,
 * model card, metrics, canary, requests, admission, readiness publication, engine
 * stats, shutdown steps).
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import { type EngineConfig, EngineConfigSchema } from "../engine/engine_config.ts";
import { parseGenerateRequest } from "../engine/generate_request.ts";
import { parseWorkerConfig } from "../engine/worker_config.ts";
import { discoveryKey, DiscoveryPrefix, newInstanceId } from "../discovery/discovery.ts";
import { createLogger } from "../logging/logger.ts";
import { MetricsRegistry } from "../metrics/metrics_registry.ts";
import type { InstanceRecord } from "../model_card/model_card.ts";
import type { ServedEndpoint } from "../request_plane/request_plane.ts";
import { resolveHealthCheckPayload, startHealthCanary } from "./health_canary.ts";
import { InflightTracker } from "./inflight_tracker.ts";
import { serveRequest } from "./serve_request.ts";
import { bounded, STEP_TIMEOUT_MS, type WorkerTimings } from "./worker_timings.ts";
import { buildModelCard } from "./build_model_card.ts";
import { checkModelResources } from "./check_model_resources.ts";
import { createEngineServices, type EngineServicesHandle } from "../kv/kv_publisher.ts";
import { createWorkerMetrics, type EndpointLabels } from "./worker_metrics.ts";
import { createReadinessPublisher } from "./readiness_publisher.ts";
import { collectEngineStats } from "./engine_stats_collector.ts";
import { unregisterWorker, withShutdownDeadline } from "./worker_shutdown_steps.ts";
import { admissionError } from "./worker_admission.ts";

export { SHUTDOWN_DEADLINE_EXIT, workerTimingsFromEnv } from "./worker_timings.ts";
export type { WorkerTimings } from "./worker_timings.ts";

import type { Worker, WorkerOptions, WorkerState } from "./worker_options.ts";

export type { Worker, WorkerOptions, WorkerState } from "./worker_options.ts";

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
  /** The instance record's `ready`, following the canary; withdrawn before unregistering. */
  const readiness = createReadinessPublisher({
    discovery: options.discovery,
    key: keys.instance,
    logger,
  });
  // Created when the engine starts (it subscribes to resync queries); closed after cleanup.
  let services: EngineServicesHandle | undefined;
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
      await services?.close();
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
        admissionError({
          draining,
          running: state === "Running",
          inflight: inflight.count,
          maxInflight: config.max_inflight_requests,
        }),
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
    readiness.record = initial;
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
          readiness.publish(ok);
        },
      });
    }
  };

  /** Undoes a start that cannot serve: stop serving, unregister what was registered, clean up. */
  const abandonStart = async () => {
    stopCanary();
    draining = true;
    await readiness.withdraw();
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
        services = createEngineServices({
          workerId: instanceId,
          eventPlane: options.eventPlane,
          namespace: config.namespace,
          component: config.component,
          logger,
        });
        engineConfig = EngineConfigSchema.parse(await engine.start(instanceId, services.services));
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
      removeStatsCollector = collectEngineStats(registry, engine, metrics, labels);
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
    await readiness.withdraw();
    const wasServing = served !== undefined;
    await unregisterWorker(options.discovery, keys, logger);
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
      const deadlineMs = timings.gracePeriodMs + timings.shutdownTimeoutMs;
      return await withShutdownDeadline(
        sequence,
        deadlineMs,
        () =>
          logger.error("graceful shutdown missed its deadline", {
            seconds: deadlineMs / 1000,
            inflight: inflight.count,
          }),
      );
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
