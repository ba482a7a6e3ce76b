/**
 * The discovery interface: who exists and how to reach them. Implementations:
 * memory (embedded default), file, etcd, NATS KV. Keys follow Dynamo's layout
 * (`v1/instances/{ns}/{component}/{endpoint}/{instanceHex}`, `v1/mdc/...`).
 *
 * Liveness is per process: everything a process registered vanishes together
 * when it unregisters, closes, or (for remote backends) stops heart-beating.
 *
 * @module
 */

/** One key and its JSON value. */
export interface DiscoveryEntry<V = unknown> {
  /** The full key, e.g. `v1/instances/dynamo/backend/generate/1f`. */
  readonly key: string;
  /** The value as registered (a copy: changing it changes nothing in discovery). */
  readonly value: V;
}

/** What `watch` yields: one snapshot first, then changes in order. */
export type DiscoveryEvent<V = unknown> =
  | { readonly type: "snapshot"; readonly entries: DiscoveryEntry<V>[] }
  | { readonly type: "added"; readonly entry: DiscoveryEntry<V> }
  | { readonly type: "removed"; readonly key: string };

/** Options for {@linkcode Discovery.watch}. */
export interface WatchOptions {
  /** Ends the watch; the iterator finishes without error. */
  signal?: AbortSignal;
  /** Events buffered before the producer waits (back-pressure); default 1024. */
  highWaterMark?: number;
}

/** A watch: an async iterable of events you can dispose. */
export interface DiscoveryWatch<V = unknown>
  extends AsyncIterable<DiscoveryEvent<V>>, AsyncDisposable {
  /** Stops the watch; the iterator finishes. */
  close(): Promise<void>;
}

/**
 * Service discovery. Values are JSON-serialisable. Implementations MUST NOT drop
 * watch events silently; a slow watcher applies back-pressure or the watch fails loudly.
 */
export interface Discovery {
  /** The backend's name (`memory`, `file`, `etcd`, `nats`). */
  readonly kind: string;
  /**
   * Registers `key` owned by this process (create-if-absent across processes). Registering
   * a key this handle already owns replaces its value: watchers see `added` with the new
   * value (how a worker publishes readiness changes).
   * @throws {SluiceError} `InvalidArgument` when another process owns `key`; `CannotConnect`
   * when the backend cannot be reached.
   */
  register(key: string, value: unknown, options?: { signal?: AbortSignal }): Promise<void>;
  /** Removes a key this process registered; unknown keys are ignored. */
  unregister(key: string, options?: { signal?: AbortSignal }): Promise<void>;
  /** Entries under `prefix`, sorted by key. */
  list<V = unknown>(
    prefix: string,
    options?: { signal?: AbortSignal },
  ): Promise<DiscoveryEntry<V>[]>;
  /** Watches `prefix`: snapshot first, then `added` / `removed`. */
  watch<V = unknown>(prefix: string, options?: WatchOptions): DiscoveryWatch<V>;
  /** Unregisters everything this process registered and releases the backend. Idempotent. */
  close(): Promise<void>;
}

/** Key prefixes, as in Dynamo. */
export const DiscoveryPrefix = {
  instances: "v1/instances",
  modelCards: "v1/mdc",
} as const;

/** An endpoint's address in the `namespace / component / endpoint` hierarchy. */
export interface EndpointPath {
  /** Namespace, e.g. `dynamo`. */
  namespace: string;
  /** Component, e.g. `backend`. */
  component: string;
  /** Endpoint, e.g. `generate`. */
  endpoint: string;
}

/** Renders a 64-bit instance id (string or bigint) as lower-case hex. */
export function instanceHex(instanceId: string | bigint): string {
  return (typeof instanceId === "bigint" ? instanceId : BigInt(instanceId)).toString(16);
}

/** `{prefix}/{ns}/{component}/{endpoint}/{instanceHex}`. */
export function discoveryKey(
  prefix: string,
  path: EndpointPath,
  instanceId: string | bigint,
): string {
  return `${prefix}/${path.namespace}/${path.component}/${path.endpoint}/${
    instanceHex(instanceId)
  }`;
}

/** A random 63-bit instance id as a decimal string (safe beyond 2^53: never a JS number). */
export function newInstanceId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  bytes[0] &= 0x7f;
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  if (value === 0n) value = 1n;
  return value.toString();
}
