/**
 * The NATS event plane: KV events on `{ns}.{component}.kv-events` and load
 * metrics on `{ns}.{component}.load-metrics` (see `event_plane.ts`), as JSON
 * over core NATS (TCP or WebSocket by URL).
 *
 * Core NATS is at-most-once: a message published while a subscriber's
 * connection is down is lost. So a lost connection fails every subscription
 * with `Disconnected` (the subscriber resubscribes and resyncs, as for a slow
 * subscriber), never leaving a silent gap.
 *
 * @module
 */
import type { NatsConnection, Subscription as NatsSubscription } from "@nats-io/nats-core";
import { SluiceError } from "../errors/sluice_error.ts";
import { AsyncQueue } from "../util/async_queue.ts";
import { type Codec, jsonCodec } from "../wire/wire_codec.ts";
import {
  connectNats,
  type NatsConnectOptions,
  resolveNatsServer,
} from "../wire/nats_connection.ts";
import type { EventPlane, SubscribeOptions, Subscription } from "./event_plane.ts";

/** Options for {@linkcode NatsEventPlane}. */
export interface NatsEventPlaneOptions {
  /** Codec for events (default JSON). */
  codec?: Codec;
  /** Whether `close()` also closes the connection (default true). */
  ownsConnection?: boolean;
}

interface Active {
  sub: NatsSubscription;
  queue: AsyncQueue<unknown>;
  close(): Promise<void>;
}

/** {@linkcode EventPlane} over a NATS connection. */
export class NatsEventPlane implements EventPlane {
  /** Always `nats`. */
  readonly kind = "nats";
  /** The connection. */
  readonly connection: NatsConnection;
  readonly #codec: Codec;
  readonly #owns: boolean;
  #active = new Set<Active>();
  #watching: Promise<void>;
  #closed = false;

  /** Wraps `connection`. */
  constructor(connection: NatsConnection, options: NatsEventPlaneOptions = {}) {
    this.connection = connection;
    this.#codec = options.codec ?? jsonCodec;
    this.#owns = options.ownsConnection ?? true;
    this.#watching = this.#watch();
  }

  /**
   * Publishes `event` (JSON-serialisable).
   * @throws {SluiceError} `InvalidArgument` when it does not encode or exceeds max_payload;
   *   `Disconnected` when the plane is closed.
   */
  publish(subject: string, event: unknown): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new SluiceError("Disconnected", `Cannot publish on "${subject}": the plane is closed`),
      );
    }
    const bytes = this.#codec.encode(event);
    const max = this.connection.info?.max_payload ?? 1024 * 1024;
    if (bytes.byteLength > max) {
      return Promise.reject(
        new SluiceError(
          "InvalidArgument",
          `Cannot publish on "${subject}": ${bytes.byteLength} bytes exceed the server's max payload ${max}`,
          { code: "event_too_large" },
        ),
      );
    }
    try {
      this.connection.publish(subject, bytes);
    } catch (error) {
      return Promise.reject(
        new SluiceError("Disconnected", `Cannot publish on "${subject}": ${String(error)}`, {
          cause: error,
        }),
      );
    }
    return Promise.resolve();
  }

  /** Subscribes to `subject` (a NATS pattern). Use {@linkcode NatsEventPlane.settle} to await it. */
  subscribe<T = unknown>(subject: string, options: SubscribeOptions = {}): Subscription<T> {
    const queue = new AsyncQueue<unknown>(options.highWaterMark ?? 4096);
    const fail = (error: SluiceError) => {
      if (queue.closed) return;
      queue.fail(error);
      void active.close();
    };
    const sub = this.connection.subscribe(subject, {
      callback: (error, msg) => {
        if (error !== null || queue.closed) return;
        let event: unknown;
        try {
          event = this.#codec.decode(msg.data);
        } catch (decodeError) {
          fail(decodeError as SluiceError);
          return;
        }
        if (!queue.tryPush(event)) {
          fail(
            new SluiceError(
              "Disconnected",
              `Cannot deliver event on "${msg.subject}": subscriber fell behind; resubscribe and resync`,
            ),
          );
        }
      },
    });
    const close = () => {
      if (!this.#active.has(active)) return Promise.resolve();
      this.#active.delete(active);
      options.signal?.removeEventListener("abort", close);
      queue.close();
      try {
        sub.unsubscribe();
      } catch {
        // Connection already closed.
      }
      return Promise.resolve();
    };
    const active: Active = { sub, queue, close };
    this.#active.add(active);
    if (options.signal?.aborted) void close();
    else options.signal?.addEventListener("abort", close, { once: true });
    return {
      subject,
      close,
      [Symbol.asyncDispose]: close,
      [Symbol.asyncIterator]: () => {
        const it = queue[Symbol.asyncIterator]();
        return {
          next: () => it.next() as Promise<IteratorResult<T, undefined>>,
          return: async () => {
            await close();
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  /** Resolves once the subscriptions made so far are active on the server. */
  async settle(): Promise<void> {
    await this.connection.flush();
  }

  /** Ends every subscription; closes the connection when owned. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const active of [...this.#active]) await active.close();
    if (this.#owns && !this.connection.isClosed()) await this.connection.close();
    if (this.#owns) await this.#watching;
  }

  async #watch(): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type !== "disconnect") continue;
      for (const active of [...this.#active]) {
        if (active.queue.closed) continue;
        active.queue.fail(
          new SluiceError(
            "Disconnected",
            "Cannot deliver events: the connection to the server was lost; resubscribe and resync",
          ),
        );
        await active.close();
      }
    }
  }
}

/**
 * Connects an event plane to NATS: `options.server`, else `NATS_SERVER`, else
 * `nats://127.0.0.1:4222`.
 * @throws {SluiceError} `CannotConnect` naming the address, `InvalidArgument` for a bad URL.
 */
export async function connectNatsEventPlane(
  env: (name: string) => string | undefined,
  options: NatsEventPlaneOptions & NatsConnectOptions & { server?: string } = {},
): Promise<NatsEventPlane> {
  const connection = await connectNats(resolveNatsServer(env, options.server), {
    name: options.name ?? "sluice-event-plane",
    timeoutMs: options.timeoutMs,
    reconnectWaitMs: options.reconnectWaitMs,
  });
  return new NatsEventPlane(connection, options);
}
