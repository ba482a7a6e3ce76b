/**
 * The worker's shutdown and health timings, read from Dynamo's `DYN_*`
 * variables, and the small time-bounding helper the shutdown sequence uses.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";

/** Shutdown timings (milliseconds); see `DYN_*` variables in {@linkcode workerTimingsFromEnv}. */
export interface WorkerTimings {
  /** Grace period after unregistering, still serving (default 5000). */
  gracePeriodMs: number;
  /** Deadline for the rest of the sequence, added to the grace period (default 30000). */
  shutdownTimeoutMs: number;
  /** Idle time before the health canary (default 10000). */
  canaryWaitMs: number;
  /** Health canary deadline (default 3000). */
  canaryTimeoutMs: number;
}

/** Reads `DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS`, `DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT`, `DYN_CANARY_WAIT_TIME`. */
export function workerTimingsFromEnv(env: (name: string) => string | undefined): WorkerTimings {
  const seconds = (name: string, fallback: number) => {
    const raw = env(name);
    if (raw === undefined || raw === "") return fallback * 1000;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot read ${name}: "${raw}" is not a number of seconds`,
      );
    }
    return value * 1000;
  };
  return {
    gracePeriodMs: seconds("DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS", 5),
    shutdownTimeoutMs: seconds("DYN_WORKER_GRACEFUL_SHUTDOWN_TIMEOUT", 30),
    canaryWaitMs: seconds("DYN_CANARY_WAIT_TIME", 10),
    canaryTimeoutMs: 3000,
  };
}

/** Dynamo's exit code when graceful shutdown misses its deadline (the OS reports 911 & 0xff). */
export const SHUTDOWN_DEADLINE_EXIT = 911;

/** Longest wait for one shutdown step that talks to a plane (unregister, endpoint close). */
export const STEP_TIMEOUT_MS = 5000;

/** Resolves true when `promise` settles within `ms`, false otherwise (the promise runs on). */
export async function bounded(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
