/**
 * The sample ("rotating tokens") reference engine.
 *
 * @module
 */
export {
  SampleEngine,
  sampleEngineFactory,
  sampleLogprob,
  sampleTopLogprobs,
} from "./sample_engine.ts";
export type { SampleEngineOptions } from "./sample_engine.ts";
