/**
 * Codecs turn wire messages into bytes and back. Decoding validates with the
 * zod schemas of `wire_messages.ts`: bytes from another process are external
 * input, and a malformed message is a typed `InvalidArgument`, never a crash.
 *
 * @module
 */
import type { z } from "zod";
import { SluiceError } from "../errors/sluice_error.ts";
import {
  type ControlMessage,
  ControlMessageSchema,
  type ReplyMessage,
  ReplyMessageSchema,
  type RequestEnvelope,
  RequestEnvelopeSchema,
} from "./wire_messages.ts";

/** Bytes ⇄ plain values. `decode(encode(v))` MUST deep-equal the JSON form of `v`. */
export interface Codec {
  /** Codec name, e.g. `json`. */
  readonly name: string;
  /** Encodes a JSON-compatible value. @throws {SluiceError} `InvalidArgument` if it cannot. */
  encode(value: unknown): Uint8Array;
  /** Decodes bytes. @throws {SluiceError} `InvalidArgument` for malformed bytes. */
  decode(bytes: Uint8Array): unknown;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The JSON codec (UTF-8 JSON text): the default, readable with any NATS tool. */
export const jsonCodec: Codec = {
  name: "json",
  encode(value) {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (error) {
      throw new SluiceError("InvalidArgument", `Cannot encode message: ${String(error)}`, {
        cause: error,
      });
    }
    if (text === undefined) {
      throw new SluiceError("InvalidArgument", "Cannot encode message: not JSON-serialisable");
    }
    return encoder.encode(text);
  },
  decode(bytes) {
    try {
      return JSON.parse(decoder.decode(bytes));
    } catch (error) {
      throw new SluiceError("InvalidArgument", `Cannot decode message: ${String(error)}`, {
        cause: error,
      });
    }
  },
};

function parseWith<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join(".") : "message";
    throw new SluiceError(
      "InvalidArgument",
      `Cannot read ${what}: ${where}: ${issue?.message ?? "invalid"}`,
      { param: where },
    );
  }
  return result.data;
}

/** Decodes and validates a request envelope. @throws {SluiceError} `InvalidArgument`. */
export function decodeRequest(codec: Codec, bytes: Uint8Array): RequestEnvelope {
  return parseWith(RequestEnvelopeSchema, "request envelope", codec.decode(bytes));
}

/** Decodes and validates a reply-subject message. @throws {SluiceError} `InvalidArgument`. */
export function decodeReply(codec: Codec, bytes: Uint8Array): ReplyMessage {
  return parseWith(ReplyMessageSchema, "reply message", codec.decode(bytes));
}

/** Decodes and validates a control message. @throws {SluiceError} `InvalidArgument`. */
export function decodeControl(codec: Codec, bytes: Uint8Array): ControlMessage {
  return parseWith(ControlMessageSchema, "control message", codec.decode(bytes));
}
