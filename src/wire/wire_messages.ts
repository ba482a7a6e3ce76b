/**
 * The request-plane wire messages, as zod schemas: everything that crosses a
 * process between a caller (frontend, router) and a worker. The prose
 * description is `wire_format.md` next to this file; the two MUST agree.
 *
 * @module
 */
import { z } from "zod";
import { ErrorKind } from "../errors/sluice_error.ts";

/** Version of the wire format carried by every request envelope. */
export const WIRE_VERSION = 1;

/** A typed error on the wire: a `SluiceError` without its stack or cause. */
export const WireErrorSchema = z.object({
  kind: z.enum(Object.values(ErrorKind) as [ErrorKind, ...ErrorKind[]]).catch("Unknown"),
  message: z.string(),
  code: z.string().optional(),
  param: z.string().optional(),
});

/** One engine output chunk: the fields the runtime reads are checked, the rest pass through. */
export const WireChunkSchema = z.looseObject({
  token_ids: z.array(z.number().int()),
  index: z.number().int().nonnegative(),
});

/** Caller → worker: the request envelope, published to the endpoint subject. */
export const RequestEnvelopeSchema = z.object({
  t: z.literal("req"),
  v: z.literal(WIRE_VERSION),
  /** Request id, unique per request. */
  id: z.string().min(1).max(256),
  /** The request body; the worker's handler validates it. */
  payload: z.unknown(),
  /** Propagated headers (`traceparent`, caller metadata). */
  headers: z.record(z.string(), z.string()),
  /** Absolute deadline, Unix epoch milliseconds; absent = none. */
  deadline: z.number().int().positive().optional(),
  /** Subject the worker sends accept/reject and the stream to. */
  reply: z.string().min(1),
  /** Initial credit: how many chunks the worker may send before more credit arrives. */
  credits: z.number().int().min(1).max(65_536),
  /** Caller's heartbeat interval in ms; the worker treats 3 missed intervals as caller gone. */
  hb: z.number().int().min(10).max(600_000),
});

/** Worker → caller, first message on the reply subject: the request is accepted. */
export const AcceptSchema = z.object({
  t: z.literal("accept"),
  id: z.string(),
  /** Subject for control messages (credit, ping, stop, kill, disconnect, drop). */
  control: z.string().min(1),
  /** Worker's heartbeat interval in ms. */
  hb: z.number().int().min(10).max(600_000),
});

/** Worker → caller, instead of accept: the request is refused; no stream follows. */
export const RejectSchema = z.object({
  t: z.literal("reject"),
  id: z.string(),
  error: WireErrorSchema,
});

/** Worker → caller: one or more chunks (several when the caller lagged and they were coalesced). */
export const ChunkMessageSchema = z.object({
  t: z.literal("chunk"),
  /** 1, 2, 3, … per stream; a gap means lost messages. */
  seq: z.number().int().positive(),
  chunks: z.array(WireChunkSchema).min(1),
});

/** Worker → caller: the explicit end of stream; `seq` is the last chunk message's seq (0 if none). */
export const EndSchema = z.object({
  t: z.literal("end"),
  seq: z.number().int().nonnegative(),
});

/** Worker → caller: the stream failed; nothing follows. */
export const StreamErrorSchema = z.object({
  t: z.literal("error"),
  seq: z.number().int().nonnegative(),
  error: WireErrorSchema,
});

/** Worker → caller: liveness while nothing else is sent. */
export const HeartbeatSchema = z.object({ t: z.literal("hb") });

/** Everything the worker sends on the reply subject. */
export const ReplyMessageSchema = z.discriminatedUnion("t", [
  AcceptSchema,
  RejectSchema,
  ChunkMessageSchema,
  EndSchema,
  StreamErrorSchema,
  HeartbeatSchema,
]);

/** Caller → worker, on the control subject named in accept. */
export const ControlMessageSchema = z.discriminatedUnion("t", [
  /** More credit: the caller consumed `n` more chunks. */
  z.object({ t: z.literal("credit"), n: z.number().int().min(1).max(65_536) }),
  /** Caller liveness while nothing else is sent. */
  z.object({ t: z.literal("ping") }),
  /** Graceful cancel: the request signal fires with code `stop`. */
  z.object({ t: z.literal("stop") }),
  /** Hard cancel: the request signal fires with code `kill`. */
  z.object({ t: z.literal("kill") }),
  /** The caller's own caller vanished: the signal fires with code `disconnect`. */
  z.object({ t: z.literal("disconnect") }),
  /** The caller stopped reading (silent drop): the stream ends WITHOUT firing the signal. */
  z.object({ t: z.literal("drop") }),
]);

/** A request envelope. */
export type RequestEnvelope = z.infer<typeof RequestEnvelopeSchema>;
/** A message on the reply subject. */
export type ReplyMessage = z.infer<typeof ReplyMessageSchema>;
/** A message on the control subject. */
export type ControlMessage = z.infer<typeof ControlMessageSchema>;
/** A typed error on the wire. */
export type WireError = z.infer<typeof WireErrorSchema>;
