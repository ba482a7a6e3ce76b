/**
 * A loopback TCP proxy that a test can cut (every connection dropped, new ones refused)
 * and restore, to break a client's connection while the server stays up.
 */
import { createServer, type Server, type Socket } from "node:net";

/** A running proxy. */
export interface TcpProxy {
  /** The port clients connect to. */
  readonly port: number;
  /** Drops every open connection and refuses new ones until {@linkcode TcpProxy.restore}. */
  cut(): void;
  /** Accepts connections again. */
  restore(): void;
  /** Stops the proxy. */
  close(): Promise<void>;
}

/** Starts a proxy on a random loopback port forwarding to `127.0.0.1:targetPort`. */
export function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let cut = false;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server: Server = createServer((client) => {
    track(client);
    if (cut) return void client.destroy();
    const upstream = new (client.constructor as typeof Socket)();
    track(upstream);
    upstream.connect(targetPort, "127.0.0.1");
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      resolve({
        port,
        cut() {
          cut = true;
          for (const s of sockets) s.destroy();
        },
        restore() {
          cut = false;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
