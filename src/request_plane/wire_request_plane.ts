/**
 * A {@linkcode RequestPlane} that speaks the wire protocol
 * (`src/wire/wire_format.md`) over any {@linkcode MessageTransport}: NATS over
 * TCP or WebSocket, or the in-memory bus of the in-process plane's strict mode.
 *
 * Subjects: an endpoint instance is served on its own subject
 * (`{ns}.{component}.{endpoint}-{instanceHex}`, for routed requests) and on the
 * endpoint's queue-group subject (`{ns}.{component}.{endpoint}`, for "any
 * worker"). Replies and control messages use one wildcard inbox per plane.
 *
 * @module
 */
import { SluiceError } from "../errors/sluice_error.ts";
import type { EndpointPath } from "../discovery/discovery.ts";
import { type Codec, decodeControl, decodeRequest, jsonCodec } from "../wire/wire_codec.ts";
import type {
  MessageTransport,
  TransportMessage,
  TransportSubscription,
} from "../wire/message_transport.ts";
import { type RequestEnvelope, WIRE_VERSION } from "../wire/wire_messages.ts";
import {
  type CallOptions,
  endpointSubject,
  type RequestHandler,
  type RequestPlane,
  type ResponseStream,
  type ServedEndpoint,
  type TransportAddress,
} from "./request_plane.ts";
import { WireCall } from "./wire_caller.ts";
import { WireResponder } from "./wire_responder.ts";

/** Tuning of the wire protocol; the defaults suit a LAN. */
export interface WireProtocolOptions {
  /** Codec for every message (default JSON). */
  codec?: Codec;
  /** Heartbeat interval in ms (default 1000): 3 missed intervals mean the peer is gone. */
  heartbeatMs?: number;
  /** Chunks a caller lets a worker send ahead of its reading (default 512). */
  credits?: number;
  /** Chunks a worker reads ahead of its credit or coalesces into one message (default 128). */
  maxPending?: number;
}

/** Options for {@linkcode WireRequestPlane}. */
export interface WireRequestPlaneOptions extends WireProtocolOptions {
  /** The plane's `kind` (`nats`, `inprocess`). */
  kind: string;
  /** The key of the {@linkcode TransportAddress} variant this plane serves and calls. */
  addressKey: "nats" | "inprocess";
  /** The connection; closed by `close()` when `ownsTransport`. */
  transport: MessageTransport;
  /** Whether `close()` also closes the transport (default true). */
  ownsTransport?: boolean;
}

/** The queue-group subject of an endpoint: `{ns}.{component}.{endpoint}` (any instance). */
export function endpointQueueSubject(endpoint: EndpointPath): string {
  return `${endpoint.namespace}.${endpoint.component}.${endpoint.endpoint}`;
}

/** The request plane over a message transport. */
export class WireRequestPlane implements RequestPlane {
  readonly kind: string;
  readonly #key: "nats" | "inprocess";
  readonly #t: MessageTransport;
  readonly #owns: boolean;
  readonly #codec: Codec;
  readonly #hb: number;
  readonly #credits: number;
  readonly #maxPending: number;
  readonly #inbox: string;
  #inboxSub: TransportSubscription | undefined;
  #next = 0;
  #calls = new Map<string, WireCall>();
  #responders = new Map<string, WireResponder>();
  #served = new Map<string, ServedEndpoint>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #offDisconnect: () => void;
  #closed = false;

  /** Wraps `options.transport`; nothing is subscribed until the first serve or call. */
  constructor(options: WireRequestPlaneOptions) {
    this.kind = options.kind;
    this.#key = options.addressKey;
    this.#t = options.transport;
    this.#owns = options.ownsTransport ?? true;
    this.#codec = options.codec ?? jsonCodec;
    this.#hb = options.heartbeatMs ?? 1000;
    this.#credits = options.credits ?? 512;
    this.#maxPending = options.maxPending ?? 128;
    this.#inbox = this.#t.inbox();
    this.#offDisconnect = this.#t.onDisconnect(() => this.#disconnected());
  }

  serve(
    endpoint: EndpointPath & { instanceId: string },
    handler: RequestHandler,
  ): Promise<ServedEndpoint> {
    if (this.#closed) {
      return Promise.reject(new SluiceError("CannotConnect", "Cannot serve: the plane is closed"));
    }
    const subject = endpointSubject(endpoint);
    if (this.#served.has(subject)) {
      return Promise.reject(
        new SluiceError("InvalidArgument", `Cannot serve "${subject}": already served`),
      );
    }
    // The control inbox is subscribed now, not on the first request: a SUB written just
    // before the first accept would put two small writes back to back.
    this.#ensureInbox();
    const onRequest = (message: TransportMessage) => this.#onRequest(message, handler);
    const queueSubject = endpointQueueSubject(endpoint);
    const subs = [
      this.#t.subscribe(subject, onRequest),
      this.#t.subscribe(queueSubject, onRequest, queueSubject),
    ];
    const close = async () => {
      if (!this.#served.has(subject)) return;
      this.#served.delete(subject);
      for (const sub of subs) sub.unsubscribe();
      await this.#t.flush().catch(() => {});
    };
    const served: ServedEndpoint = {
      address: { [this.#key]: subject } as TransportAddress,
      close,
      [Symbol.asyncDispose]: close,
    };
    this.#served.set(subject, served);
    // While reconnecting the flush fails; the client re-subscribes on reconnect by itself.
    return this.#t.flush().then(() => served, () => served);
  }

  async call(
    address: TransportAddress,
    payload: unknown,
    options: CallOptions = {},
  ): Promise<ResponseStream> {
    const subject = (address as Record<string, string>)[this.#key];
    if (typeof subject !== "string") {
      throw new SluiceError(
        "CannotConnect",
        `Cannot call ${JSON.stringify(address)}: not a ${this.#key} address`,
      );
    }
    if (this.#closed) throw new SluiceError("CannotConnect", "Cannot call: the plane is closed");
    if (options.signal?.aborted) {
      throw new SluiceError("Cancelled", `Cannot call "${subject}": the caller already aborted`);
    }
    const id = options.id ?? crypto.randomUUID();
    const reply = `${this.#inbox}.r${++this.#next}`;
    const envelope: RequestEnvelope = {
      t: "req",
      v: WIRE_VERSION,
      id,
      payload,
      headers: options.headers ?? {},
      reply,
      credits: this.#credits,
      hb: this.#hb,
    };
    if (options.deadline !== undefined) envelope.deadline = Math.ceil(options.deadline);
    const bytes = this.#codec.encode(envelope);
    if (bytes.byteLength > this.#t.maxPayload) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot send request ${id}: ${bytes.byteLength} bytes exceed the server's max payload of ${this.#t.maxPayload} bytes (nats-server max_payload)`,
        { code: "request_too_large" },
      );
    }
    const call = new WireCall({
      id,
      subject,
      transport: this.#t,
      codec: this.#codec,
      credits: this.#credits,
      heartbeatMs: this.#hb,
      deadline: envelope.deadline,
      signal: options.signal,
      onDone: () => {
        this.#calls.delete(reply);
        this.#maybeStopTimer();
      },
    });
    this.#ensureInbox();
    this.#calls.set(reply, call);
    this.#ensureTimer();
    this.#t.publish(subject, bytes, reply);
    await call.accepted();
    return call.response();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const served of [...this.#served.values()]) await served.close();
    const closing = new SluiceError("Disconnected", "Cannot complete request: the plane closed");
    for (const call of [...this.#calls.values()]) call.fail(closing);
    for (const responder of [...this.#responders.values()]) responder.disconnected(true);
    await this.#t.flush().catch(() => {});
    this.#inboxSub?.unsubscribe();
    this.#offDisconnect();
    this.#stopTimer();
    if (this.#owns) await this.#t.close();
  }

  #onRequest(message: TransportMessage, handler: RequestHandler): void {
    let envelope: RequestEnvelope;
    try {
      envelope = decodeRequest(this.#codec, message.data);
    } catch (error) {
      if (message.reply !== undefined) {
        const typed = error instanceof SluiceError
          ? error
          : new SluiceError("Unknown", String(error));
        this.#t.publish(
          message.reply,
          this.#codec.encode({ t: "reject", id: "", error: typed.toJSON() }),
        );
      }
      return;
    }
    this.#ensureInbox();
    const control = `${this.#inbox}.c${++this.#next}`;
    const responder = new WireResponder(envelope, {
      transport: this.#t,
      codec: this.#codec,
      control,
      heartbeatMs: this.#hb,
      maxPending: this.#maxPending,
      onDone: () => {
        this.#responders.delete(control);
        this.#maybeStopTimer();
      },
    });
    this.#responders.set(control, responder);
    this.#ensureTimer();
    responder.run(handler);
  }

  #onInbox(message: TransportMessage): void {
    const call = this.#calls.get(message.subject);
    if (call !== undefined) return call.onMessage(message);
    const responder = this.#responders.get(message.subject);
    if (responder === undefined || message.noResponders) return;
    try {
      responder.onControl(decodeControl(this.#codec, message.data));
    } catch {
      // A malformed control message is ignored; the heartbeat watchdog still applies.
    }
  }

  #ensureInbox(): void {
    this.#inboxSub ??= this.#t.subscribe(`${this.#inbox}.>`, (m) => this.#onInbox(m));
  }

  #disconnected(): void {
    for (const call of [...this.#calls.values()]) {
      call.fail(
        new SluiceError(
          "Disconnected",
          "Cannot complete request: the connection to the server was lost",
        ),
      );
    }
    for (const responder of [...this.#responders.values()]) responder.disconnected();
  }

  #ensureTimer(): void {
    if (this.#timer !== undefined) return;
    const period = Math.max(5, Math.floor(this.#hb / 4));
    this.#timer = setInterval(() => {
      const now = Date.now();
      for (const call of [...this.#calls.values()]) call.tick(now);
      for (const responder of [...this.#responders.values()]) responder.tick(now);
    }, period);
  }

  #maybeStopTimer(): void {
    if (this.#calls.size === 0 && this.#responders.size === 0) this.#stopTimer();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
