/**
 * `sluice/frontend`: the OpenAI-compatible HTTP frontend (hono), the worker router and
 * its policies, tokenizers with incremental detokenization and stop strings, and chat
 * templates. `createFrontend` learns models from discovery and calls workers over a
 * request plane; `sluice/serve` wires it to in-process workers.
 *
 * @example
 * ```ts ignore
 * import { createFrontend } from "sluice/frontend";
 * import { InProcessRequestPlane, MemoryDiscovery } from "sluice/planes";
 * const frontend = await createFrontend({
 *   discovery: new MemoryDiscovery(),
 *   requestPlane: new InProcessRequestPlane(),
 * });
 * const models = await frontend.fetch(new Request("http://local/v1/models"));
 * await frontend.close();
 * ```
 *
 * @module
 */
export { createFrontend, DEFAULT_MAX_BODY_BYTES } from "../frontend/frontend_app.ts";
export type { Frontend, FrontendOptions } from "../frontend/frontend_app.ts";
export { ModelResourceLoader } from "../frontend/model_resources.ts";
export type {
  ModelResourceLoaderOptions,
  ModelResources,
  ModelResourceSource,
} from "../frontend/model_resources.ts";
export {
  ALL_WORKERS_BUSY_BODY,
  errorResponse,
  errorTypeFor,
  httpErrorFrom,
  openAIError,
} from "../frontend/openai_error.ts";
export type { HttpError, OpenAIErrorBody } from "../frontend/openai_error.ts";
export * from "../router/mod.ts";
export * from "../tokenizer/mod.ts";
export * from "../chat_template/mod.ts";
// The types these APIs take (also exported by `sluice`, `sluice/planes`, `sluice/serve`).
export type {
  CompletionUsage,
  ErrorCode,
  ErrorKind,
  FinishReason,
  GenerateChunk,
  GenerateRequestInput,
  GuidedDecoding,
  OutputOptions,
  RoutingHints,
  SamplingOptions,
  SerializedError,
  SluiceError,
  StopConditions,
  TopLogprob,
} from "../../mod.ts";
export type {
  CallOptions,
  Discovery,
  DiscoveryEntry,
  DiscoveryEvent,
  DiscoveryWatch,
  EndpointPath,
  IncomingRequest,
  InstanceRecord,
  ModelCard,
  RequestHandler,
  RequestPlane,
  ResponseStream,
  ServedEndpoint,
  TransportAddress,
  WatchOptions,
} from "./planes.ts";
export type { Labels, Logger, LogLevelName, MetricsRegistry } from "./serve.ts";
export { KvIndexer } from "../kv/kv_indexer.ts";
export type { ApplyResult, KvIndexerOptions } from "../kv/kv_indexer.ts";
export { KvIndexFeed } from "../kv/kv_index_feed.ts";
export type { KvIndexFeedOptions } from "../kv/kv_index_feed.ts";
export { KvRoutingPolicy } from "../router/kv_policy.ts";
export type { KvDecision, KvRoutingPolicyOptions } from "../router/kv_policy.ts";
export { createKvRouting } from "../router/kv_routing.ts";
export type { KvRouting, KvRoutingOptions } from "../router/kv_routing.ts";
export type {
  BlockHasher,
  BlockHashes,
  KvCleared,
  KvEventData,
  KvRemoved,
  KvStored,
  LoadMetrics,
} from "../../mod.ts";
export type { EventPlane, KvEvent, KvSnapshot, SubscribeOptions, Subscription } from "./planes.ts";
