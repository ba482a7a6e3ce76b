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
import { bodyLimit } from "hono/body-limit";
import type { Discovery } from "../discovery/discovery.ts";
import { ErrorCode, SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import { MetricsRegistry } from "../metrics/metrics_registry.ts";
import type { RequestPlane } from "../request_plane/request_plane.ts";
import { WORKER_INSTANCE_HEADER } from "../router/direct_policy.ts";
import type { RoutingPolicy } from "../router/routing_policy.ts";
import { RoutingTable } from "../router/routing_table.ts";
import { WorkerRouter } from "../router/worker_router.ts";
import { accessControl } from "./access_control.ts";
import type { EventPlane } from "../event_plane/event_plane.ts";
import { createKvRouting, type KvRouting } from "../router/kv_routing.ts";
import { createFrontendMetrics, type FrontendMetrics } from "./frontend_metrics.ts";
import { InflightGenerations, shutdownDeadlineError } from "./inflight_generations.ts";
import { serveGeneration } from "./generation_handler.ts";
import { ModelResourceLoader } from "./model_resources.ts";
import { errorResponse, httpErrorFrom, openAIError } from "./openai_error.ts";
import {
  type ChatCompletionRequest,
  ChatCompletionRequestSchema,
  type CompletionRequest,
  CompletionRequestSchema,
  parseOpenAIRequest,
} from "./openai_request.ts";
import { completionPrompts, prepareChoices, serveChoices } from "./multi_choice.ts";
import {
  chatTexts,
  prepareChatCompletion,
  prepareCompletion,
  type PrepareContext,
  renderChatPrompt,
} from "./preprocessor.ts";
import { checkPromptSize, encodeYielding } from "./prompt_tokens.ts";

/** Decodes request bodies; invalid UTF-8 is an error, never silently replaced. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Default request body limit: 8 MiB (a long-context prompt is well under). */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

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

type Kind = "chat" | "completions";

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
  const firstSeen = new Map<string, number>();
  const onTableChange = () => {
    for (const model of table.models()) {
      if (firstSeen.has(model)) continue;
      firstSeen.set(model, Math.floor(Date.now() / 1000));
      // Load the tokenizer now, so the first request does not pay for it.
      loader.get(table.card(model)!).catch((error) =>
        logger?.warn("cannot load model files", { model, error: String(error) })
      );
    }
    for (const model of firstSeen.keys()) {
      if (table.workers(model).length === 0) firstSeen.delete(model);
    }
  };
  const unsubscribe = table.subscribe(onTableChange);
  onTableChange();
  const inflight = new InflightGenerations();
  const deps = { router, metrics, logger, sseBufferLimit: options.sseBufferLimit, inflight };

  const modelObject = (id: string) => ({
    id,
    object: "model",
    created: firstSeen.get(id) ?? Math.floor(Date.now() / 1000),
    owned_by: "sluice",
  });
  const app = new Hono();
  for (const middleware of accessControl(options)) app.use(middleware);
  const limit = bodyLimit({
    maxSize: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    onError: () => {
      metrics.errors.inc({ model: "", error_type: "request_too_large" });
      return errorResponse(
        openAIError(
          413,
          `Invalid request: the body exceeds ${
            options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
          } bytes`,
          {
            code: ErrorCode.RequestTooLarge,
          },
        ),
      );
    },
  });
  const generate = (kind: Kind) => (c: Context) =>
    handleGeneration(c, kind, table, loader, metrics, deps);
  app.post("/v1/chat/completions", limit, generate("chat"));
  app.post("/v1/completions", limit, generate("completions"));
  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: table.models().map(modelObject),
    }));
  app.get("/v1/models/:model{.+}", (c) => {
    const id = c.req.param("model");
    if (!table.models().includes(id)) {
      return errorResponse(
        openAIError(404, `The model \`${id}\` does not exist`, {
          param: "model",
          code: ErrorCode.ModelNotFound,
        }),
      );
    }
    return c.json(modelObject(id));
  });
  app.get("/health", (c) => {
    const instances = table.allWorkers().map((w) => ({
      instance_id: w.instanceId,
      namespace: w.record.namespace,
      component: w.record.component,
      endpoint: w.record.endpoint,
      model: w.card.served_model_name,
      inflight: w.inflight,
      ready: router.isReady(w),
    }));
    // Healthy while at least one known instance can take a request.
    const healthy = instances.some((i) => i.ready);
    return c.json(
      { status: healthy ? "healthy" : "unhealthy", models: table.models(), instances },
      healthy ? 200 : 503,
    );
  });
  app.get("/live", (c) => c.json({ status: "live" }));
  app.get("/metrics", () =>
    new Response(registry.render(), {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    }));
  for (
    const path of [
      "/v1/chat/completions",
      "/v1/completions",
      "/v1/models",
      "/health",
      "/live",
      "/metrics",
    ]
  ) {
    app.all(
      path,
      (c) =>
        errorResponse(openAIError(405, `Method ${c.req.method} is not allowed on ${path}`, {
          code: ErrorCode.MethodNotAllowed,
        })),
    );
  }
  app.notFound((c) =>
    errorResponse(openAIError(404, `Not found: ${c.req.method} ${new URL(c.req.url).pathname}`, {
      code: ErrorCode.NotFound,
    }))
  );
  app.onError((error) => {
    logger?.error("unhandled frontend error", { error: String(error) });
    return errorResponse(httpErrorFrom(error));
  });

  let closed: Promise<void> | undefined;
  return {
    fetch: (request) => app.fetch(request),
    table,
    router,
    metrics: registry,
    cutGenerations: (reason = shutdownDeadlineError()) => inflight.cutAll(reason),
    close: () => {
      closed ??= (async () => {
        unsubscribe();
        await kv?.close();
        await table.close();
      })();
      return closed;
    },
  };
}

async function handleGeneration(
  c: Context,
  kind: Kind,
  table: RoutingTable,
  loader: ModelResourceLoader,
  metrics: FrontendMetrics,
  deps: Parameters<typeof serveGeneration>[2],
): Promise<Response> {
  let model = "";
  try {
    let body: unknown;
    let text: string;
    try {
      text = strictUtf8.decode(await c.req.arrayBuffer());
    } catch (error) {
      throw new SluiceError("InvalidArgument", "Invalid request: the body is not valid UTF-8", {
        code: ErrorCode.InvalidJson,
        cause: error,
      });
    }
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new SluiceError(
        "InvalidArgument",
        `Invalid request: the body is not valid JSON (${(error as Error).message})`,
        {
          code: ErrorCode.InvalidJson,
          cause: error,
        },
      );
    }
    const request = kind === "chat"
      ? parseOpenAIRequest(ChatCompletionRequestSchema, body)
      : parseOpenAIRequest(CompletionRequestSchema, body);
    const card = table.card(request.model);
    if (card === undefined) {
      throw new SluiceError("InvalidArgument", `The model \`${request.model}\` does not exist`, {
        param: "model",
        code: ErrorCode.ModelNotFound,
      });
    }
    model = request.model;
    const context: PrepareContext = {
      card,
      resources: await loader.get(card),
      instanceId: c.req.header(WORKER_INSTANCE_HEADER),
      traceparent: c.req.header("traceparent"),
    };
    const { tokenizer } = context.resources;
    if (kind === "chat") {
      const chat = request as ChatCompletionRequest;
      // Refuse what cannot fit from its size, before rendering and tokenizing it.
      checkPromptSize(chatTexts(chat), tokenizer, card.context_length, "messages");
      const ids = await encodeYielding(tokenizer, renderChatPrompt(chat, context), {
        addSpecialTokens: false,
      });
      if ((chat.n ?? 1) === 1) {
        const prepared = prepareChatCompletion(chat, { ...context, promptTokenIds: ids });
        return await serveGeneration(prepared, c.req.raw, deps);
      }
      const id = `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
      const choices = prepareChoices(chat, [null], context, prepareChatCompletion, id, [ids]);
      return await serveChoices(choices, c.req.raw, deps);
    }
    const completion = request as CompletionRequest;
    const prompts = completionPrompts(completion.prompt);
    const texts = prompts.filter((p): p is string => typeof p === "string");
    checkPromptSize(texts, tokenizer, card.context_length, "prompt");
    const promptIds: (number[] | undefined)[] = [];
    for (const prompt of prompts) {
      promptIds.push(
        typeof prompt === "string"
          ? await encodeYielding(tokenizer, prompt, { addSpecialTokens: true })
          : undefined,
      );
    }
    if (prompts.length === 1 && (completion.n ?? 1) === 1) {
      const single = { ...completion, prompt: prompts[0] };
      const prepared = prepareCompletion(single, { ...context, promptTokenIds: promptIds[0] });
      return await serveGeneration(prepared, c.req.raw, deps);
    }
    const id = `cmpl-${crypto.randomUUID().replaceAll("-", "")}`;
    const choices = prepareChoices(completion, prompts, context, prepareCompletion, id, promptIds);
    return await serveChoices(choices, c.req.raw, deps);
  } catch (error) {
    const http = httpErrorFrom(error);
    const code = http.body.error.code;
    metrics.errors.inc({
      model,
      error_type: typeof code === "string" ? code : String(http.status),
    });
    return errorResponse(http);
  }
}
