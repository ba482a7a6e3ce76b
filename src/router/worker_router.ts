/**
 * The worker router: picks a worker for a request with a {@linkcode RoutingPolicy},
 * applies admission (per-worker in-flight limits), sends the request on the
 * {@linkcode RequestPlane}, and keeps a worker that failed on the request path out of
 * the rotation for a while (Dynamo: 5 s) while discovery catches up.
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { RequestPlane, ResponseStream } from "../request_plane/request_plane.ts";
import type { GenerateRequestInput } from "../engine/generate_request.ts";
import { canMigrate, MigratingStream } from "./migrating_stream.ts";
import { DirectPolicy } from "./direct_policy.ts";
import { LeastLoadedPolicy } from "./least_loaded_policy.ts";
import { RandomPolicy } from "./random_policy.ts";
import { RoundRobinPolicy } from "./round_robin_policy.ts";
import { RouterMode, type RoutingPolicy } from "./routing_policy.ts";
import type { RoutingTable, WorkerSlot } from "./routing_table.ts";

/** How long a worker is skipped after a request-path failure, as in Dynamo. */
export const DEFAULT_COOLDOWN_MS = 5000;

/** The `code` of the refusal when every worker of the model is at its in-flight limit. */
export const ALL_WORKERS_BUSY = "all_workers_busy";

/** The `code` of the refusal when no worker of the model (or the named one) is ready. */
export const NO_READY_WORKERS = "no_ready_workers";

/** Creates the policy for a `--router-mode` name. */
export function createRoutingPolicy(mode: string): RoutingPolicy {
  switch (mode) {
    case RouterMode.roundRobin:
      return new RoundRobinPolicy();
    case RouterMode.random:
      return new RandomPolicy();
    case RouterMode.leastLoaded:
      return new LeastLoadedPolicy();
    case RouterMode.direct:
      return new DirectPolicy();
  }
  throw new SluiceError(
    "InvalidArgument",
    `Cannot create router: unknown mode "${mode}" (known: ${Object.values(RouterMode).join(", ")})`,
    { param: "--router-mode" },
  );
}

/** Options for {@linkcode WorkerRouter}. */
export interface WorkerRouterOptions {
  table: RoutingTable;
  requestPlane: RequestPlane;
  /** A mode name or a policy; default round-robin. */
  policy?: RoutingPolicy | string;
  /**
   * In-flight limit for workers whose instance record advertises none
   * (`max_inflight_requests`); default unlimited.
   */
  maxInflightPerWorker?: number;
  /** Cool-down after a request-path failure in ms (default {@linkcode DEFAULT_COOLDOWN_MS}). */
  cooldownMs?: number;
  /** Clock in ms (default `performance.now`). */
  now?: () => number;
  /**
   * Whether a worker is ready (e.g. `Worker.ready` in the embedded stack: false after a
   * failed health canary or once its shutdown began). Not-ready workers are never routed
   * to. MUST be synchronous and cheap: it runs per worker on every request. Default: every
   * worker is ready.
   */
  isReady?: (instanceId: string) => boolean;
  /** Called once per migrated stream (after the continuation was placed elsewhere). */
  onMigrate?: (model: string, fromInstanceId: string) => void;
  logger?: Logger;
}

/** Per-request routing options. */
export interface RouteOptions {
  /** Request id, propagated to the worker. */
  id?: string;
  headers?: Record<string, string>;
  /** Aborting it kills the request end to end (client disconnect). */
  signal?: AbortSignal;
  /** The instance the client named (`x-worker-instance-id`), for direct routing. */
  instanceId?: string;
  /** Prompt token ids, for prompt-aware policies. */
  tokenIds?: readonly number[];
  /** Instances never to place this request on (e.g. the workers a migration left). */
  exclude?: ReadonlySet<string>;
}

/** A request the router placed on a worker. */
export interface RoutedStream {
  readonly instanceId: string;
  readonly stream: ResponseStream;
  /**
   * Ends the router's accounting for the request; MUST be called once the stream is done
   * (later calls are ignored). Pass the error the stream failed with, if any: a
   * `Disconnected` or `CannotConnect` one puts the worker in cool-down.
   */
  release(error?: unknown): void;
}

function isGenerateInput(payload: unknown): payload is GenerateRequestInput {
  return typeof payload === "object" && payload !== null &&
    Array.isArray((payload as { token_ids?: unknown }).token_ids);
}

function isPathFailure(error: SluiceError): boolean {
  return error.kind === "Disconnected" || error.kind === "CannotConnect";
}

/** A worker-side admission refusal: the worker is at its own in-flight limit. */
function isOverloaded(error: SluiceError): boolean {
  return error.kind === "EngineShutdown" && error.code === "worker_overloaded";
}

function isRetryable(error: SluiceError): boolean {
  return isPathFailure(error) || isOverloaded(error) ||
    (error.kind === "EngineShutdown" && error.code === "worker_draining");
}

/** The admission refusal: every worker (or the one named by a direct request) is busy. */
function allBusy(direct: boolean, instanceId: string | undefined, cause?: SluiceError) {
  return new SluiceError(
    "EngineShutdown",
    direct
      ? `Service temporarily unavailable: worker ${instanceId} is busy`
      : "Service temporarily unavailable: all workers are busy",
    { code: ALL_WORKERS_BUSY, cause },
  );
}

/**
 * Routes requests over the workers of a {@linkcode RoutingTable}.
 *
 * @example
 * ```ts ignore
 * const router = new WorkerRouter({ table, requestPlane, policy: "least-loaded" });
 * const routed = await router.route("sample-model", { token_ids: [1], model: "sample-model" });
 * try {
 *   for await (const chunk of routed.stream) console.log(chunk.token_ids);
 * } finally {
 *   routed.release();
 * }
 * ```
 */
export class WorkerRouter {
  readonly policy: RoutingPolicy;
  #table: RoutingTable;
  #plane: RequestPlane;
  #defaultLimit: number;
  #cooldownMs: number;
  #now: () => number;
  #isReady: (instanceId: string) => boolean;
  #onMigrate: ((model: string, fromInstanceId: string) => void) | undefined;
  #logger: Logger | undefined;

  constructor(options: WorkerRouterOptions) {
    this.#table = options.table;
    this.#plane = options.requestPlane;
    this.policy = typeof options.policy === "object"
      ? options.policy
      : createRoutingPolicy(options.policy ?? RouterMode.roundRobin);
    this.#defaultLimit = options.maxInflightPerWorker ?? Infinity;
    this.#cooldownMs = options.cooldownMs ?? DEFAULT_COOLDOWN_MS;
    this.#now = options.now ?? (() => performance.now());
    this.#isReady = options.isReady ?? (() => true);
    this.#onMigrate = options.onMigrate;
    this.#logger = options.logger;
  }

  /** The in-flight limit that applies to `slot`. */
  limitOf(slot: WorkerSlot): number {
    return slot.record.max_inflight_requests ?? this.#defaultLimit;
  }

  /**
   * Whether `slot`'s worker is ready: its published instance record does not say
   * `ready: false` (its health canary failed, as seen from any process) and the injected
   * predicate agrees (always true by default).
   */
  isReady(slot: WorkerSlot): boolean {
    return slot.record.ready !== false && this.#isReady(slot.instanceId);
  }

  /** True while `slot` is in cool-down after a failure. */
  coolingDown(slot: WorkerSlot): boolean {
    return this.#now() < slot.cooldownUntil;
  }

  /** Puts a worker in cool-down (after a request-path failure seen elsewhere). */
  markFailed(slot: WorkerSlot): void {
    slot.cooldownUntil = this.#now() + this.#cooldownMs;
    this.#logger?.warn("worker failed on the request path; skipping it for a while", {
      instance_id: slot.instanceId,
      seconds: this.#cooldownMs / 1000,
    });
  }

  /**
   * Picks a worker for `model` and sends `payload`; resolves once the worker accepted.
   * Retries on another worker when one cannot be reached, is draining or is overloaded
   * (nothing was generated yet, so this is safe); direct routing never retries elsewhere.
   *
   * @throws {SluiceError} `EngineShutdown` with code `all_workers_busy` when every worker is
   * at its limit, here or by its own refusal (`worker_overloaded`, e.g. a worker shared with
   * another frontend); `EngineShutdown` with code `no_ready_workers` when the only workers
   * left are not ready; `CannotConnect` (`no_workers`) when none is available; `InvalidArgument`
   * for a direct request without or with an unknown instance id; the worker's refusal.
   *
   * When the model card's `migration_limit` is above 0 (and the request is not guided, has one
   * choice and is not directly routed), the stream migrates: a `Disconnected` break before the
   * end is resent to another worker with the tokens so far appended (see `MigratingStream`).
   */
  async route(model: string, payload: unknown, options: RouteOptions = {}): Promise<RoutedStream> {
    const first = await this.#place(model, payload, options);
    const limit = this.#table.card(model)?.migration_limit ?? 0;
    if (limit === 0 || this.policy.targetsInstance || !isGenerateInput(payload)) return first;
    if (!canMigrate(payload)) return first;
    const stream = new MigratingStream(first, payload, {
      limit,
      place: (next, exclude) =>
        this.#place(model, next, { ...options, exclude, tokenIds: next.token_ids }),
      onMigrate: (from) => {
        this.#logger?.warn("stream broke off; migrated the request to another worker", {
          request_id: stream.id,
          from_instance_id: from,
          to_instance_id: stream.instanceId,
        });
        this.#onMigrate?.(model, from);
      },
    });
    return {
      get instanceId() {
        return stream.instanceId;
      },
      stream,
      release: (error?: unknown) => stream.release(error),
    };
  }

  async #place(model: string, payload: unknown, options: RouteOptions): Promise<RoutedStream> {
    const tried = new Set<WorkerSlot>();
    let lastError: SluiceError | undefined;
    let allOverloaded = true;
    while (true) {
      const slot = this.#pick(model, options, tried, lastError, allOverloaded);
      tried.add(slot);
      slot.inflight++;
      let stream: ResponseStream;
      try {
        stream = await this.#plane.call(slot.record.transport, payload, {
          id: options.id,
          headers: options.headers,
          signal: options.signal,
        });
      } catch (error) {
        slot.inflight--;
        const typed = toSluiceError(error);
        if (isPathFailure(typed)) this.markFailed(slot);
        if (this.policy.targetsInstance || !isRetryable(typed) || options.signal?.aborted) {
          throw typed;
        }
        lastError = typed;
        if (!isOverloaded(typed)) allOverloaded = false;
        continue;
      }
      let released = false;
      return {
        instanceId: slot.instanceId,
        stream,
        release: (error?: unknown) => {
          if (released) return;
          released = true;
          slot.inflight--;
          if (error !== undefined && isPathFailure(toSluiceError(error))) this.markFailed(slot);
        },
      };
    }
  }

  #pick(
    model: string,
    options: RouteOptions,
    tried: ReadonlySet<WorkerSlot>,
    lastError: SluiceError | undefined,
    allOverloaded: boolean,
  ): WorkerSlot {
    const workers = this.#table.workers(model);
    const direct = this.policy.targetsInstance === true;
    if (direct && options.instanceId === undefined) {
      throw new SluiceError(
        "InvalidArgument",
        "Cannot route request: direct routing needs the x-worker-instance-id header",
        { param: "x-worker-instance-id", code: "missing_instance_id" },
      );
    }
    const candidates: WorkerSlot[] = [];
    let busy = 0;
    let cooling = 0;
    let notReady = 0;
    for (const slot of workers) {
      if (tried.has(slot) || options.exclude?.has(slot.instanceId)) continue;
      if (direct && slot.instanceId !== options.instanceId) continue;
      if (!this.isReady(slot)) {
        notReady++;
        continue;
      }
      if (!direct && this.coolingDown(slot)) {
        cooling++;
        continue;
      }
      if (slot.inflight >= this.limitOf(slot)) busy++;
      else candidates.push(slot);
    }
    const chosen = candidates.length > 0
      ? this.policy.select(candidates, {
        model,
        instanceId: options.instanceId,
        tokenIds: options.tokenIds,
      })
      : undefined;
    if (chosen !== undefined) return chosen;
    if (lastError !== undefined) {
      // Every worker tried refused as overloaded and every other one is at its limit here:
      // that is "all workers are busy", whoever holds their capacity.
      if (allOverloaded && cooling === 0) throw allBusy(direct, options.instanceId, lastError);
      throw lastError;
    }
    if (direct && busy === 0 && notReady === 0) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot route request: instance ${options.instanceId} does not serve model "${model}"`,
        { param: "x-worker-instance-id", code: "instance_not_found" },
      );
    }
    if (busy > 0) throw allBusy(direct, options.instanceId);
    if (notReady > 0) {
      throw new SluiceError(
        "EngineShutdown",
        direct
          ? `Service temporarily unavailable: worker ${options.instanceId} is not ready`
          : `Service temporarily unavailable: no worker of model "${model}" is ready`,
        { code: NO_READY_WORKERS },
      );
    }
    throw new SluiceError(
      "CannotConnect",
      workers.length === 0
        ? `Cannot route request: no worker serves model "${model}"`
        : `Cannot route request: every worker of model "${model}" failed recently`,
      { code: "no_workers" },
    );
  }
}
