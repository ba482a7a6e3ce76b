/**
 * The typed error of the model-file readers: a {@link SluiceError} of kind `InvalidArgument`
 * (the `--model` the engine was given is unusable) with a `reason` that tells a truncated or
 * corrupt file from one that is valid but unsupported.
 *
 * @example
 * ```ts
 * import { ModelFileError } from "./model_file_error.ts";
 * const e = new ModelFileError("unsupported_type", "Cannot load blk.0.attn_q.weight: Q4_K is not supported");
 * console.assert(e.kind === "InvalidArgument" && e.reason === "unsupported_type");
 * ```
 */
import { SluiceError } from "../errors/sluice_error.ts";

/** Why a model file was refused. */
export type ModelFileErrorReason =
  | "truncated"
  | "corrupt"
  | "unsupported_type"
  | "unsupported_architecture"
  | "missing_tensor"
  | "bad_shape";

/** A model file that cannot be loaded; the message names the file part and the cause. */
export class ModelFileError extends SluiceError {
  /** Why the file was refused. */
  readonly reason: ModelFileErrorReason;
  /** Creates the error; `message` MUST state the failed action first, then the cause. */
  constructor(reason: ModelFileErrorReason, message: string, options?: ErrorOptions) {
    super("InvalidArgument", message, { ...options, code: `model_${reason}` });
    this.name = "ModelFileError";
    this.reason = reason;
  }
}
