/**
 * The HTTP frontend flags shared by `sluice serve` and `sluice frontend`: listener,
 * router and access control (`--api-key`, `--public-paths`, `--allowed-origins`), parsed
 * and validated once for both.
 *
 * @module
 */
import type { ParseArgsConfig } from "node:util";
import { intFlag } from "../engine/engine_args.ts";
import { SluiceError } from "../errors/sluice_error.ts";
import { RouterMode } from "../router/routing_policy.ts";
import { DEFAULT_PORT } from "./embedded_server.ts";

/** The frontend flags (without `--`). */
export const FRONTEND_OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
  "router-mode": { type: "string" },
  "kv-overlap-score-weight": { type: "string" },
  "router-temperature": { type: "string" },
  "max-inflight-per-worker": { type: "string" },
  "max-body-bytes": { type: "string" },
  "api-key": { type: "string" },
  "public-paths": { type: "string" },
  "allowed-origins": { type: "string" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/** The name of a frontend flag. */
export type FrontendFlag = keyof typeof FRONTEND_OPTIONS;

/** The frontend flags and their meaning, as `--help` prints them (after a header line). */
export const FRONTEND_FLAGS_HELP: string =
  `  --port N                         HTTP port (default ${DEFAULT_PORT}; 0 picks a free one)
  --host ADDR                      interface to bind (default 0.0.0.0)
  --router-mode MODE               ${Object.values(RouterMode).join(" | ")} (default round-robin)
  --kv-overlap-score-weight X      kv mode: weight of new prefill blocks vs decode blocks (default 1.0)
  --router-temperature X           kv mode: softmax sampling temperature (default 0 = lowest cost)
  --max-inflight-per-worker N      admission limit per worker (default unlimited); 503 when all are busy
  --max-body-bytes N               largest request body (default 8388608)
  --api-key KEY                    require "Authorization: Bearer KEY" (default: $SLUICE_API_KEY;
                                   unset = no key); 401 with an OpenAI error body otherwise
  --public-paths LIST              comma-separated paths open without the key
                                   (default /health,/live,/metrics; "" = none)
  --allowed-origins LIST           CORS: comma-separated origins, or * (default: no CORS)`;

/** Validated frontend settings, named as `createFrontend` / `serveHttp` take them. */
export interface FrontendSettings {
  port: number;
  hostname?: string;
  routerMode: string;
  kvOverlapScoreWeight?: number;
  routerTemperature?: number;
  maxInflightPerWorker?: number;
  maxBodyBytes?: number;
  apiKey?: string;
  publicPaths?: string[];
  allowedOrigins?: string[];
}

/** A non-negative number flag, or undefined when absent. @throws {SluiceError} naming the flag. */
function nonNegativeNumber(
  flags: Partial<Record<FrontendFlag, string>>,
  flag: FrontendFlag,
): number | undefined {
  const raw = flags[flag];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(value) || value < 0) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --${flag}: expected a number >= 0, got "${raw}"`,
      { param: `--${flag}` },
    );
  }
  return value;
}

/**
 * Validates the frontend flags; `--api-key` falls back to `SLUICE_API_KEY`.
 * @throws {SluiceError} `InvalidArgument` naming the offending flag.
 */
export function frontendSettings(
  flags: Partial<Record<FrontendFlag, string>>,
  env: (name: string) => string | undefined,
): FrontendSettings {
  const routerMode = flags["router-mode"] ?? RouterMode.roundRobin;
  if (!(Object.values(RouterMode) as string[]).includes(routerMode)) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --router-mode: unknown mode "${routerMode}" (known: ${
        Object.values(RouterMode).join(", ")
      })`,
      { param: "--router-mode" },
    );
  }
  const port = intFlag(flags, "port", DEFAULT_PORT, 0);
  const optionalInt = (flag: FrontendFlag) =>
    flags[flag] === undefined ? undefined : intFlag(flags, flag, 0, 1);
  const apiKey = flags["api-key"] ?? env("SLUICE_API_KEY");
  if (apiKey !== undefined && apiKey !== "" && apiKey.trim() !== apiKey) {
    throw new SluiceError("InvalidArgument", "Cannot parse --api-key: leading or trailing spaces", {
      param: "--api-key",
    });
  }
  const list = (flag: FrontendFlag) =>
    flags[flag]?.split(",").map((v) => v.trim()).filter((v) => v !== "");
  const publicPaths = list("public-paths");
  const badPath = publicPaths?.find((p) => !p.startsWith("/"));
  if (badPath !== undefined) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot parse --public-paths: "${badPath}" is not a path (it must start with /)`,
      { param: "--public-paths" },
    );
  }
  return {
    port,
    hostname: flags.host,
    routerMode,
    kvOverlapScoreWeight: nonNegativeNumber(flags, "kv-overlap-score-weight"),
    routerTemperature: nonNegativeNumber(flags, "router-temperature"),
    maxInflightPerWorker: optionalInt("max-inflight-per-worker"),
    maxBodyBytes: optionalInt("max-body-bytes"),
    apiKey: apiKey === "" ? undefined : apiKey,
    publicPaths,
    allowedOrigins: list("allowed-origins"),
  };
}
