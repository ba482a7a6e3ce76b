/**
 * Worker threads for the `cpu` backend's matmuls. A matmul over a weight in shared wasm memory
 * is split by weight rows into `threads` contiguous ranges: the calling thread multiplies the
 * first, each worker (`matmul_worker.ts`) one of the others, in parallel; every row is computed by
 * the same kernel call as without threads, so results are bit-identical. Backend ops are
 * synchronous, so the caller blocks (`Atomics.wait`) until the workers are done.
 *
 * Workers start at the first job (a backend that never multiplies a large weight starts none),
 * from a Blob URL of their source (`matmul_worker.ts`), and learn the live weights by message.
 * If they cannot start, or are not ready within {@link START_TIMEOUT_MS}, the pool stops them
 * and runs every later job on the calling thread. `close()` MUST be called
 * (the backend's `destroy`): it terminates the workers.
 *
 * @module
 */
import { CONTROL, controlWords, doneWord, handledWord } from "./thread_control.ts";
import { rowRange, type WeightLayout } from "./weight_layout.ts";
import { type WorkerInit, workerSource } from "./matmul_worker.ts";
import { matmulModuleBytes } from "./matmul_kernels.ts";

/** How long the first job waits for the workers to start and learn the weights. */
export const START_TIMEOUT_MS = 10_000;
/** How long a job waits for the workers before it is an error. */
const JOB_TIMEOUT_MS = 60_000;

/** A pool of matmul worker threads. */
export interface CpuThreadPool {
  /** Threads a job is split over (the caller and its workers); 1 once the workers failed. */
  readonly threads: number;
  /** Worker threads running now (0 before the first job and after `close`). */
  readonly running: number;
  /** Makes a weight in shared memory known to the workers; returns its id. */
  add(memory: WebAssembly.Memory, layout: WeightLayout): number;
  /** Forgets a weight. */
  remove(id: number): void;
  /**
   * Runs weight `id`'s kernel for `rows` rows of x over all of its weight rows: `own(j0, j1)`
   * does the caller's range, the workers the others. Throws if a worker fails or times out.
   */
  run(id: number, layout: WeightLayout, rows: number, own: (j0: number, j1: number) => void): void;
  /** Terminates the workers. */
  close(): void;
}

/**
 * A pool splitting each job over `threads` threads (the caller and `threads − 1` workers).
 * `onFallback` hears, once, why the workers could not start (every job then runs on the caller).
 */
export function createCpuThreadPool(
  threads: number,
  onFallback?: (reason: string) => void,
): CpuThreadPool {
  if (!Number.isInteger(threads) || threads < 2) {
    throw new RangeError(`Cannot create a thread pool of ${threads} threads: it needs at least 2`);
  }
  const workerCount = threads - 1;
  const control = new Int32Array(
    new SharedArrayBuffer(controlWords(workerCount) * Int32Array.BYTES_PER_ELEMENT),
  );
  const live = new Map<number, { memory: WebAssembly.Memory; layout: WeightLayout }>();
  let workers: Worker[] | undefined, sent = 0, nextId = 1, failed = false, closed = false;
  let sourceUrl: string | undefined;

  const post = (message: unknown) => {
    for (const w of workers ?? []) w.postMessage(message);
    if (workers) sent++;
  };
  const start = () => {
    // Revoked once the workers are running (Bun reads a worker's Blob URL asynchronously).
    sourceUrl = URL.createObjectURL(new Blob([workerSource()], { type: "text/javascript" }));
    const kernels = matmulModuleBytes(true);
    workers = [];
    for (let index = 0; index < workerCount; index++) {
      const worker = new Worker(sourceUrl, { type: "module" });
      workers.push(worker);
      const init: WorkerInit = {
        type: "init",
        control: control.buffer,
        index,
        parts: threads,
        kernels,
      };
      worker.postMessage(init);
    }
    for (const [id, { memory, layout }] of live) post({ type: "add", id, memory, layout });
  };
  /** Blocks until every worker handled every message sent; false on timeout. */
  const caughtUp = (timeoutMs: number) => {
    const deadline = performance.now() + timeoutMs;
    for (let i = 0; i < workerCount; i++) {
      for (;;) {
        const handled = Atomics.load(control, handledWord(i));
        if (handled >= sent) break;
        const left = deadline - performance.now();
        if (left <= 0) return false;
        Atomics.wait(control, handledWord(i), handled, left);
      }
    }
    return true;
  };
  const revoke = () => {
    if (sourceUrl) URL.revokeObjectURL(sourceUrl);
    sourceUrl = undefined;
  };
  const stop = () => {
    for (const w of workers ?? []) w.terminate();
    workers = undefined;
    revoke();
  };

  const pool: CpuThreadPool = {
    get threads() {
      return failed ? 1 : threads;
    },
    get running() {
      return workers?.length ?? 0;
    },
    add(memory, layout) {
      const id = nextId++;
      live.set(id, { memory, layout });
      post({ type: "add", id, memory, layout });
      return id;
    },
    remove(id) {
      if (live.delete(id)) post({ type: "remove", id });
    },
    run(id, layout, rows, own) {
      if (closed) throw new Error("Cannot run a matmul job: the thread pool is closed");
      const fallBack = (reason: string) => {
        failed = true; // the calling thread does it all from now on
        stop();
        onFallback?.(reason);
      };
      if (!failed && !workers) {
        try {
          start();
        } catch (e) {
          fallBack(`worker threads cannot start (${e instanceof Error ? e.message : e})`);
        }
      }
      if (!failed && !caughtUp(START_TIMEOUT_MS)) {
        fallBack(`worker threads did not start within ${START_TIMEOUT_MS} ms`);
      }
      revoke();
      if (failed) return own(0, layout.n);
      Atomics.store(control, CONTROL.weight, id);
      Atomics.store(control, CONTROL.rows, rows);
      Atomics.store(control, CONTROL.failed, 0);
      const job = Atomics.add(control, CONTROL.seq, 1) + 1;
      Atomics.notify(control, CONTROL.seq);
      own(...rowRange(layout.n, 0, threads));
      const deadline = performance.now() + JOB_TIMEOUT_MS;
      for (let i = 0; i < workerCount; i++) {
        for (;;) {
          const done = Atomics.load(control, doneWord(i));
          if (done === job) break;
          const left = deadline - performance.now();
          if (left <= 0) {
            throw new Error(`A cpu matmul worker did not finish in ${JOB_TIMEOUT_MS} ms`);
          }
          Atomics.wait(control, doneWord(i), done, left);
        }
      }
      if (Atomics.load(control, CONTROL.failed)) {
        throw new Error("A cpu matmul worker could not run its part of a matmul");
      }
    },
    close() {
      closed = true;
      stop();
      live.clear();
    },
  };
  return pool;
}
