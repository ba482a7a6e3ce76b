/**
 * The health canary: when the endpoint has been idle for a while, send the
 * worker a tiny request through its own handler and mark it unhealthy if the
 * stream does not complete in time.
 *
 * @module
 */
import type { GenerateRequestInput } from "../engine/generate_request.ts";
import type { LLMEngine } from "../engine/engine.ts";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import type { IncomingRequest } from "../request_plane/request_plane.ts";

/** The default canary: one token, greedy, ignoring EOS. */
export function defaultHealthCheckPayload(model: string, bosTokenId = 1): GenerateRequestInput {
  return {
    token_ids: [bosTokenId],
    model,
    stop_conditions: { max_tokens: 1, ignore_eos: true },
    sampling_options: { temperature: 0 },
  };
}

/**
 * Picks the canary payload by precedence: worker config > `DYN_HEALTH_CHECK_PAYLOAD`
 * (already parsed by the caller) > `engine.healthCheckPayload()` > default; stamps
 * `_HEALTH_CHECK: true` and fills `model` when missing.
 */
export function resolveHealthCheckPayload(options: {
  fromConfig?: Record<string, unknown>;
  fromEnv?: Record<string, unknown>;
  engine: LLMEngine;
  model: string;
}): Record<string, unknown> {
  const chosen = options.fromConfig ?? options.fromEnv ?? options.engine.healthCheckPayload?.() ??
    defaultHealthCheckPayload(options.model);
  return { model: options.model, ...chosen, _HEALTH_CHECK: true };
}

/** Options for {@linkcode startHealthCanary}. */
export interface HealthCanaryOptions {
  payload: Record<string, unknown>;
  /** Serves a request the way the request plane would. */
  handle(request: IncomingRequest): Promise<ReadableStream<GenerateChunk>>;
  /** Milliseconds since the endpoint last saw activity. */
  idleMs(): number;
  /** Idle time before a canary is sent (`DYN_CANARY_WAIT_TIME`, default 10 s). */
  waitMs: number;
  /** Canary deadline (default 3 s). */
  timeoutMs: number;
  onResult(ok: boolean, error?: unknown): void;
  /** Lets the process exit while the timer is pending. */
  unrefTimer?(timer: ReturnType<typeof setTimeout>): void;
}

/** Sends one canary and resolves true when its stream completed within the deadline. */
export async function sendCanary(
  options: Pick<HealthCanaryOptions, "payload" | "handle" | "timeoutMs">,
) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  try {
    const stream = await options.handle({
      id: `health-${crypto.randomUUID()}`,
      payload: options.payload,
      headers: {},
      signal: new AbortController().signal,
    });
    const reader = stream.getReader();
    const onTimeout = () => reader.cancel(new Error("canary timed out")).catch(() => {});
    controller.signal.addEventListener("abort", onTimeout, { once: true });
    try {
      let terminal = false;
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        if (value.finish_reason !== undefined) terminal = true;
      }
      if (controller.signal.aborted) {
        throw new Error(`canary timed out after ${options.timeoutMs} ms`);
      }
      if (!terminal) throw new Error("canary stream ended without a terminal chunk");
    } finally {
      controller.signal.removeEventListener("abort", onTimeout);
      reader.releaseLock();
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the idle-time canary loop; returns a function that stops it. */
export function startHealthCanary(options: HealthCanaryOptions): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(tick, Math.max(1, delay));
    options.unrefTimer?.(timer);
  };
  const tick = async () => {
    const idle = options.idleMs();
    if (idle < options.waitMs) return schedule(options.waitMs - idle);
    try {
      await sendCanary(options);
      if (!stopped) options.onResult(true);
    } catch (error) {
      if (!stopped) options.onResult(false, error);
    }
    schedule(options.waitMs);
  };
  schedule(options.waitMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
