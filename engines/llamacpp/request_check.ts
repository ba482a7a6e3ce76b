/**
 * What the llama.cpp engine refuses before it leases a sequence: more than one choice, prompt
 * logprobs, a prompt that fills the context, and token ids outside the vocabulary.
 *
 * @module
 */
import type { GenerateRequest } from "../../src/engine/generate_request.ts";
import { ErrorCode, SluiceError } from "../../src/errors/sluice_error.ts";

/**
 * Checks `request` against one sequence of `contextSize` cells and a vocabulary of `vocabSize`
 * tokens (0: unknown, ids are not checked). It MUST throw an `InvalidArgument` `SluiceError`
 * naming the offending `param` for each refused request, and MUST NOT throw otherwise.
 */
export function checkLlamaCppRequest(
  request: GenerateRequest,
  contextSize: number,
  vocabSize: number,
): void {
  const prompt = request.token_ids;
  if ((request.sampling_options.n ?? 1) > 1) {
    throw new SluiceError(
      "InvalidArgument",
      "Invalid request: the llamacpp engine generates one choice per request (n must be 1)",
      { param: "n" },
    );
  }
  if ((request.output_options.prompt_logprobs ?? 0) > 0) {
    throw new SluiceError(
      "InvalidArgument",
      "Invalid request: the llamacpp engine does not report prompt logprobs",
      { param: "prompt_logprobs" },
    );
  }
  if (prompt.length >= contextSize) {
    throw new SluiceError(
      "InvalidArgument",
      `Invalid request: the prompt has ${prompt.length} tokens, the context holds ` +
        `${contextSize} per sequence`,
      { param: "token_ids", code: ErrorCode.ContextLengthExceeded },
    );
  }
  if (vocabSize > 0) {
    for (const id of prompt) {
      if (id >= vocabSize) {
        throw new SluiceError(
          "InvalidArgument",
          `Invalid request: token id ${id} is not below the vocabulary size ${vocabSize}`,
          { param: "token_ids" },
        );
      }
    }
  }
}
