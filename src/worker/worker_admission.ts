/**
 * Worker admission: whether a new request may enter, decided from the worker's
 * lifecycle and its in-flight limit.
 *
 * @module
 */
import { ErrorCode, SluiceError } from "../errors/sluice_error.ts";

/** What {@linkcode admissionError} decides from. */
export interface AdmissionState {
  /** True once admission stopped in the shutdown sequence. */
  draining: boolean;
  /** True while the worker is in its `Running` state. */
  running: boolean;
  /** Requests in flight now. */
  inflight: number;
  /** The configured in-flight limit; absent: unlimited. */
  maxInflight: number | undefined;
}

/**
 * The error refusing a new request, or undefined to admit it. A draining or
 * not-running worker MUST refuse with `worker_draining`; one at its in-flight limit
 * with `worker_overloaded` (both `EngineShutdown`, so the router can retry elsewhere).
 */
export function admissionError(state: AdmissionState): SluiceError | undefined {
  if (state.draining || !state.running) {
    return new SluiceError("EngineShutdown", "Cannot accept request: worker draining", {
      code: ErrorCode.WorkerDraining,
    });
  }
  if (state.maxInflight !== undefined && state.inflight >= state.maxInflight) {
    return new SluiceError("EngineShutdown", "Cannot accept request: worker overloaded", {
      code: ErrorCode.WorkerOverloaded,
    });
  }
  return undefined;
}
