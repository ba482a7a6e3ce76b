/**
 * The HTTP listen adapter: serves a Web-standard `fetch` handler on `Deno.serve`,
 * `Bun.serve` or `node:http`, whichever runtime this is. Like `runtime.ts` it is
 * allowed to touch runtime globals; nothing else in Sluice listens on sockets.
 *
 * All three adapters give the handler a `Request` whose `signal` aborts when the
 * client disconnects, and cancel the response body stream when the connection
 * closes mid-response, so a disconnect reaches the engine.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** A Web-standard request handler. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Options for {@linkcode serveHttp}. */
export interface HttpServeOptions {
  /** Port; 0 picks a free one (read it back from `server.port`). */
  port: number;
  /** Interface to bind (default `0.0.0.0`). */
  hostname?: string;
  /** Force an adapter (tests use `node` to exercise `node:http` on Deno and Bun). */
  adapter?: "deno" | "bun" | "node";
}

/** A listening server. */
export interface HttpServer {
  /** The port it listens on (the chosen one when asked for 0). */
  readonly port: number;
  /** The address it is bound to. */
  readonly hostname: string;
  /** Which adapter serves it. */
  readonly adapter: "deno" | "bun" | "node";
  /**
   * Stops accepting connections and resolves once in-flight responses have finished.
   * Idempotent.
   */
  shutdown(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

function detect(): "deno" | "bun" | "node" {
  if (typeof g.Deno?.serve === "function") return "deno";
  if (typeof g.Bun?.serve === "function") return "bun";
  return "node";
}

/**
 * Serves `handler` until `shutdown()`.
 *
 * @example
 * ```ts ignore
 * import { serveHttp } from "./http_server.ts";
 * const server = await serveHttp(() => new Response("ok"), { port: 0, hostname: "127.0.0.1" });
 * console.log((await fetch(`http://127.0.0.1:${server.port}/`)).status);
 * await server.shutdown();
 * ```
 */
export function serveHttp(handler: FetchHandler, options: HttpServeOptions): Promise<HttpServer> {
  const hostname = options.hostname ?? "0.0.0.0";
  const adapter = options.adapter ?? detect();
  if (adapter === "deno") return serveDeno(handler, options.port, hostname);
  if (adapter === "bun") return Promise.resolve(serveBun(handler, options.port, hostname));
  return serveNode(handler, options.port, hostname);
}

function serveDeno(handler: FetchHandler, port: number, hostname: string): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    try {
      const server = g.Deno.serve({
        port,
        hostname,
        onListen: (addr: { port: number }) => {
          let done: Promise<void> | undefined;
          resolve({
            port: addr.port,
            hostname,
            adapter: "deno",
            shutdown: () => (done ??= server.shutdown()),
          });
        },
      }, handler);
    } catch (error) {
      reject(error);
    }
  });
}

function serveBun(handler: FetchHandler, port: number, hostname: string): HttpServer {
  // idleTimeout 0: a generation may be silent longer than Bun's 10 s default (a long prefill).
  const server = g.Bun.serve({ port, hostname, idleTimeout: 0, fetch: handler });
  let done: Promise<void> | undefined;
  return {
    port: server.port,
    hostname,
    adapter: "bun",
    shutdown: () => (done ??= Promise.resolve(server.stop(false))),
  };
}

async function serveNode(
  handler: FetchHandler,
  port: number,
  hostname: string,
): Promise<HttpServer> {
  const http = await import("node:http");
  const { Readable } = await import("node:stream");
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const aborter = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) {
        aborter.abort(new DOMException("client disconnected", "AbortError"));
      }
    });
    const method = req.method ?? "GET";
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
      else if (value !== undefined) headers.set(name, value);
    }
    const hasBody = method !== "GET" && method !== "HEAD";
    const request = new Request(
      `http://${req.headers.host ?? `${hostname}:${port}`}${req.url ?? "/"}`,
      {
        method,
        headers,
        body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : undefined,
        signal: aborter.signal,
        // @ts-ignore: `duplex` is required by fetch for streaming bodies but missing from lib.dom.
        duplex: hasBody ? "half" : undefined,
      },
    );
    Promise.resolve()
      .then(() => handler(request))
      .then((response) => writeNodeResponse(response, res, aborter.signal))
      .catch((error) => {
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`Internal error: ${(error as Error).message}`);
        } else res.destroy(error as Error);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  let done: Promise<void> | undefined;
  return {
    port: typeof address === "object" && address !== null ? address.port : port,
    hostname,
    adapter: "node",
    shutdown: () => (done ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections?.();
    })),
  };
}

async function writeNodeResponse(
  response: Response,
  res: ServerResponse,
  signal: AbortSignal,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = name === "set-cookie" ? response.headers.getSetCookie() : value;
  });
  res.writeHead(response.status, headers);
  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onAbort = () => reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
      if (signal.aborted) return;
    }
    res.end();
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}
