/**
 * The NATS {@linkcode MessageTransport}: core NATS publish/subscribe over one
 * connection (TCP or WebSocket, see `nats_connection.ts`).
 *
 * @module
 */
import { createInbox, type NatsConnection } from "@nats-io/nats-core";
import type {
  MessageHandler,
  MessageTransport,
  TransportSubscription,
} from "./message_transport.ts";

/** NATS's default max_payload, used until the server's INFO says otherwise. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

/** A {@linkcode MessageTransport} over a NATS connection it owns. */
export class NatsTransport implements MessageTransport {
  /** The connection; closed by `close()`. */
  readonly connection: NatsConnection;
  #listeners = new Set<() => void>();
  #watching: Promise<void>;

  /** Wraps `connection` and starts watching its status for disconnects. */
  constructor(connection: NatsConnection) {
    this.connection = connection;
    this.#watching = this.#watch();
  }

  /** The server's max_payload (nats-server's `max_payload`, 1 MiB by default). */
  get maxPayload(): number {
    return this.connection.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
  }

  publish(subject: string, data: Uint8Array, reply?: string): void {
    try {
      this.connection.publish(subject, data, reply === undefined ? undefined : { reply });
    } catch {
      // Closed or draining: the message is lost; the disconnect listeners handle the rest.
    }
  }

  subscribe(subject: string, handler: MessageHandler, queue?: string): TransportSubscription {
    const sub = this.connection.subscribe(subject, {
      queue,
      callback: (error, msg) => {
        if (error !== null) return;
        const noResponders = msg.data.length === 0 && msg.headers?.code === 503;
        handler({ subject: msg.subject, data: msg.data, reply: msg.reply, noResponders });
      },
    });
    return {
      unsubscribe: () => {
        try {
          sub.unsubscribe();
        } catch {
          // Already closed.
        }
      },
    };
  }

  inbox(): string {
    return createInbox();
  }

  async flush(): Promise<void> {
    await this.connection.flush();
  }

  onDisconnect(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    if (!this.connection.isClosed()) await this.connection.close();
    await this.#watching;
  }

  async #watch(): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type === "disconnect" || status.type === "staleConnection") {
        for (const listener of [...this.#listeners]) listener();
      }
    }
  }
}
