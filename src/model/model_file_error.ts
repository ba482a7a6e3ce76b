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
import { ErrorCode, SluiceError } from "../errors/sluice_error.ts";

/** Why a model file was refused. */
export type ModelFileErrorReason =
  | "truncated"
  | "corrupt"
  | "unsupported_type"
  | "unsupported_architecture"
  | "missing_tensor"
  | "bad_shape";

/** The registered error code of each reason. */
const CODE_BY_REASON: Record<ModelFileErrorReason, ErrorCode> = {
  truncated: ErrorCode.ModelTruncated,
  corrupt: ErrorCode.ModelCorrupt,
  unsupported_type: ErrorCode.ModelUnsupportedType,
  unsupported_architecture: ErrorCode.ModelUnsupportedArchitecture,
  missing_tensor: ErrorCode.ModelMissingTensor,
  bad_shape: ErrorCode.ModelBadShape,
};

/** A model file that cannot be loaded; the message names the file part and the cause. */
export class ModelFileError extends SluiceError {
  /** Why the file was refused. */
  readonly reason: ModelFileErrorReason;
  /** Creates the error; `message` MUST state the failed action first, then the cause. */
  constructor(reason: ModelFileErrorReason, message: string, options?: ErrorOptions) {
    super("InvalidArgument", message, { ...options, code: CODE_BY_REASON[reason] });
    this.name = "ModelFileError";
    this.reason = reason;
  }
}
