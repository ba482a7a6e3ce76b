/**
 * The generations a frontend has in flight, so that a shutdown past its deadline can cut
 * them: each streaming client gets a terminal `{"error": …}` frame and `[DONE]`, each
 * request's signal fires (the worker stops the engine), and the HTTP server can finish.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";

/** Cuts one generation with `reason`. MUST be idempotent and MUST NOT throw. */
export type GenerationCutter = (reason: SluiceError) => void;

/** The error a generation cut by the shutdown deadline reports. */
export function shutdownDeadlineError(): SluiceError {
  return new SluiceError(
    "EngineShutdown",
    "Cannot complete request: the server passed its shutdown deadline",
    { code: "shutdown_deadline" },
  );
}

/** The set of in-flight generations. */
export class InflightGenerations {
  #cutters = new Set<GenerationCutter>();
  #cutReason: SluiceError | undefined;

  /** Generations in flight. */
  get size(): number {
    return this.#cutters.size;
  }

  /**
   * Registers a generation; returns the function that unregisters it (call it in `finally`).
   * After {@linkcode cutAll} a new generation is cut at once.
   */
  add(cut: GenerationCutter): () => void {
    if (this.#cutReason !== undefined) {
      cut(this.#cutReason);
      return () => {};
    }
    this.#cutters.add(cut);
    return () => this.#cutters.delete(cut);
  }

  /** Cuts every generation in flight, and every later one, with `reason`. Idempotent. */
  cutAll(reason: SluiceError = shutdownDeadlineError()): number {
    this.#cutReason ??= reason;
    const cutters = [...this.#cutters];
    this.#cutters.clear();
    for (const cut of cutters) cut(this.#cutReason);
    return cutters.length;
  }
}
