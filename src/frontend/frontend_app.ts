/**
 * The OpenAI-compatible frontend: a hono app (one Web-standard `fetch` handler)
 * over the {@linkcode Discovery} and {@linkcode RequestPlane} interfaces only, so the
 * in-process planes and the distributed ones (NATS, etcd) plug in unchanged.
 *
 *     POST /v1/chat/completions   POST /v1/completions   GET /v1/models
 *     GET /health                 GET /live              GET /metrics
 *
 * Models are learned from discovery (worker model cards); there is no per-model
 * configuration. The HTTP listener is separate (`src/runtime/http_server.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import type { Discovery } from "../discovery/discovery.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import { MetricsRegistry } from "../metrics/metrics_registry.ts";
import type { RequestPlane } from "../request_plane/request_plane.ts";
import type { RoutingPolicy } from "../router/routing_policy.ts";
import { RoutingTable } from "../router/routing_table.ts";
import { WorkerRouter } from "../router/worker_router.ts";
import { accessControl } from "./access_control.ts";
import type { EventPlane } from "../event_plane/event_plane.ts";
import { createKvRouting, type KvRouting } from "../router/kv_routing.ts";
import { createFrontendMetrics } from "./frontend_metrics.ts";
import { InflightGenerations, shutdownDeadlineError } from "./inflight_generations.ts";
import { ModelResourceLoader } from "./model_resources.ts";
import { type GenerationKind, handleGeneration } from "./generation_route.ts";
import { mountModelRoutes, trackModels } from "./model_listing.ts";
import { mountStatusRoutes } from "./status_routes.ts";
import { mountFallbacks } from "./fallback_routes.ts";
import { requestBodyLimit } from "./request_body_limit.ts";

export { DEFAULT_MAX_BODY_BYTES } from "./request_body_limit.ts";

/** Options for {@linkcode createFrontend}. */
export interface FrontendOptions {
  /** Where the frontend learns workers and model cards. */
  discovery: Discovery;
  /** How requests reach the workers. */
  requestPlane: RequestPlane;
  /** `round-robin` (default), `random`, `least-loaded`, `direct`, `kv`, or a policy object. */
  routerMode?: string | RoutingPolicy;
  /** The event plane the workers publish KV events on; required by `kv` routing. */
  eventPlane?: EventPlane;
  /** `kv` routing: weight of new prefill blocks against decode blocks (default 1.0). */
  kvOverlapScoreWeight?: number;
  /** `kv` routing: softmax temperature over costs (default 0: lowest cost wins). */
  routerTemperature?: number;
  /** In-flight limit for workers that advertise none; default unlimited. */
  maxInflightPerWorker?: number;
  /** Cool-down of a worker after a request-path failure (default 5000 ms). */
  cooldownMs?: number;
  /** Registry `/metrics` renders (shared with embedded workers); a new one by default. */
  metrics?: MetricsRegistry;
  /** Request and discovery logs; a default logger when absent. */
  logger?: Logger;
  /** Largest accepted request body in bytes (default {@linkcode DEFAULT_MAX_BODY_BYTES}). */
  maxBodyBytes?: number;
  /** Reads tokenizer files named by path in model cards. */
  readTextFile?: (path: string) => Promise<string>;
  /** Reads tokenizer files named by path as raw bytes (preferred over `readTextFile`). */
  readFile?: (path: string) => Promise<Uint8Array>;
  /** Reads a byte range of a file (a GGUF file's metadata prefix without its weights). */
  readFileRange?: (path: string, start: number, end: number) => Promise<Uint8Array>;
  /** Fetches tokenizer files named by URL. */
  fetch?: typeof fetch;
  /** Bound on fetching one tokenizer file by URL (default 30 s). */
  fileFetchTimeoutMs?: number;
  /** SSE coalescing buffer bound (code units). */
  sseBufferLimit?: number;
  /** An API key every request except `publicPaths` MUST carry as `Authorization: Bearer`. */
  apiKey?: string;
  /** Paths open without the API key (default `/health`, `/live`, `/metrics`). */
  publicPaths?: readonly string[];
  /** CORS origins (`["*"]` for any); none by default (no CORS headers). */
  allowedOrigins?: readonly string[];
  /**
   * Loads model resources (tokenizer, template); one made from the file options when
   * absent. Share one with in-process workers so a model's files load once.
   */
  resourceLoader?: ModelResourceLoader;
  /**
   * Whether a worker is ready (the embedded stack passes `Worker.ready`). Not-ready
   * workers get no requests and show `"ready": false` in `/health`; default: all ready.
   */
  isReady?: (instanceId: string) => boolean;
  /** Only workers of this namespace serve requests (default: every namespace). */
  namespace?: string;
}

/** A running frontend. */
export interface Frontend {
  /** The Web-standard handler: `Deno.serve(frontend.fetch)`, `export default { fetch }`. */
  readonly fetch: (request: Request) => Response | Promise<Response>;
  /** The workers by model, as discovery reports them. */
  readonly table: RoutingTable;
  /** The router that places requests on workers. */
  readonly router: WorkerRouter;
  /** The registry `/metrics` renders. */
  readonly metrics: MetricsRegistry;
  /** Stops watching discovery. Streams in flight continue. Idempotent. */
  close(): Promise<void>;
  /**
   * Cuts every generation in flight (and every later one) with `reason` (default: the
   * shutdown-deadline error): a streaming client MUST get an `{"error": …}` frame then
   * `[DONE]`, a unary one the error body; each request's signal fires. Returns how many
   * were cut. For a shutdown past its deadline.
   */
  cutGenerations(reason?: SluiceError): number;
}

/**
 * Creates the frontend; resolves once discovery's current workers are known.
 *
 * @example
 * ```ts ignore
 * const frontend = await createFrontend({ discovery, requestPlane });
 * const res = await frontend.fetch(new Request("http://x/v1/models"));
 * ```
 */
export async function createFrontend(options: FrontendOptions): Promise<Frontend> {
  const logger = options.logger;
  const registry = options.metrics ?? new MetricsRegistry();
  const metrics = createFrontendMetrics(registry);
  const table = await RoutingTable.open(options.discovery, {
    logger,
    namespace: options.namespace,
  });
  let kv: KvRouting | undefined;
  if (options.routerMode === "kv") {
    if (options.eventPlane === undefined) {
      await table.close();
      throw new SluiceError(
        "InvalidArgument",
        "Cannot create the frontend: --router-mode kv needs an event plane",
        { param: "--router-mode" },
      );
    }
    kv = await createKvRouting({
      eventPlane: options.eventPlane,
      table,
      overlapScoreWeight: options.kvOverlapScoreWeight,
      temperature: options.routerTemperature,
      logger,
    });
  }
  const router = new WorkerRouter({
    table,
    requestPlane: options.requestPlane,
    policy: kv?.policy ?? options.routerMode,
    maxInflightPerWorker: options.maxInflightPerWorker,
    cooldownMs: options.cooldownMs,
    isReady: options.isReady,
    onMigrate: (model) => metrics.migrations.inc({ model }),
    logger,
  });
  const loader = options.resourceLoader ?? new ModelResourceLoader({
    readFile: options.readFile,
    readFileRange: options.readFileRange,
    readTextFile: options.readTextFile,
    fetch: options.fetch,
    fetchTimeoutMs: options.fileFetchTimeoutMs,
  });
  const models = trackModels(table, loader, logger);
  const inflight = new InflightGenerations();
  const deps = { router, metrics, logger, sseBufferLimit: options.sseBufferLimit, inflight };

  const app = new Hono();
  for (const middleware of accessControl(options)) app.use(middleware);
  const limit = requestBodyLimit(options.maxBodyBytes, metrics);
  const generate = (kind: GenerationKind) => (c: Context) =>
    handleGeneration(c, kind, table, loader, metrics, deps);
  app.post("/v1/chat/completions", limit, generate("chat"));
  app.post("/v1/completions", limit, generate("completions"));
  mountModelRoutes(app, table, models);
  mountStatusRoutes(app, table, router, registry);
  mountFallbacks(app, logger);

  let closed: Promise<void> | undefined;
  return {
    fetch: (request) => app.fetch(request),
    table,
    router,
    metrics: registry,
    cutGenerations: (reason = shutdownDeadlineError()) => inflight.cutAll(reason),
    close: () => {
      closed ??= (async () => {
        models.unsubscribe();
        await kv?.close();
        await table.close();
      })();
      return closed;
    },
  };
}
