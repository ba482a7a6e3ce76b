/**
 * `WorkerConfig`: how the runtime serves an engine (addressing, planes,
 * health, routing hints). Returned by `EngineFactory.fromArgs` beside the engine.
 *
 * @module
 */
import { z } from "zod";
import { invalidArgumentFromZod } from "./zod_error.ts";

const name = z.string().regex(/^[a-z0-9_-]+$/, {
  message: "must match [a-z0-9_-]+",
});

/** The schema of {@linkcode WorkerConfig}, with Dynamo's defaults. */
export const WorkerConfigSchema = z.object({
  namespace: name.default("dynamo"),
  component: name.default("backend"),
  endpoint: name.default("generate"),
  /** Path or id of the tokenizer / chat-template files. */
  model_name: z.string().min(1),
  served_model_name: z.string().min(1).optional(),
  /** Comma-separated subset of `chat,completions`. */
  endpoint_types: z.string().regex(/^(chat|completions)(,(chat|completions))*$/).default(
    "chat,completions",
  ),
  /** Discovery backend; the distributed ones (etcd, file, NATS KV) plug in through `run()`'s `planes`. */
  discovery_backend: z.string().regex(/^[a-z0-9_-]+$/).default("memory"),
  /** Request plane; `inprocess` is built in. */
  request_plane: z.string().regex(/^[a-z0-9_-]+$/).default("inprocess"),
  /** Event plane; `inprocess` is built in. */
  event_plane: z.string().regex(/^[a-z0-9_-]+$/).default("inprocess"),
  health_check_payload: z.record(z.string(), z.unknown()).optional(),
  enable_kv_routing: z.boolean().default(false),
  migration_limit: z.number().int().min(0).default(0),
  custom_jinja_template: z.string().optional(),
  metrics_labels: z.record(z.string(), z.string()).default({}),
  disaggregation_mode: z.enum(["agg", "prefill", "decode"]).default("agg"),
  /** Admission limit: requests beyond this many in flight are refused as overloaded. */
  max_inflight_requests: z.number().int().positive().optional(),
});

/** A validated worker configuration (defaults filled in). */
export type WorkerConfig = z.output<typeof WorkerConfigSchema>;
/** A worker configuration as engine authors write it. */
export type WorkerConfigInput = z.input<typeof WorkerConfigSchema>;

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
