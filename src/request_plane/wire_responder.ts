/**
 * The worker's side of one request over the wire protocol
 * (`src/wire/wire_format.md`): runs the handler, answers accept or reject,
 * pumps the engine stream within the caller's credit (coalescing chunks while
 * the caller lags, and not reading the engine at all once `maxPending` chunks
 * wait), sends the end marker, obeys control messages, and stops when the
 * caller vanishes.
 *
 * @module
 */
import { SluiceError, toSluiceError } from "../errors/sluice_error.ts";
import type { GenerateChunk } from "../engine/generate_chunk.ts";
import type { Codec } from "../wire/wire_codec.ts";
import type { MessageTransport } from "../wire/message_transport.ts";
import type { ControlMessage, ReplyMessage, RequestEnvelope } from "../wire/wire_messages.ts";
import type { CancelReason, RequestHandler } from "./request_plane.ts";

/** What a {@linkcode WireResponder} needs from its plane. */
export interface WireResponderOptions {
  transport: MessageTransport;
  codec: Codec;
  /** This request's control subject (announced in accept). */
  control: string;
  /** The interval at which this side expects caller messages (3 missed = caller gone). */
  heartbeatMs: number;
  /** Chunks read ahead of the caller's credit before the engine stream is left unread. */
  maxPending: number;
  /** Called once when the request ends for any reason. */
  onDone(): void;
}

/** One incoming request's state on the worker. */
export class WireResponder {
  readonly #env: RequestEnvelope;
  readonly #o: WireResponderOptions;
  readonly #controller = new AbortController();
  #credits: number;
  #seq = 0;
  #pending: GenerateChunk[] = [];
  #reader: ReadableStreamDefaultReader<GenerateChunk> | undefined;
  #accepted = false;
  #expired = false;
  #gone = false;
  #done = false;
  #wake: (() => void) | undefined;
  #turn: ReturnType<typeof setTimeout> | undefined;
  #acceptTimer: ReturnType<typeof setTimeout> | undefined;
  #acceptSent = false;
  #lastHeard = Date.now();
  #lastSent = Date.now();

  constructor(envelope: RequestEnvelope, options: WireResponderOptions) {
    this.#env = envelope;
    this.#o = options;
    this.#credits = envelope.credits;
  }

  /** Runs the request to its end; never rejects. */
  async run(handler: RequestHandler): Promise<void> {
    let readable: ReadableStream<GenerateChunk>;
    try {
      readable = await handler({
        id: this.#env.id,
        payload: this.#env.payload,
        headers: this.#env.headers,
        signal: this.#controller.signal,
      });
    } catch (error) {
      // A handler that gave up because the deadline fired its signal failed by timeout.
      const typed = this.#expired ? this.#timeout() : toSluiceError(error);
      this.#send({ t: "reject", id: this.#env.id, error: typed.toJSON() });
      return this.#finish();
    }
    if (this.#gone) {
      readable.cancel().catch(() => {});
      return this.#finish();
    }
    // The accept goes out with the first chunk when the engine yields one within this
    // macrotask (one write instead of two: a client socket without TCP_NODELAY, such as
    // Deno's WebSocket, holds a second small write until the server's delayed ACK).
    this.#acceptTimer = setTimeout(() => this.#sendAccept(), 0);
    this.#accepted = true;
    this.#lastHeard = Date.now();
    const reader = this.#reader = readable.getReader();
    try {
      for (;;) {
        while (!this.#gone && this.#pending.length >= this.#o.maxPending) {
          if (this.#credits > 0) this.#flush();
          else await this.#waitForCredit();
        }
        if (this.#gone) break;
        const result = await reader.read();
        if (result.done || this.#gone) break;
        this.#pending.push(result.value);
        this.#nagle();
      }
      while (!this.#gone && this.#pending.length > 0) {
        if (this.#credits > 0) this.#flush();
        else await this.#waitForCredit();
      }
      if (!this.#gone) this.#send({ t: "end", seq: this.#seq });
    } catch (error) {
      if (!this.#gone) {
        // Bounded by maxPending: what was read before the failure still reaches the caller.
        if (this.#pending.length > 0) this.#flushUnchecked();
        this.#send({ t: "error", seq: this.#seq, error: toSluiceError(error).toJSON() });
      }
      reader.cancel().catch(() => {});
    } finally {
      reader.releaseLock();
      this.#finish();
    }
  }

  /** Handles one control message from the caller. */
  onControl(message: ControlMessage): void {
    this.#lastHeard = Date.now();
    switch (message.t) {
      case "credit":
        this.#credits += message.n;
        if (this.#pending.length > 0 && this.#turn === undefined && !this.#gone) this.#flush();
        this.#wakeUp();
        return;
      case "ping":
        return;
      case "drop":
        // Silent drop: the stream ends, the signal does NOT fire.
        this.#leave();
        return;
      default:
        this.#abort(message.t);
    }
  }

  /** Periodic check: deadline, caller silence, heartbeat to the caller. */
  tick(now: number): void {
    if (this.#done || this.#gone) return;
    if (this.#env.deadline !== undefined && now >= this.#env.deadline) {
      this.#expired = true;
      this.#abort("kill");
      if (this.#accepted) {
        this.#send({ t: "error", seq: this.#seq, error: this.#timeout().toJSON() });
      }
      this.#leave();
      return;
    }
    if (this.#accepted && now - this.#lastHeard > 3 * this.#o.heartbeatMs) {
      this.#abort("disconnect");
      this.#leave();
      return;
    }
    if (now - this.#lastSent >= this.#env.hb) this.#send({ t: "hb" });
  }

  /**
   * Stops generating: the connection was lost (`notify` false: the caller cannot be
   * reached) or the plane is closing (`notify` true: the caller gets a `Disconnected` error
   * now instead of noticing the silence later).
   */
  disconnected(notify = false): void {
    if (this.#done) return;
    this.#abort("disconnect");
    if (notify && this.#accepted && !this.#gone) {
      this.#send({
        t: "error",
        seq: this.#seq,
        error: new SluiceError(
          "Disconnected",
          `Cannot complete request ${this.#env.id}: the worker's request plane closed`,
        ).toJSON(),
      });
    }
    this.#leave();
  }

  #timeout(): SluiceError {
    return new SluiceError(
      "ResponseTimeout",
      `Cannot complete request ${this.#env.id}: its deadline passed`,
    );
  }

  #abort(reason: CancelReason): void {
    if (this.#controller.signal.aborted) return;
    this.#controller.abort(
      new SluiceError("Cancelled", `Request ${this.#env.id} was cancelled (${reason})`, {
        code: reason,
      }),
    );
  }

  /** Stops sending and reading: the engine stream is cancelled (its `finally` runs). */
  #leave(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#pending.length = 0;
    this.#reader?.cancel().catch(() => {});
    this.#wakeUp();
  }

  /**
   * Sends the first chunk of a burst at once; chunks that follow within the same
   * macrotask (an engine faster than the wire) are coalesced and sent when it ends, or
   * as soon as `maxPending` of them wait.
   */
  #nagle(): void {
    if (this.#turn !== undefined) return;
    if (this.#credits > 0) this.#flush();
    this.#turn = setTimeout(() => {
      this.#turn = undefined;
      if (!this.#gone && this.#credits > 0 && this.#pending.length > 0) this.#flush();
    }, 0);
  }

  #flush(): void {
    const chunks = this.#pending.splice(0, this.#credits);
    this.#credits -= chunks.length;
    this.#sendChunks(chunks);
  }

  #flushUnchecked(): void {
    this.#sendChunks(this.#pending.splice(0));
  }

  #sendChunks(chunks: GenerateChunk[]): void {
    const message = { t: "chunk" as const, seq: this.#seq + 1, chunks };
    const bytes = this.#o.codec.encode(message);
    if (bytes.byteLength > this.#o.transport.maxPayload) {
      if (chunks.length === 1) {
        throw new SluiceError(
          "InvalidArgument",
          `Cannot send a chunk of request ${this.#env.id}: ${bytes.byteLength} bytes exceed the server's max payload ${this.#o.transport.maxPayload}`,
          { code: "response_too_large" },
        );
      }
      // Coalesced too much for one message: send the halves separately.
      const half = chunks.length >> 1;
      this.#sendChunks(chunks.slice(0, half));
      this.#sendChunks(chunks.slice(half));
      return;
    }
    this.#seq++;
    this.#sendAccept();
    this.#publish(bytes);
  }

  #send(message: ReplyMessage | { t: "chunk"; seq: number; chunks: GenerateChunk[] }): void {
    if (message.t !== "accept" && message.t !== "reject" && message.t !== "hb") this.#sendAccept();
    this.#publish(this.#o.codec.encode(message));
  }

  #sendAccept(): void {
    clearTimeout(this.#acceptTimer);
    if (this.#acceptSent || !this.#accepted || this.#gone) return;
    this.#acceptSent = true;
    this.#send({
      t: "accept",
      id: this.#env.id,
      control: this.#o.control,
      hb: this.#o.heartbeatMs,
    });
  }

  #publish(bytes: Uint8Array): void {
    this.#lastSent = Date.now();
    try {
      this.#o.transport.publish(this.#env.reply, bytes);
    } catch {
      // A lost connection: the disconnect listener stops this request.
    }
  }

  #waitForCredit(): Promise<void> {
    return new Promise((resolve) => (this.#wake = resolve));
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#turn);
    clearTimeout(this.#acceptTimer);
    this.#o.onDone();
  }
}
