/**
 * A leveled logger writing one line per record to an injected sink (stderr by
 * default through `console.error`). Level from `DYN_LOG` (read by the caller).
 *
 * @module
 */

/** A level name: `debug`, `info`, `warn`, `error`, or `off` (nothing is written). */
export type LogLevelName = "debug" | "info" | "warn" | "error" | "off";

/** Log levels, most verbose first. */
export const LogLevel = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
  off: 100,
} as const satisfies Record<LogLevelName, number>;

/** A structured logger. */
export interface Logger {
  /** Per-request detail. `fields` are written as `key=value` after the message. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Lifecycle milestones (started, serving, stopped). */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Recoverable problems: the process carries on. */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Unrecoverable problems only (a request or the process failed). */
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every record. */
  child(fields: Record<string, unknown>): Logger;
}

/** Parses `DYN_LOG`-style values (`debug`, `info`, `warn`/`warning`, `error`, `off`); default info. */
export function parseLogLevel(value: string | undefined): LogLevelName {
  const v = (value ?? "").toLowerCase().split(",")[0].trim();
  if (v === "warning") return "warn";
  if (v === "trace") return "debug";
  return v in LogLevel ? v as LogLevelName : "info";
}

/**
 * Creates a logger.
 *
 * @example
 * ```ts
 * import { createLogger } from "./logger.ts";
 * const lines: string[] = [];
 * const log = createLogger({ level: "info", sink: (l) => lines.push(l) });
 * log.debug("hidden");
 * log.info("worker started", { worker_id: "1" });
 * console.assert(lines.length === 1);
 * ```
 */
export function createLogger(
  options: {
    level?: LogLevelName;
    sink?: (line: string) => void;
    fields?: Record<string, unknown>;
  } = {},
): Logger {
  const threshold = LogLevel[options.level ?? "info"];
  const sink = options.sink ?? ((line: string) => console.error(line));
  const base = options.fields ?? {};
  const write = (level: LogLevelName, message: string, fields?: Record<string, unknown>) => {
    if (LogLevel[level] < threshold) return;
    const all = { ...base, ...fields };
    const extra = Object.entries(all).map(([k, v]) =>
      `${k}=${typeof v === "string" ? v : typeof v === "bigint" ? String(v) : safeJson(v)}`
    ).join(" ");
    sink(
      `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${
        extra ? " " + extra : ""
      }`,
    );
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_, v) => typeof v === "bigint" ? v.toString() : v) ??
      String(value);
  } catch {
    return String(value);
  }
}
