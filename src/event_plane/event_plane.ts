/**
 * The event plane: pub/sub for KV-cache events and load metrics.
 * Implementations: in-process (embedded default) and NATS.
 *
 * Delivery is at-most-once per subscriber with bounded buffers: a subscriber
 * that falls more than `highWaterMark` events behind fails loudly with a
 * `Disconnected` error (it must resubscribe and resync), never silently losing
 * events in the middle of its stream.
 *
 * @module
 */

/** Options for {@linkcode EventPlane.subscribe}. */
export interface SubscribeOptions {
  /** Ends the subscription; the iterator finishes without error. */
  signal?: AbortSignal;
  /** Events buffered before the subscriber is failed as too slow; default 4096. */
  highWaterMark?: number;
}

/** A subscription: an async iterable of events you can dispose. */
export interface Subscription<T = unknown> extends AsyncIterable<T>, AsyncDisposable {
  /** The subject pattern subscribed to. */
  readonly subject: string;
  /** Ends the subscription; the iterator finishes without error. Idempotent. */
  close(): Promise<void>;
}

/** Publish/subscribe. Subjects are dot-separated; `*` matches one token, `>` the rest. */
export interface EventPlane {
  /** The backend's name (`inprocess`, `nats`). */
  readonly kind: string;
  /** Publishes a JSON-serialisable event. */
  publish(subject: string, event: unknown): Promise<void>;
  /**
   * Subscribes to `subject`, a pattern. Events published before the call are not delivered.
   * A subscriber that falls `highWaterMark` events behind MUST fail with `Disconnected`,
   * never skip events silently: a consumer with a gap cannot know its state is wrong.
   */
  subscribe<T = unknown>(subject: string, options?: SubscribeOptions): Subscription<T>;
  /** Ends every subscription made through this handle. Idempotent. */
  close(): Promise<void>;
}

/** The KV-events subject of a component: `{ns}.{component}.kv-events`. */
export function kvEventsSubject(namespace: string, component: string): string {
  return `${namespace}.${component}.kv-events`;
}

/** The load-metrics subject of a component: `{ns}.{component}.load-metrics`. */
export function loadMetricsSubject(namespace: string, component: string): string {
  return `${namespace}.${component}.load-metrics`;
}

/** True when `subject` matches the NATS-style `pattern`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== "*" && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
