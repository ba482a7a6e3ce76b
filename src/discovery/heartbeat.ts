/**
 * The liveness heartbeat of the TTL-based discovery backends (file, NATS KV): a beat every
 * TTL/3, one at a time, and a stop that waits for the beat in progress.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";

/** The default TTL of a discovery registration, as in Dynamo (10 s). */
export const DEFAULT_DISCOVERY_TTL_MS = 10000;

/**
 * The TTL in ms (`ttlMs`, default {@linkcode DEFAULT_DISCOVERY_TTL_MS}).
 * @throws {SluiceError} `InvalidArgument` for a TTL that is not finite or under 30 ms.
 */
export function discoveryTtl(ttlMs: number | undefined, backend: string): number {
  const ttl = ttlMs ?? DEFAULT_DISCOVERY_TTL_MS;
  if (!Number.isFinite(ttl) || ttl < 30) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot use ${backend} discovery TTL ${ttl} ms: need ≥ 30`,
    );
  }
  return ttl;
}

/**
 * Runs `beat` every `ttlMs / 3`, never two at once (the next one is scheduled when the last one
 * settles). MUST be stopped: `stop()` clears the timer and waits for a beat in progress; no beat
 * starts after it. `beat` MUST NOT throw (failures are its own to log).
 */
export class Heartbeat {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #beating: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(
    readonly ttlMs: number,
    readonly beat: () => Promise<void>,
    readonly unrefTimer?: (timer: ReturnType<typeof setTimeout>) => void,
  ) {
    this.#schedule();
  }

  /** Stops the heartbeat and waits for the beat in progress, if any. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#beating;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#beating = this.beat().finally(() => this.#schedule());
    }, this.ttlMs / 3);
    this.unrefTimer?.(this.#timer);
  }
}
