/**
 * Shutdown on SIGTERM/SIGINT, for a worker process (`run()`) and for `sluice serve`:
 * the handlers go in before anything starts, the first signal requests a
 * graceful shutdown (an `AbortSignal` fires, so a start in progress can finish and
 * then stop without serving), and a second signal exits at once with code 130.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { Runtime } from "./runtime.ts";

/** Exit code after a second signal (128 + SIGINT, as shells report an interrupt). */
export const SECOND_SIGNAL_EXIT_CODE = 130;

/** Installed signal handlers. */
export interface ShutdownSignals extends Disposable {
  /**
   * Aborts on the first SIGTERM or SIGINT; its reason is a `Cancelled` {@linkcode SluiceError}
   * naming the signal. Pass it to whatever starts (engines, listeners) so a signal stops them.
   */
  readonly signal: AbortSignal;
  /** Resolves on the first signal. */
  readonly requested: Promise<void>;
  /** Removes the handlers (later signals get the runtime's default). Idempotent. */
  dispose(): void;
}

/**
 * Installs the handlers. Call it before starting anything: a signal that arrives before
 * the handlers exist kills the process without cleanup.
 *
 * The handlers MUST stay installed through the graceful shutdown, so that a second signal
 * can cut it short; dispose them just before exiting.
 *
 * @example
 * ```ts ignore
 * import { currentRuntime } from "./runtime.ts";
 * const runtime = currentRuntime();
 * using signals = installShutdownSignals(runtime);
 * await signals.requested;
 * ```
 */
export function installShutdownSignals(
  runtime: Pick<Runtime, "onSignal" | "exit">,
  options: { logger?: Logger } = {},
): ShutdownSignals {
  const controller = new AbortController();
  let signals = 0;
  let requestShutdown!: () => void;
  const requested = new Promise<void>((resolve) => (requestShutdown = resolve));
  const onSignal = (name: string) => () => {
    if (++signals > 1) {
      options.logger?.warn(`second ${name} during shutdown; exiting now`);
      runtime.exit(SECOND_SIGNAL_EXIT_CODE);
    }
    options.logger?.info(`${name} received; shutting down`);
    controller.abort(new SluiceError("Cancelled", `Shutdown requested by ${name}`));
    requestShutdown();
  };
  let removers: (() => void)[] = [
    runtime.onSignal("SIGTERM", onSignal("SIGTERM")),
    runtime.onSignal("SIGINT", onSignal("SIGINT")),
  ];
  const dispose = () => {
    for (const remove of removers) remove();
    removers = [];
  };
  return { signal: controller.signal, requested, dispose, [Symbol.dispose]: dispose };
}
