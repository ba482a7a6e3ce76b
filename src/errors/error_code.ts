/**
 * The one registry of error codes: the short machine-readable `code` a
 * {@linkcode SluiceError} carries across the wire and into the `code` of an OpenAI error
 * body. Code MUST compare codes by value against this registry (`error.code ===
 * ErrorCode.AllWorkersBusy`), never by message text; a new code MUST be added here first.
 *
 * @module
 */

/** Every error code, by name. */
export const ErrorCode = {
  /** A request (HTTP body or engine request) failed validation. */
  InvalidRequest: "invalid_request",
  /** The HTTP body is not JSON. */
  InvalidJson: "invalid_json",
  /** The prompt plus the requested tokens exceed the model's context length. */
  ContextLengthExceeded: "context_length_exceeded",
  /** The HTTP body is larger than the frontend accepts (413), or a request larger than the request plane carries. */
  RequestTooLarge: "request_too_large",
  /** A response frame is larger than the transport carries. */
  ResponseTooLarge: "response_too_large",
  /** A message is larger than the transport's payload limit. */
  PayloadTooLarge: "payload_too_large",
  /** An event is larger than the event plane carries. */
  EventTooLarge: "event_too_large",
  /** The bearer key is missing or wrong (401). */
  InvalidApiKey: "invalid_api_key",
  /** A request body that is not JSON (415). */
  UnsupportedMediaType: "unsupported_media_type",
  /** A model resource (tokenizer, chat template) is broken: found at start, the start fails. */
  ModelResourceInvalid: "model_resource_invalid",
  /** A model file (e.g. a GGUF file) cannot be read. */
  ModelFileUnreadable: "model_file_unreadable",
  /** A model file is truncated, foreign or fails its check. */
  ModelFileInvalid: "model_file_invalid",
  /** The engine could not create its inference context (e.g. out of memory). */
  ContextCreationFailed: "context_creation_failed",
  /** The `llamacpp` engine's optional dependency `node-llama-cpp` is not installed. */
  NodeLlamaCppMissing: "node_llama_cpp_missing",
  /** A model file ends before the data its header describes (e.g. an interrupted download). */
  ModelTruncated: "model_truncated",
  /** A model file's contents contradict themselves. */
  ModelCorrupt: "model_corrupt",
  /** A tensor type the engine does not load. */
  ModelUnsupportedType: "model_unsupported_type",
  /** A model architecture the engine does not run. */
  ModelUnsupportedArchitecture: "model_unsupported_architecture",
  /** A tensor the architecture needs is missing. */
  ModelMissingTensor: "model_missing_tensor",
  /** A tensor has the wrong shape. */
  ModelBadShape: "model_bad_shape",
  /** The HTTP method is not served on this path (405). */
  MethodNotAllowed: "method_not_allowed",
  /** No route for this path (404). */
  NotFound: "not_found",
  /** No worker serves the requested model (404). */
  ModelNotFound: "model_not_found",
  /** A model resource (tokenizer, chat template) could not be loaded. */
  ModelFilesUnavailable: "model_files_unavailable",
  /** The engine's stream failed after it began. */
  EngineError: "engine_error",
  /** The worker is shutting down and admits no new request. */
  WorkerDraining: "worker_draining",
  /** The worker is at its own in-flight limit. */
  WorkerOverloaded: "worker_overloaded",
  /** Every worker of the model is busy: answered with Dynamo's exact 503 body. */
  AllWorkersBusy: "all_workers_busy",
  /** The one worker a direct request named is busy (503). */
  WorkerBusy: "worker_busy",
  /** Workers are registered but none is ready (503). */
  NoReadyWorkers: "no_ready_workers",
  /** No worker is registered for the model (503). */
  NoWorkers: "no_workers",
  /** Direct routing without the instance header (400). */
  MissingInstanceId: "missing_instance_id",
  /** Direct routing to an instance that does not exist (404). */
  InstanceNotFound: "instance_not_found",
  /** A `Cancelled` request: the client asked to stop generating (finish what was produced). */
  Stop: "stop",
  /** A `Cancelled` request: the client killed it (or went away). */
  Kill: "kill",
  /** A `Cancelled` request: the caller went away. */
  Disconnect: "disconnect",
  /** Engines started before a shutdown request missed their shutdown deadline. */
  ShutdownDeadline: "shutdown_deadline",
} as const;

/** One of the values of {@linkcode ErrorCode}. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

const CODES = new Set<string>(Object.values(ErrorCode));

/** True when `value` is a registered {@linkcode ErrorCode} (e.g. one read from the wire). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && CODES.has(value);
}
