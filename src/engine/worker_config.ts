/**
 * `WorkerConfig`: how the runtime serves an engine (addressing, planes,
 * health, routing hints). Returned by `EngineFactory.fromArgs` beside the engine.
 *
 * @module
 */
import { z } from "zod";
import type { Expect, IsSameType, Schema } from "./schema.ts";
import { invalidArgumentFromZod } from "./zod_error.ts";

const name = z.string().regex(/^[a-z0-9_-]+$/, {
  message: "must match [a-z0-9_-]+",
});

/**
 * A validated worker configuration (defaults filled in), Dynamo's defaults. Names in
 * `namespace`, `component` and `endpoint` MUST match `[a-z0-9_-]+`: they become parts of
 * discovery keys and transport subjects.
 */
export interface WorkerConfig {
  /** Namespace of the endpoint (default `dynamo`). */
  namespace: string;
  /** Component of the endpoint (default `backend`). */
  component: string;
  /** Endpoint name (default `generate`). */
  endpoint: string;
  /** Path or id of the tokenizer / chat-template files; published in the model card. */
  model_name: string;
  /** The name clients use; takes precedence over the engine's, then `EngineConfig.model`. */
  served_model_name?: string;
  /** Comma-separated subset of `chat,completions`: the APIs the model card offers (default both). */
  endpoint_types: string;
  /**
   * Discovery backend (default `memory`, as the embedded stack uses it). A worker process
   * (`run()`, `sluice worker`) fills it from `--discovery-backend`, then `DYN_DISCOVERY_BACKEND`,
   * then the engine's own value, then `etcd`.
   */
  discovery_backend: string;
  /**
   * Request plane (default `inprocess`). A worker process fills it from `--request-plane`,
   * then `DYN_REQUEST_PLANE`, then the engine's own value, then `nats`.
   */
  request_plane: string;
  /**
   * Event plane (default `inprocess`). A worker process fills it from `--event-plane`, then
   * `DYN_EVENT_PLANE`, then the engine's own value, then `nats`.
   */
  event_plane: string;
  /**
   * The health canary request (`--health-check-payload`); takes precedence over
   * `DYN_HEALTH_CHECK_PAYLOAD` and the engine's own. The worker refuses to start when it is
   * not a valid `GenerateRequest` once `model` is filled in.
   */
  health_check_payload?: Record<string, unknown>;
  /** KV-aware routing requested (default false). Accepted for Dynamo parity; not read by the runtime. */
  enable_kv_routing: boolean;
  /**
   * Times a router may retry a request on another worker after a disconnect (Dynamo's
   * migration; default 0); published in the model card.
   */
  migration_limit: number;
  /** Inline Jinja chat template overriding the model's; published in the model card. */
  custom_jinja_template?: string;
  /** Extra labels on every metric of this worker (default none). */
  metrics_labels: Record<string, string>;
  /** `agg` (default), `prefill` or `decode`. Accepted for Dynamo parity; not read by the runtime. */
  disaggregation_mode: "agg" | "prefill" | "decode";
  /**
   * Admission limit: requests beyond this many in flight are refused as overloaded
   * (`worker_overloaded`); advertised to routers in the instance record. Absent: no limit.
   */
  max_inflight_requests?: number;
}

/**
 * A worker configuration as engine authors write it: {@linkcode WorkerConfig} with the
 * defaulted fields optional. Only `model_name` is required.
 */
export interface WorkerConfigInput {
  /** Namespace of the endpoint (default `dynamo`). */
  namespace?: string;
  /** Component of the endpoint (default `backend`). */
  component?: string;
  /** Endpoint name (default `generate`). */
  endpoint?: string;
  /** Path or id of the tokenizer / chat-template files. */
  model_name: string;
  /** The name clients use. */
  served_model_name?: string;
  /** Comma-separated subset of `chat,completions` (default both). */
  endpoint_types?: string;
  /** Discovery backend (default `memory`). */
  discovery_backend?: string;
  /** Request plane (default `inprocess`). */
  request_plane?: string;
  /** Event plane (default `inprocess`). */
  event_plane?: string;
  /** The health canary request. */
  health_check_payload?: Record<string, unknown>;
  /** KV-aware routing requested (default false). */
  enable_kv_routing?: boolean;
  /** Times a request may move to another worker (default 0). */
  migration_limit?: number;
  /** Inline Jinja chat template overriding the model's. */
  custom_jinja_template?: string;
  /** Extra labels on every metric of this worker. */
  metrics_labels?: Record<string, string>;
  /** `agg` (default), `prefill` or `decode`. */
  disaggregation_mode?: "agg" | "prefill" | "decode";
  /** Admission limit: requests beyond this many in flight are refused as overloaded. */
  max_inflight_requests?: number;
}

const schema = z.object({
  namespace: name.default("dynamo"),
  component: name.default("backend"),
  endpoint: name.default("generate"),
  model_name: z.string().min(1),
  served_model_name: z.string().min(1).optional(),
  endpoint_types: z.string().regex(/^(chat|completions)(,(chat|completions))*$/).default(
    "chat,completions",
  ),
  discovery_backend: z.string().regex(/^[a-z0-9_-]+$/).default("memory"),
  request_plane: z.string().regex(/^[a-z0-9_-]+$/).default("inprocess"),
  event_plane: z.string().regex(/^[a-z0-9_-]+$/).default("inprocess"),
  health_check_payload: z.record(z.string(), z.unknown()).optional(),
  enable_kv_routing: z.boolean().default(false),
  migration_limit: z.number().int().min(0).default(0),
  custom_jinja_template: z.string().optional(),
  metrics_labels: z.record(z.string(), z.string()).default({}),
  disaggregation_mode: z.enum(["agg", "prefill", "decode"]).default("agg"),
  max_inflight_requests: z.number().int().positive().optional(),
});

/** The schema of {@linkcode WorkerConfig}, with Dynamo's defaults. */
export const WorkerConfigSchema: Schema<WorkerConfig> = schema;

type _SameOutput = Expect<IsSameType<WorkerConfig, z.output<typeof schema>>>;
type _SameInput = Expect<IsSameType<WorkerConfigInput, z.input<typeof schema>>>;

/**
 * Validates a worker configuration.
 * @throws {SluiceError} `InvalidArgument` whose `param` is the command-line flag of the
 * offending field (`namespace` → `--namespace`).
 */
export function parseWorkerConfig(value: unknown): WorkerConfig {
  const result = WorkerConfigSchema.safeParse(value);
  if (result.success) return result.data;
  throw invalidArgumentFromZod(result.error, "Cannot configure worker", {
    paramOf: (path) => `--${path.split(".")[0].replaceAll("_", "-")}`,
  });
}
