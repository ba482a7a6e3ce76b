/**
 * The caller's side of one request over the wire protocol (`src/wire/wire_format.md`):
 * waits for accept/reject, queues stream messages (bounded by the credit it
 * grants), checks sequence numbers and the end marker, pings the worker, and
 * turns a silent worker, a lost connection or a passed deadline into typed errors.
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import type { Codec } from "../wire/wire_codec.ts";
import { decodeReply } from "../wire/wire_codec.ts";
import type { MessageTransport, TransportMessage } from "../wire/message_transport.ts";
import type { ControlMessage, ReplyMessage } from "../wire/wire_messages.ts";
import type { ResponseStream } from "./request_plane.ts";

/** What a {@linkcode WireCall} needs from its plane. */
export interface WireCallOptions {
  id: string;
  /** The subject the request went to (for messages). */
  subject: string;
  transport: MessageTransport;
  codec: Codec;
  /** Credit granted up front, in stream messages. */
  credits: number;
  /** The interval at which this side expects worker messages (3 missed = gone). */
  heartbeatMs: number;
  /** Absolute deadline in epoch ms. */
  deadline?: number;
  signal?: AbortSignal;
  /** Called once when the call ends for any reason (unregisters it). */
  onDone(): void;
}

type Queued = Extract<ReplyMessage, { t: "chunk" | "end" | "error" }>;

/** One outgoing request's state. Created by the plane before the envelope is published. */
export class WireCall {
  readonly #o: WireCallOptions;
  #accept = Promise.withResolvers<void>();
  #state: "pending" | "open" | "done" = "pending";
  #control: string | undefined;
  #peerHeartbeatMs: number;
  #pendingControl: ControlMessage[] = [];
  #abandoned = false;
  #ended = false;
  #queue: Queued[] = [];
  #batch: GenerateChunk[] = [];
  #batchAt = 0;
  #failure: SluiceError | undefined;
  #wake: (() => void) | undefined;
  #expectedSeq = 1;
  #consumed = 0;
  #lastHeard = Date.now();
  #lastSent = Date.now();
  #onAbort = () => this.#callerAborted();

  constructor(options: WireCallOptions) {
    this.#o = options;
    this.#peerHeartbeatMs = options.heartbeatMs;
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#accept.promise.catch(() => {});
  }

  /** Resolves once accepted; rejects with the worker's typed rejection or a transport error. */
  accepted(): Promise<void> {
    return this.#accept.promise;
  }

  /** True once the call ended. */
  get done(): boolean {
    return this.#state === "done";
  }

  /** Handles one message on this call's reply subject. */
  onMessage(message: TransportMessage): void {
    if (this.#state === "done") return;
    if (message.noResponders) {
      this.fail(
        new SluiceError(
          "CannotConnect",
          `Cannot call "${this.#o.subject}": no worker serves this subject`,
        ),
      );
      return;
    }
    let msg: ReplyMessage;
    try {
      msg = decodeReply(this.#o.codec, message.data);
    } catch (error) {
      this.fail(
        new SluiceError("Unknown", `Cannot read reply to request ${this.#o.id}: ${String(error)}`),
      );
      this.#sendControl({ t: "kill" });
      return;
    }
    this.#lastHeard = Date.now();
    switch (msg.t) {
      case "hb":
        return;
      case "accept":
        if (this.#state !== "pending") return this.#protocolError("a second accept");
        this.#state = "open";
        this.#control = msg.control;
        this.#peerHeartbeatMs = msg.hb;
        if (this.#abandoned) {
          this.#sendControl({ t: "disconnect" });
          this.#finish();
          return;
        }
        for (const c of this.#pendingControl.splice(0)) this.#sendControl(c);
        this.#accept.resolve();
        return;
      case "reject":
        if (this.#state !== "pending") return this.#protocolError("a reject after accept");
        this.#accept.reject(
          this.#o.deadline !== undefined && Date.now() >= this.#o.deadline
            ? new SluiceError(
              "ResponseTimeout",
              `Cannot complete request ${this.#o.id}: its deadline passed (${msg.error.message})`,
            )
            : SluiceError.fromJSON(msg.error),
        );
        this.#finish();
        return;
      default:
        if (this.#state !== "open") return this.#protocolError(`"${msg.t}" before accept`);
        if (msg.t === "chunk") {
          if (msg.seq !== this.#expectedSeq) {
            return this.#lost(`got message ${msg.seq}, expected ${this.#expectedSeq}`);
          }
          this.#expectedSeq++;
        } else if (msg.seq !== this.#expectedSeq - 1) {
          return this.#lost(`stream ended at ${msg.seq}, received ${this.#expectedSeq - 1}`);
        }
        if (msg.t !== "chunk") this.#ended = true;
        this.#queue.push(msg);
        this.#wakeUp();
    }
  }

  /**
   * Periodic check: deadline, worker silence (3 missed heartbeats = `Disconnected`),
   * and a ping when nothing was sent for a heartbeat interval.
   */
  tick(now: number): void {
    if (this.#state === "done" || this.#failure !== undefined || this.#ended) return;
    if (this.#o.deadline !== undefined && now >= this.#o.deadline) {
      this.#sendControl({ t: "kill" });
      this.fail(
        new SluiceError(
          "ResponseTimeout",
          `Cannot complete request ${this.#o.id}: its deadline passed`,
        ),
      );
      return;
    }
    if (now - this.#lastHeard > 3 * this.#o.heartbeatMs) {
      this.#sendControl({ t: "kill" });
      this.fail(
        new SluiceError(
          "Disconnected",
          `Cannot complete request ${this.#o.id}: no message from the worker on "${this.#o.subject}" for ${
            now - this.#lastHeard
          } ms`,
        ),
      );
      return;
    }
    if (this.#control !== undefined && now - this.#lastSent >= this.#peerHeartbeatMs) {
      this.#sendControl({ t: "ping" });
    }
  }

  /**
   * Fails the call: a pending `call()` rejects; an open stream yields what it already
   * received, then throws `error`.
   */
  fail(error: SluiceError): void {
    if (this.#state === "done" || this.#failure !== undefined) return;
    this.#failure = error;
    if (this.#state === "pending") {
      this.#accept.reject(error);
      this.#finish();
    }
    this.#wakeUp();
  }

  /** The caller's view, once accepted. */
  response(): ResponseStream {
    let readable: ReadableStream<GenerateChunk> | undefined;
    const iterator = (): AsyncIterator<GenerateChunk, undefined> => ({
      next: () => this.#next(),
      return: () => {
        this.#drop();
        return Promise.resolve({ done: true, value: undefined });
      },
    });
    return {
      id: this.#o.id,
      get readable() {
        if (readable === undefined) {
          const it = iterator();
          readable = new ReadableStream<GenerateChunk>({
            async pull(controller) {
              try {
                const r = await it.next();
                if (r.done) controller.close();
                else controller.enqueue(r.value);
              } catch (error) {
                controller.error(error);
              }
            },
            cancel: () => {
              it.return?.();
            },
          }, { highWaterMark: 0 });
        }
        return readable;
      },
      stop: () => this.#cancel("stop"),
      kill: () => this.#cancel("kill"),
      [Symbol.asyncIterator]: iterator,
    };
  }

  async #next(): Promise<IteratorResult<GenerateChunk, undefined>> {
    for (;;) {
      if (this.#batchAt < this.#batch.length) {
        this.#grant();
        return { done: false, value: this.#batch[this.#batchAt++] };
      }
      const msg = this.#queue.shift();
      if (msg !== undefined) {
        if (msg.t === "chunk") {
          this.#batch = msg.chunks as GenerateChunk[];
          this.#batchAt = 0;
          continue;
        }
        this.#finish();
        if (msg.t === "error") throw SluiceError.fromJSON(msg.error);
        return { done: true, value: undefined };
      }
      if (this.#failure !== undefined) {
        const failure = this.#failure;
        this.#finish();
        throw failure;
      }
      if (this.#state === "done") return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #grant(): void {
    this.#consumed++;
    if (this.#consumed >= Math.max(1, this.#o.credits >> 2)) {
      this.#sendControl({ t: "credit", n: this.#consumed });
      this.#consumed = 0;
    }
  }

  #cancel(mode: "stop" | "kill"): void {
    if (this.#state === "done") return;
    this.#sendControl({ t: mode });
  }

  #callerAborted(): void {
    if (this.#state === "pending") {
      this.#abandoned = true;
      this.#accept.reject(toSluiceError(this.#o.signal?.reason));
      return;
    }
    this.#sendControl({ t: "disconnect" });
  }

  #drop(): void {
    if (this.#state === "done") return;
    if (this.#failure === undefined) this.#sendControl({ t: "drop" });
    this.#finish();
  }

  #sendControl(message: ControlMessage): void {
    if (this.#control === undefined) {
      if (this.#state === "pending") this.#pendingControl.push(message);
      return;
    }
    this.#lastSent = Date.now();
    try {
      this.#o.transport.publish(this.#control, this.#o.codec.encode(message));
    } catch {
      // A lost connection: the disconnect listener fails the call.
    }
  }

  #protocolError(what: string): void {
    this.#sendControl({ t: "kill" });
    this.fail(
      new SluiceError("Unknown", `Cannot read reply to request ${this.#o.id}: got ${what}`),
    );
  }

  #lost(detail: string): void {
    this.#sendControl({ t: "kill" });
    this.fail(
      new SluiceError(
        "Disconnected",
        `Cannot complete request ${this.#o.id}: stream messages were lost (${detail})`,
      ),
    );
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #finish(): void {
    if (this.#state === "done") return;
    this.#state = "done";
    this.#o.signal?.removeEventListener("abort", this.#onAbort);
    this.#queue.length = 0;
    this.#o.onDone();
    this.#wakeUp();
  }
}
