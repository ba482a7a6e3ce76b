/**
 * The control words the `cpu` matmul pool and its workers share (an `Int32Array` over a
 * `SharedArrayBuffer`): `seq` (the current job's number, incremented per job), the job's
 * `weight` id and x `rows`, `failed` (a worker could not run its part of the current job), then
 * two words per worker i: at `handled(i)` the messages it has handled, at `done(i)` the number
 * of the last job it finished. Each word has one writer, so no waiter can miss or double-count
 * a job, and a waiter that wakes spuriously re-checks its word.
 *
 * @module
 */
export const CONTROL = { seq: 0, weight: 1, rows: 2, failed: 3, workers: 4 } as const;

/** Index of worker `i`'s handled-messages word. */
export function handledWord(i: number): number {
  return CONTROL.workers + 2 * i;
}

/** Index of worker `i`'s last-finished-job word. */
export function doneWord(i: number): number {
  return CONTROL.workers + 2 * i + 1;
}

/** Control words for `workers` workers. */
export function controlWords(workers: number): number {
  return CONTROL.workers + 2 * workers;
}
