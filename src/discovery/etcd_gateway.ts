/**
 * A minimal etcd v3 client over the JSON gateway (`/v3/...`) with `fetch`: the
 * calls discovery needs, their responses validated with zod. Keys and values
 * travel base64; int64 fields (revisions, lease ids) arrive as JSON strings and
 * stay strings here (compared as BigInt), so a 64-bit lease id is never a JS number.
 *
 * @module
 */
import { z } from "zod";
import { SluiceError } from "../errors/sluice_error.ts";

/** Unary calls give up after this long (a dead endpoint MUST NOT hang a caller). */
const CALL_TIMEOUT_MS = 5000;

const int64 = z.string().regex(/^-?[0-9]+$/);
const Header = z.object({ revision: int64.optional() }).passthrough();

/** A key-value as the gateway returns it (base64 key and value). */
export const EtcdKvSchema = z.object({
  key: z.string(),
  value: z.string().optional(),
  create_revision: int64.optional(),
  mod_revision: int64.optional(),
  lease: int64.optional(),
});
/** One key-value. */
export type EtcdKv = z.infer<typeof EtcdKvSchema>;

const RangeResponse = z.object({
  header: Header,
  kvs: z.array(EtcdKvSchema).optional(),
  more: z.boolean().optional(),
});
const LeaseGrantResponse = z.object({ ID: int64, TTL: int64, error: z.string().optional() });
const KeepAliveResponse = z.object({
  result: z.object({ ID: int64.optional(), TTL: int64.optional() }).passthrough().optional(),
  error: z.unknown().optional(),
});
const TxnResponse = z.object({
  header: Header,
  succeeded: z.boolean().optional(),
  responses: z.array(
    z.object({
      response_range: z.object({ kvs: z.array(EtcdKvSchema).optional() }).passthrough().optional(),
    }).passthrough(),
  ).optional(),
});

/** One message of a watch stream. */
export const WatchMessageSchema = z.object({
  result: z.object({
    header: Header.optional(),
    created: z.boolean().optional(),
    canceled: z.boolean().optional(),
    compact_revision: int64.optional(),
    cancel_reason: z.string().optional(),
    events: z.array(z.object({
      type: z.enum(["PUT", "DELETE"]).optional(),
      kv: EtcdKvSchema,
    })).optional(),
  }).optional(),
  error: z.unknown().optional(),
});
/** A parsed watch message. */
export type WatchMessage = z.infer<typeof WatchMessageSchema>;

/** UTF-8 text → base64. */
export function toBase64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** base64 → UTF-8 text. */
export function fromBase64(b64: string): string {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

/** The exclusive end of the key range holding every key that starts with `prefix`. */
export function prefixRangeEnd(prefix: string): string {
  const bytes = new TextEncoder().encode(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) {
      const end = bytes.slice(0, i + 1);
      end[i]++;
      let binary = "";
      for (const b of end) binary += String.fromCharCode(b);
      return btoa(binary);
    }
  }
  return btoa("\0"); // every key
}

/**
 * The gateway at one or more endpoints (`ETCD_ENDPOINTS`, comma-separated). A call
 * that cannot reach the current endpoint tries the next one before failing.
 */
export class EtcdGateway {
  readonly endpoints: readonly string[];
  #current = 0;

  /** @throws {SluiceError} `InvalidArgument` when no endpoint is an http(s) URL. */
  constructor(endpoints: readonly string[]) {
    const clean = endpoints.map((e) => e.trim().replace(/\/+$/, "")).filter((e) => e !== "");
    for (const e of clean) {
      if (!/^https?:\/\/[^/]+$/.test(e)) {
        throw new SluiceError(
          "InvalidArgument",
          `Cannot use etcd endpoint "${e}": expected http://host:port`,
          { param: "ETCD_ENDPOINTS" },
        );
      }
    }
    if (clean.length === 0) {
      throw new SluiceError("InvalidArgument", "Cannot connect etcd: no endpoint given", {
        param: "ETCD_ENDPOINTS",
      });
    }
    this.endpoints = clean;
  }

  /** The endpoint calls go to first. */
  get endpoint(): string {
    return this.endpoints[this.#current];
  }

  /**
   * POSTs `body` to `path` and returns the response (the caller reads or cancels the body).
   * @throws {SluiceError} `CannotConnect` when no endpoint answers; `Cancelled` when `signal` fired.
   */
  async open(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    let lastError: unknown;
    for (let attempt = 0; attempt < this.endpoints.length; attempt++) {
      const endpoint = this.endpoints[this.#current];
      try {
        return await fetch(`${endpoint}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal,
        });
      } catch (error) {
        if (signal?.aborted) {
          throw new SluiceError("Cancelled", `Cannot call etcd ${path}: cancelled`, {
            cause: error,
          });
        }
        lastError = error;
        this.#current = (this.#current + 1) % this.endpoints.length;
      }
    }
    throw new SluiceError(
      "CannotConnect",
      `Cannot reach etcd at ${this.endpoints.join(",")}: ${(lastError as Error)?.message}`,
      { cause: lastError },
    );
  }

  /** A unary call: POST, check the status, parse with `schema`. */
  async call<T>(path: string, body: unknown, schema: z.ZodType<T>, signal?: AbortSignal) {
    const timeout = AbortSignal.timeout(CALL_TIMEOUT_MS);
    const res = await this.open(
      path,
      body,
      signal ? AbortSignal.any([signal, timeout]) : timeout,
    ).catch((error) => {
      if (timeout.aborted && !signal?.aborted) {
        throw new SluiceError(
          "CannotConnect",
          `Cannot reach etcd at ${this.endpoints.join(",")}: ${path} timed out after ${
            CALL_TIMEOUT_MS / 1000
          } s`,
          { cause: error },
        );
      }
      throw error;
    });
    const text = await res.text();
    if (!res.ok) {
      throw new SluiceError(
        "CannotConnect",
        `Cannot call etcd ${path} at ${this.endpoint}: HTTP ${res.status} ${text.slice(0, 200)}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new SluiceError(
        "CannotConnect",
        `Cannot call etcd ${path}: unexpected response ${text.slice(0, 200)}`,
      );
    }
    return parsed.data;
  }

  /** Every key-value under `prefix` and the store revision they were read at. */
  async range(prefix: string, signal?: AbortSignal): Promise<{ kvs: EtcdKv[]; revision: string }> {
    const res = await this.call(
      "/v3/kv/range",
      { key: toBase64(prefix), range_end: prefixRangeEnd(prefix) },
      RangeResponse,
      signal,
    );
    return { kvs: res.kvs ?? [], revision: res.header.revision ?? "0" };
  }

  /** Grants a lease of `ttlSeconds`; returns its id (decimal string). */
  async grant(ttlSeconds: number, signal?: AbortSignal): Promise<string> {
    const res = await this.call(
      "/v3/lease/grant",
      { TTL: String(ttlSeconds), ID: "0" },
      LeaseGrantResponse,
      signal,
    );
    return res.ID;
  }

  /** Refreshes a lease once; returns its remaining TTL in seconds (0: the lease is gone). */
  async keepAlive(leaseId: string, signal?: AbortSignal): Promise<number> {
    const res = await this.call("/v3/lease/keepalive", { ID: leaseId }, KeepAliveResponse, signal);
    return Number(res.result?.TTL ?? "0");
  }

  /** Revokes a lease: every key attached to it is deleted at once. */
  async revoke(leaseId: string, signal?: AbortSignal): Promise<void> {
    await this.call("/v3/lease/revoke", { ID: leaseId }, z.object({}).passthrough(), signal);
  }

  /**
   * Puts `key` attached to `leaseId` when the key is absent or already ours (same lease).
   * @returns `undefined` on success, else the lease id that owns the key.
   */
  async putIfAbsentOrOwned(
    key: string,
    value: string,
    leaseId: string,
    signal?: AbortSignal,
    attempt = 0,
  ): Promise<string | undefined> {
    const k = toBase64(key);
    const put = { request_put: { key: k, value: toBase64(value), lease: leaseId } };
    const created = await this.call(
      "/v3/kv/txn",
      {
        compare: [{ key: k, target: "CREATE", result: "EQUAL", create_revision: "0" }],
        success: [put],
        failure: [{ request_range: { key: k } }],
      },
      TxnResponse,
      signal,
    );
    if (created.succeeded) return undefined;
    const updated = await this.call(
      "/v3/kv/txn",
      {
        compare: [{ key: k, target: "LEASE", result: "EQUAL", lease: leaseId }],
        success: [put],
        failure: [{ request_range: { key: k } }],
      },
      TxnResponse,
      signal,
    );
    if (updated.succeeded) return undefined;
    const owner = updated.responses?.[0]?.response_range?.kvs?.[0]?.lease;
    // The key vanished between the two transactions: try again (a few times, then fail).
    if (owner === undefined && attempt < 3) {
      return await this.putIfAbsentOrOwned(key, value, leaseId, signal, attempt + 1);
    }
    if (owner === undefined) {
      throw new SluiceError("CannotConnect", `Cannot register "${key}": the key keeps changing`);
    }
    return owner;
  }

  /** Deletes `key` only while it is attached to `leaseId`. */
  async deleteOwned(key: string, leaseId: string, signal?: AbortSignal): Promise<void> {
    const k = toBase64(key);
    await this.call(
      "/v3/kv/txn",
      {
        compare: [{ key: k, target: "LEASE", result: "EQUAL", lease: leaseId }],
        success: [{ request_delete_range: { key: k } }],
      },
      TxnResponse,
      signal,
    );
  }
}
