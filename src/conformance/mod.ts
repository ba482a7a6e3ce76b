/**
 * The conformance kit for engine authors.
 *
 * @module
 */
export { runConformance } from "./run_conformance.ts";
export { consumeChecked } from "./consume_checked.ts";
export type { ConformanceOptions, ConformanceReport } from "./run_conformance.ts";
export { ConformanceError, ConformanceFailure } from "./conformance_error.ts";
