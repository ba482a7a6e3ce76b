/**
 * The code of a worker thread of the `cpu` backend's matmul pool (`thread_pool.ts`). The worker
 * is started from a Blob URL holding {@link workerSource} (this module's functions as text), not
 * from a file, so it starts wherever the pool runs: a single-file binary, a bundle, a checkout.
 *
 * A worker compiles the kernel bytes it is sent, instantiates them over each weight's shared
 * memory, and for every job the pool announces (an increment of the control word `seq`)
 * multiplies its own range of the weight's rows, then counts itself done. It waits with
 * `Atomics.waitAsync`, so messages (weights added and removed) are handled between jobs.
 *
 * @module
 */
import { CONTROL } from "./thread_control.ts";
import { rowRange, runRows } from "./weight_layout.ts";

/** The first message a worker receives. */
export interface WorkerInit {
  readonly type: "init";
  readonly control: SharedArrayBuffer;
  /** Worker index (its rows are range `index + 1` of `parts`). */
  readonly index: number;
  readonly parts: number;
  /** The shared-memory kernel module's bytes. */
  readonly kernels: Uint8Array;
}

/**
 * The worker's body. It MUST only use its parameters and globals: it runs from its source text.
 */
function workerMain(
  run: typeof runRows,
  range: typeof rowRange,
  C: typeof CONTROL,
): void {
  type Message =
    | WorkerInit
    | { type: "add"; id: number; memory: WebAssembly.Memory; layout: Parameters<typeof run>[1] }
    | { type: "remove"; id: number };
  const scope = globalThis as unknown as {
    onmessage: ((e: MessageEvent<Message>) => void) | null;
  };
  const weights = new Map<
    number,
    { kernels: Parameters<typeof run>[0]; layout: Parameters<typeof run>[1] }
  >();
  let control: Int32Array<ArrayBufferLike> = new Int32Array(0), index = 0, parts = 1;
  let module: WebAssembly.Module | undefined;

  let handled = 0, done = 0;
  const serve = async (seen: number) => {
    for (;;) {
      const wait = Atomics.waitAsync(control, C.seq, seen);
      if (wait.async) await wait.value;
      const job = Atomics.load(control, C.seq);
      if (job === seen) continue; // woken without a new job
      seen = job;
      try {
        const weight = weights.get(Atomics.load(control, C.weight));
        if (!weight) throw new Error("unknown weight");
        const [j0, j1] = range(weight.layout.n, index + 1, parts);
        run(weight.kernels, weight.layout, Atomics.load(control, C.rows), j0, j1);
      } catch {
        Atomics.store(control, C.failed, 1);
      }
      Atomics.store(control, done, job);
      Atomics.notify(control, done);
    }
  };

  scope.onmessage = ({ data }) => {
    if (data.type === "init") {
      control = new Int32Array(data.control);
      ({ index, parts } = data);
      handled = C.workers + 2 * index;
      done = handled + 1;
      module = new WebAssembly.Module(data.kernels as Uint8Array<ArrayBuffer>);
      void serve(Atomics.load(control, C.seq));
      return;
    }
    if (data.type === "add") {
      const instance = new WebAssembly.Instance(module!, { env: { memory: data.memory } });
      weights.set(data.id, {
        kernels: instance.exports as Parameters<typeof run>[0],
        layout: data.layout,
      });
    } else {
      weights.delete(data.id);
    }
    Atomics.add(control, handled, 1);
    Atomics.notify(control, handled);
  };
}

/** The worker's source text: {@link workerMain} applied to the functions it needs. */
export function workerSource(): string {
  return `(${workerMain.toString()})(${runRows.toString()}, ${rowRange.toString()}, ${
    JSON.stringify(CONTROL)
  });`;
}
