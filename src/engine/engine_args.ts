/**
 * Command-line parsing helpers for engine factories: `node:util` `parseArgs`
 * (identical in Deno, Bun and Node) with errors that name the flag, plus the
 * worker flags every engine accepts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { SluiceError } from "../errors/sluice_error.ts";
import type { WorkerConfigInput } from "./worker_config.ts";

/** How one flag is parsed (the `node:util` `parseArgs` option descriptor). */
export interface EngineFlagOption {
  /** `string` flags take a value (`--name value` or `--name=value`); `boolean` ones do not. */
  type: "string" | "boolean";
  /** When true, the flag may repeat and its value is an array. */
  multiple?: boolean;
  /** One-letter alias (`-n`). */
  short?: string;
  /** Value when the flag is absent. */
  default?: string | boolean | string[] | boolean[];
}

/** Flag descriptors by long name (without `--`). */
export type EngineFlagOptions = Record<string, EngineFlagOption>;

/**
 * Parsed flag values by long name: a string or boolean (an array for `multiple`), absent
 * when the flag was not given and has no default.
 */
export type EngineFlagValues<O extends EngineFlagOptions> = {
  [K in keyof O]?: O[K] extends { type: "boolean" } ? O[K] extends { multiple: true } ? boolean[]
    : boolean
    : O[K] extends { multiple: true } ? string[]
    : string;
};

/** What {@linkcode parseEngineArgs} returns. */
export interface ParsedEngineArgs<O extends EngineFlagOptions> {
  /** Values of the engine's flags and of {@linkcode WORKER_FLAGS}. */
  values: EngineFlagValues<typeof WORKER_FLAGS & O>;
  /** Always empty: positional arguments are refused. */
  positionals: string[];
}

/** Flags shared by every engine, mapped onto {@linkcode WorkerConfigInput}. */
export const WORKER_FLAGS = {
  namespace: { type: "string" },
  component: { type: "string" },
  endpoint: { type: "string" },
  "served-model-name": { type: "string" },
  "migration-limit": { type: "string" },
  "health-check-payload": { type: "string" },
  "max-inflight-requests": { type: "string" },
  "custom-jinja-template": { type: "string" },
} as const satisfies EngineFlagOptions;

/**
 * Parses `argv` strictly against `options` (plus {@linkcode WORKER_FLAGS}, which an engine's
 * own flag of the same name replaces). Unknown flags and positional arguments are refused,
 * so a typo MUST NOT pass silently as a default.
 * @throws {SluiceError} `InvalidArgument` naming the unknown or malformed flag.
 */
export function parseEngineArgs<O extends EngineFlagOptions>(
  argv: string[],
  options: O,
): ParsedEngineArgs<O> {
  try {
    return parseArgs({
      args: argv,
      options: { ...WORKER_FLAGS, ...options },
      strict: true,
      allowPositionals: false,
    }) as ParsedEngineArgs<O>;
  } catch (error) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse arguments: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Reads an integer flag value.
 * @throws {SluiceError} `InvalidArgument` naming the flag when the value is not an integer ≥ `min`.
 */
export function intFlag(
  values: Record<string, unknown>,
  flag: string,
  fallback: number,
  min = 0,
): number {
  const raw = values[flag];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isInteger(value) || value < min) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --${flag}: expected an integer >= ${min}, got "${String(raw)}"`,
      { param: `--${flag}` },
    );
  }
  return value;
}

/** Builds the worker part of the config from parsed {@linkcode WORKER_FLAGS}. */
export function workerConfigFromFlags(
  values: Record<string, unknown>,
  modelName: string,
): WorkerConfigInput {
  const config: WorkerConfigInput = { model_name: modelName };
  if (typeof values.namespace === "string") config.namespace = values.namespace;
  if (typeof values.component === "string") config.component = values.component;
  if (typeof values.endpoint === "string") config.endpoint = values.endpoint;
  if (typeof values["served-model-name"] === "string") {
    config.served_model_name = values["served-model-name"];
  }
  if (values["migration-limit"] !== undefined) {
    config.migration_limit = intFlag(values, "migration-limit", 0);
  }
  if (values["max-inflight-requests"] !== undefined) {
    config.max_inflight_requests = intFlag(values, "max-inflight-requests", 1, 1);
  }
  if (typeof values["custom-jinja-template"] === "string") {
    config.custom_jinja_template = values["custom-jinja-template"];
  }
  const payload = values["health-check-payload"];
  if (typeof payload === "string") {
    config.health_check_payload = parseJsonObject(payload, "--health-check-payload");
  }
  return config;
}

/**
 * Parses text that must be a JSON object (not an array or a scalar).
 * @throws {SluiceError} `InvalidArgument` naming `source` (a flag or variable).
 */
export function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse ${source}: expected a JSON object (${(error as Error).message})`,
      { param: source, cause: error },
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SluiceError("InvalidArgument", `Cannot parse ${source}: expected a JSON object`, {
      param: source,
    });
  }
  return value as Record<string, unknown>;
}
