/**
 * Test harness helpers for real servers (etcd, nats-server): free loopback ports,
 * temp dirs, a child process that can be stopped and started again on the same
 * ports and data, and a readiness poll. A missing binary fails loudly (CI installs
 * the Debian packages in tests/run.sh), never skips.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A new temp directory (removed by the caller with {@linkcode removeDir}). */
export function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes a directory tree, ignoring a missing one. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Polls `ready` every 50 ms until it resolves true, or fails after `timeoutMs`. */
export async function waitUntil(
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs = 15000,
  child?: LoopbackProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child?.exited) throw new Error(`${what}: process exited early:\n${child.output()}`);
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms\n${child?.output() ?? ""}`);
}

/** One child process whose output is kept (last 8 KiB) for error messages. */
export class LoopbackProcess {
  #child: ChildProcess;
  #output = "";
  #exit: Promise<void>;
  exited = false;

  constructor(command: string, args: string[]) {
    this.#child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Uint8Array | string) => {
      this.#output = (this.#output + String(chunk)).slice(-8192);
    };
    this.#child.stdout?.on("data", keep);
    this.#child.stderr?.on("data", keep);
    this.#exit = new Promise((resolve) => {
      this.#child.once("exit", () => {
        this.exited = true;
        resolve();
      });
      this.#child.once("error", (error) => {
        keep(`spawn ${command} failed: ${error.message}\n`);
        this.exited = true;
        resolve();
      });
    });
  }

  /** The kept output. */
  output(): string {
    return this.#output;
  }

  /** Sends `signal` and waits for the exit (SIGKILL after 5 s). */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (this.exited) return;
    this.#child.kill(signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#exit,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000))),
    ]);
    clearTimeout(timer);
    if (!this.exited) {
      this.#child.kill("SIGKILL");
      await this.#exit;
    }
  }
}

/** Finds `name` on PATH (plus /usr/sbin, where Debian puts nats-server), or fails loudly. */
export async function requireBinary(name: string, debianPackage: string): Promise<string> {
  const { access } = await import("node:fs/promises");
  const { env } = await import("node:process");
  const dirs = [...(env.PATH ?? "").split(":"), "/usr/sbin", "/usr/bin", "/usr/local/bin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      await access(candidate);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error(
    `${name} not found: install the Debian package ${debianPackage} (tests/run.sh does as root)`,
  );
}
