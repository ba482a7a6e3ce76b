/**
 * The conformance kit for engine authors.
 *
 * @module
 */
export { consumeChecked, runConformance } from "./run_conformance.ts";
export type { ConformanceOptions, ConformanceReport } from "./run_conformance.ts";
export { ConformanceError, ConformanceFailure } from "./conformance_error.ts";
