/**
 * Named failures of the conformance kit (Dynamo's `run_conformance` names,
 * plus Sluice's extra checks).
 *
 * @module
 */

/** Every named failure the kit can report, in check order. */
export const ConformanceFailure = {
  StartFailed: "StartFailed",
  EmptyModelInConfig: "EmptyModelInConfig",
  NoChunksYielded: "NoChunksYielded",
  StreamYieldedError: "StreamYieldedError",
  ChunkAfterTerminal: "ChunkAfterTerminal",
  NoTerminalChunk: "NoTerminalChunk",
  MalformedChunk: "MalformedChunk",
  CompletionTokensMismatch: "CompletionTokensMismatch",
  ConcurrentGenerateFailed: "ConcurrentGenerateFailed",
  CancellationNotObserved: "CancellationNotObserved",
  CancellationIgnored: "CancellationIgnored",
  CleanupFailed: "CleanupFailed",
  SecondCleanupFailed: "SecondCleanupFailed",
  CleanupWithoutStartFailed: "CleanupWithoutStartFailed",
  DropDidNotFinish: "DropDidNotFinish",
  AbortCalledOnDrop: "AbortCalledOnDrop",
  AbortNotCalledOnce: "AbortNotCalledOnce",
  HealthCheckPayloadInvalid: "HealthCheckPayloadInvalid",
} as const;

/** One of {@linkcode ConformanceFailure}'s values. */
export type ConformanceFailure = typeof ConformanceFailure[keyof typeof ConformanceFailure];

/** Thrown by `runConformance` at the first failed check. */
export class ConformanceError extends Error {
  /** Which check failed; stable, so tests can assert on it. */
  readonly failure: ConformanceFailure;
  /** Creates the error; the message names `failure`, then `detail`. */
  constructor(failure: ConformanceFailure, detail: string, options?: ErrorOptions) {
    super(`Engine failed conformance check ${failure}: ${detail}`, options);
    this.name = "ConformanceError";
    this.failure = failure;
  }
}
