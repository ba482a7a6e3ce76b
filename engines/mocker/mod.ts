/**
 * The mocker engine: a simulated vLLM-like engine (paged KV with prefix caching,
 * continuous batching, Dynamo's timing model) for routing and load tests without a GPU.
 *
 * @module
 */
export { DEFAULT_CONTEXT_LENGTH, MockerEngine, mockToken } from "./mocker_engine.ts";
export { MOCKER_DEFAULTS, parseMockerArgs } from "./mocker_args.ts";
export type { MockerOptions } from "./mocker_args.ts";
export { BlockManager } from "./block_manager.ts";
export { Scheduler } from "./scheduler.ts";
export type { Emitted, IterationPlan, PlannedWork, SchedulerConfig } from "./scheduler.ts";
export { Sequence } from "./sequence.ts";
export { iterationMs, predictDecodeMs, predictPrefillMs } from "./timing_model.ts";
