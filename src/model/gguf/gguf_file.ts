/**
 * Opening a GGUF file for an engine: read its header without reading the weights, check that
 * every tensor lies inside the file (a truncated download fails here with a clear message
 * instead of crashing a native loader), and describe its metadata prefix as a model-card file
 * (role `gguf`), so frontends build the tokenizer from exactly the bytes the engine loaded.
 *
 * @module
 */
import { SluiceError } from "../../errors/sluice_error.ts";
import type { ModelFiles } from "../../model_card/model_card.ts";
import { type GgufHeader, GgufTruncatedError, parseGgufHeader } from "./gguf_reader.ts";

/** File access a {@linkcode openGgufFile} caller provides (the runtime adapter has both). */
export interface GgufFileAccess {
  readFileRange(path: string, start: number, end: number): Promise<Uint8Array>;
  fileSize(path: string): Promise<number>;
}

/** What {@linkcode openGgufFile} learned. */
export interface GgufFileInfo {
  header: GgufHeader;
  /** Size of the whole file in bytes. */
  fileSize: number;
  /** The model-card entry for the metadata prefix (role `gguf`). */
  cardFile: NonNullable<ModelFiles["gguf"]>;
}

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Reads and checks the header of the GGUF file at `path`. The card entry names `path` as given:
 * pass an absolute path when frontends run elsewhere.
 * @throws {SluiceError} `CannotConnect` when the file cannot be read; `EngineShutdown` naming
 * the problem when it is not GGUF, is corrupt or truncated.
 */
export async function openGgufFile(path: string, access: GgufFileAccess): Promise<GgufFileInfo> {
  let fileSize: number;
  try {
    fileSize = await access.fileSize(path);
  } catch (cause) {
    throw new SluiceError(
      "CannotConnect",
      `Cannot open the model file ${path}: ${(cause as Error).message}`,
      { cause, code: "model_file_unreadable" },
    );
  }
  const corrupt = (why: string, cause?: unknown) =>
    new SluiceError("EngineShutdown", `Cannot load the model file ${path}: ${why}`, {
      cause,
      code: "model_file_invalid",
    });
  let want = Math.min(fileSize, 1 << 20);
  let header: GgufHeader | undefined;
  let bytes: Uint8Array = new Uint8Array(0);
  for (let attempt = 0; header === undefined && attempt < 64; attempt++) {
    bytes = await access.readFileRange(path, 0, want);
    try {
      header = parseGgufHeader(bytes);
    } catch (error) {
      if (!(error instanceof GgufTruncatedError)) throw corrupt((error as Error).message, error);
      if (want >= fileSize) {
        throw corrupt(`the file ends inside its header (${fileSize} bytes)`, error);
      }
      want = Math.min(fileSize, Math.max(want * 2, error.needBytes));
    }
  }
  if (header === undefined) throw corrupt("the header is too large");
  for (const tensor of header.tensors) {
    if (tensor.offset + tensor.byteLength > fileSize) {
      throw corrupt(
        `tensor ${tensor.name} ends at byte ${tensor.offset + tensor.byteLength} but the file ` +
          `has ${fileSize} bytes (truncated download?)`,
      );
    }
  }
  const prefix = bytes.subarray(0, header.metadataEnd);
  const digest = await crypto.subtle.digest("SHA-256", prefix as Uint8Array<ArrayBuffer>);
  return {
    header,
    fileSize,
    cardFile: {
      path,
      sha256: hex(digest),
      size: header.metadataEnd,
    },
  };
}
