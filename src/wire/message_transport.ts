/**
 * A message transport: the few NATS-shaped operations the wire request plane
 * needs (publish with reply subject, subscribe with optional queue group,
 * no-responders notice, disconnect notice). Implementations: NATS (TCP or
 * WebSocket) and an in-memory bus (the in-process plane's strict mode).
 *
 * @module
 */

/** Called for each message on a subscription. */
export type MessageHandler = (message: TransportMessage) => void;

/** One received message. */
export interface TransportMessage {
  /** The subject it was published to. */
  readonly subject: string;
  /** The encoded body. */
  readonly data: Uint8Array;
  /** The reply subject set by the publisher, if any. */
  readonly reply?: string;
  /**
   * True when this is the server's notice that a message published with this
   * subscription's subject as reply subject reached no subscriber (NATS 503).
   */
  readonly noResponders: boolean;
}

/** A subscription handle. */
export interface TransportSubscription {
  /** Stops delivery. Idempotent. */
  unsubscribe(): void;
}

/** Publish/subscribe with request-reply hints, as NATS core provides. */
export interface MessageTransport {
  /** Largest message body the server accepts, in bytes. */
  readonly maxPayload: number;
  /**
   * Publishes `data`. MUST NOT throw on a lost connection (the message is lost
   * and the disconnect listeners run instead).
   */
  publish(subject: string, data: Uint8Array, reply?: string): void;
  /** Subscribes; with `queue`, one member of the group receives each message. */
  subscribe(subject: string, handler: MessageHandler, queue?: string): TransportSubscription;
  /** A fresh subject prefix no one else uses (`_INBOX.<unique>`). */
  inbox(): string;
  /** Resolves once everything published so far reached the server. */
  flush(): Promise<void>;
  /**
   * Calls `listener` every time the connection is lost (messages in flight may be
   * lost). Returns a function that removes it.
   */
  onDisconnect(listener: () => void): () => void;
  /** Closes the connection. Idempotent. */
  close(): Promise<void>;
}
