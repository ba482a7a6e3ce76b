/**
 * Prompt tokenization that neither wastes work nor stalls other streams (issue 8,
 * defect 3). A prompt that cannot fit the context is refused from its size alone, before
 * rendering or tokenizing: a text of more than `context_length × maxTokenBytes` bytes
 * encodes to more than `context_length` tokens. A long prompt that may fit is encoded in
 * chunks split at line starts (where the tokenizer is separable there), yielding to the
 * event loop between chunks, so streams in flight keep flowing while it is tokenized.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import type { EncodeOptions, Tokenizer } from "../tokenizer/tokenizer.ts";
import { utf8Length } from "../tokenizer/hf_tokenizer.ts";

/** Texts longer than this (UTF-16 units) are encoded in chunks. */
export const CHUNK_CHARS = 16 * 1024;

/** Yields to the event loop (a macrotask, so timers and I/O run). */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Refuses `texts` (the prompt's text, e.g. each message's content) when they cannot fit
 * `contextLength` tokens, from their size alone.
 *
 * @throws {SluiceError} `InvalidArgument` (`context_length_exceeded`, `param`) when the
 * texts are more than `contextLength × tokenizer.maxTokenBytes` UTF-8 bytes.
 */
export function checkPromptSize(
  texts: readonly string[],
  tokenizer: Tokenizer,
  contextLength: number | undefined,
  param: string,
): void {
  if (contextLength === undefined || tokenizer.maxTokenBytes === undefined) return;
  const bound = contextLength * tokenizer.maxTokenBytes;
  // UTF-8 never has fewer bytes than UTF-16 units: the cheap count decides most cases.
  let units = 0;
  for (const text of texts) units += text.length;
  let bytes = units;
  if (units <= bound) {
    bytes = 0;
    for (const text of texts) bytes += utf8Length(text);
  }
  if (bytes > bound) {
    throw new SluiceError(
      "InvalidArgument",
      `Invalid request: this model's maximum context length is ${contextLength} tokens, but ` +
        `the prompt is ${units > bound ? "over " : ""}${bytes} bytes, more than ` +
        `${contextLength} tokens of at most ${tokenizer.maxTokenBytes} bytes each can hold`,
      { param, code: "context_length_exceeded" },
    );
  }
}

/** Splits `text` into pieces of about `size` units, each cut just after a `\n` before a letter. */
export function splitAtLineStarts(text: string, size: number = CHUNK_CHARS): string[] {
  const pieces: string[] = [];
  let start = 0;
  const lineStart = /\n(?=\p{L})/gu;
  while (text.length - start > size) {
    lineStart.lastIndex = start + size;
    const match = lineStart.exec(text);
    if (match === null) break;
    const cut = match.index + 1;
    pieces.push(text.slice(start, cut));
    start = cut;
  }
  pieces.push(text.slice(start));
  return pieces;
}

/**
 * Encodes `text` like `tokenizer.encode`, but in chunks with a yield to the event loop
 * between them when the text is long and the tokenizer is separable at line starts (and
 * adds no special tokens around the text, or none are asked for). The ids MUST equal those
 * of one `encode` call.
 */
export async function encodeYielding(
  tokenizer: Tokenizer,
  text: string,
  options: EncodeOptions = {},
): Promise<number[]> {
  if (text.length <= CHUNK_CHARS || tokenizer.separableAtLineStarts !== true) {
    return tokenizer.encode(text, options);
  }
  if ((options.addSpecialTokens ?? true) && tokenizer.encode("", options).length > 0) {
    return tokenizer.encode(text, options);
  }
  const ids: number[] = [];
  for (const piece of splitAtLineStarts(text)) {
    await yieldToEventLoop();
    const part = tokenizer.encode(piece, { addSpecialTokens: false });
    for (const id of part) ids.push(id);
  }
  return ids;
}
