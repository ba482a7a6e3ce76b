/**
 * Steps of the worker's graceful shutdown that stand alone: leaving discovery
 * (bounded, never fatal) and racing the whole sequence against its deadline.
 *
 * @module
 */
import type { Discovery } from "../discovery/discovery.ts";
import type { Logger } from "../logging/logger.ts";
import { bounded, SHUTDOWN_DEADLINE_EXIT, STEP_TIMEOUT_MS } from "./worker_timings.ts";

/** The discovery keys a worker registers under. */
export interface WorkerKeys {
  /** The instance record's key. */
  instance: string;
  /** The model card's key. */
  card: string;
}

/**
 * Unregisters the instance record and the model card, bounded by `STEP_TIMEOUT_MS`.
 * A timeout or a failure is logged and MUST NOT stop the shutdown: this never rejects.
 */
export async function unregisterWorker(
  discovery: Discovery,
  keys: WorkerKeys,
  logger: Logger,
): Promise<void> {
  try {
    const unregistered = await bounded(
      Promise.all([discovery.unregister(keys.instance), discovery.unregister(keys.card)]),
      STEP_TIMEOUT_MS,
    );
    if (!unregistered) {
      logger.warn("unregistering from discovery timed out; continuing shutdown", {
        seconds: STEP_TIMEOUT_MS / 1000,
      });
    }
  } catch (error) {
    logger.warn("cannot unregister from discovery; continuing shutdown", {
      error: String(error),
    });
  }
}

/**
 * Runs `sequence` against a deadline of `deadlineMs`: resolves 0 when it finished
 * first, {@linkcode SHUTDOWN_DEADLINE_EXIT} when the deadline passed (then `onMissed`
 * runs). The deadline timer MUST be cleared either way.
 */
export async function withShutdownDeadline(
  sequence: () => Promise<void>,
  deadlineMs: number,
  onMissed: () => void,
): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<number>((resolve) => {
    timer = setTimeout(() => resolve(SHUTDOWN_DEADLINE_EXIT), deadlineMs);
  });
  try {
    const code = await Promise.race([sequence().then(() => 0), deadline]);
    if (code !== 0) onMissed();
    return code;
  } finally {
    clearTimeout(timer);
  }
}
