/**
 * The runtime adapter: the only place that touches `Deno.*`, `Bun.*` or
 * `process`. Everything else receives a {@linkcode Runtime} (or the values
 * read from it) by injection.
 *
 * @module
 */
import process from "node:process";

/** Signals the runtime handles. */
export type SignalName = "SIGTERM" | "SIGINT";

/** What the rest of Sluice needs from the host runtime. */
export interface Runtime {
  /** `deno`, `bun` or `node`. */
  readonly name: "deno" | "bun" | "node";
  /** The runtime's version string. */
  readonly version: string;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /**
   * Installs a signal handler; returns a function that removes it. While any handler is
   * installed the process MUST stay alive and MUST NOT busy-wait: on Bun and Node a ref'd
   * long interval keeps the event loop alive (a bare signal listener makes Bun spin a core
   * at 100%), cleared when the last handler is removed.
   */
  onSignal(signal: SignalName, handler: () => void): () => void;
  /** Ends the process with `code`. */
  exit(code: number): never;
  /** Command-line arguments after the script. */
  args(): string[];
  /** Reads a UTF-8 text file. */
  readTextFile(path: string): Promise<string>;
  /** Reads a file's raw bytes. */
  readFile(path: string): Promise<Uint8Array>;
  /**
   * Reads bytes `[start, end)` of a file (fewer when the file ends first), without reading the
   * rest: the frontend reads only a GGUF file's metadata this way.
   */
  readFileRange(path: string, start: number, end: number): Promise<Uint8Array>;
  /** A file's size in bytes. */
  fileSize(path: string): Promise<number>;
  /** Writes a UTF-8 text file (created or replaced). */
  writeTextFile(path: string, text: string): Promise<void>;
  /** Lets the process exit even while `timer` is pending (no-op where unsupported). */
  unrefTimer(timer: ReturnType<typeof setTimeout>): void;
}

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

function detect(): Runtime["name"] {
  if (typeof g.Deno?.version?.deno === "string") return "deno";
  if (typeof g.Bun?.version === "string") return "bun";
  return "node";
}

/**
 * Idle waits on Bun and Node: while a signal handler is installed, one ref'd interval keeps
 * the event loop alive. Bun busy-polls (a core at 100%) when only a signal listener keeps the
 * loop alive; a pending timer makes it sleep in the poller instead.
 */
let keepAliveTimer: ReturnType<typeof setInterval> | undefined;
let keepAliveHolders = 0;
/** Longest interval a timer accepts (2^31 - 1 ms, about 24.8 days). */
const KEEP_ALIVE_INTERVAL_MS = 2 ** 31 - 1;

function holdKeepAlive(): () => void {
  if (keepAliveHolders++ === 0) keepAliveTimer = setInterval(() => {}, KEEP_ALIVE_INTERVAL_MS);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--keepAliveHolders === 0) {
      clearInterval(keepAliveTimer);
      keepAliveTimer = undefined;
    }
  };
}

/** The adapter for the runtime this code is running on. */
export function currentRuntime(): Runtime {
  const name = detect();
  const version = name === "deno"
    ? g.Deno.version.deno
    : name === "bun"
    ? g.Bun.version
    : process.version;
  return {
    name,
    version,
    env: (key) => (name === "deno" ? g.Deno.env.get(key) : process.env[key]),
    onSignal(signal, handler) {
      if (name === "deno") {
        g.Deno.addSignalListener(signal, handler);
        // Libraries built on `signal-exit` (node-llama-cpp loads one) re-raise a signal when
        // they see no other `process` listener, and Deno's own listeners are invisible to
        // them: without a visible one, one SIGTERM arrives twice (a "second signal").
        const visible = () => {};
        process.on(signal, visible);
        return () => {
          g.Deno.removeSignalListener(signal, handler);
          process.off(signal, visible);
        };
      }
      process.on(signal, handler);
      const release = holdKeepAlive();
      let removed = false;
      return () => {
        if (removed) return;
        removed = true;
        process.off(signal, handler);
        release();
      };
    },
    exit: (code) => (name === "deno" ? g.Deno.exit(code) : process.exit(code)) as never,
    args: () => (name === "deno" ? [...g.Deno.args] : process.argv.slice(2)),
    async readTextFile(path) {
      const { readFile } = await import("node:fs/promises");
      return await readFile(path, "utf8");
    },
    async readFile(path) {
      const { readFile } = await import("node:fs/promises");
      const buffer = await readFile(path);
      return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    },
    readFileRange: readFileRange,
    async fileSize(path) {
      const { stat } = await import("node:fs/promises");
      return (await stat(path)).size;
    },
    async writeTextFile(path, text) {
      const { writeFile } = await import("node:fs/promises");
      await writeFile(path, text);
    },
    unrefTimer(timer) {
      if (name === "deno") g.Deno.unrefTimer(timer);
      else (timer as unknown as { unref?: () => void }).unref?.();
    },
  };
}

/** Reads bytes `[start, end)` of `path` (fewer at the end of the file). */
async function readFileRange(path: string, start: number, end: number): Promise<Uint8Array> {
  const { open } = await import("node:fs/promises");
  const file = await open(path, "r");
  try {
    const out = new Uint8Array(Math.max(0, end - start));
    let filled = 0;
    while (filled < out.length) {
      const { bytesRead } = await file.read(out, filled, out.length - filled, start + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return out.subarray(0, filled);
  } finally {
    await file.close();
  }
}
