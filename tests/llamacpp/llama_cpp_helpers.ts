/**
 * Shared setup of the tests that run llama.cpp through `node-llama-cpp`: the CPU build (no GPU,
 * never compile), fixture models written once per process into a temporary directory. A
 * missing `node-llama-cpp` fails these tests with the install command (`tests/run.sh`
 * installs it), never skips them.
 *
 * @module
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadNodeLlamaCpp, type NodeLlamaCpp } from "../../engines/llamacpp/node_llama_cpp.ts";
import { type FixtureModelOptions, writeFixtureModel } from "../fixtures/model/fixture_model.ts";

let llama: Promise<NodeLlamaCpp> | undefined;

/** The process's llama.cpp instance (CPU build, warnings only). */
export function cpuLlama(): Promise<NodeLlamaCpp> {
  llama ??= loadNodeLlamaCpp().then((m) =>
    m.getLlama({ gpu: false, build: "never", logLevel: "error", progressLogs: false })
  );
  return llama;
}

/** A temporary directory of fixture models, removed by `dispose`. */
export class FixtureDir {
  #dir: Promise<string> = mkdtemp(join(tmpdir(), "sluice-gguf-"));
  #files = new Map<string, Promise<string>>();

  /** Path of the fixture for `options`, written on first use. */
  model(options: FixtureModelOptions): Promise<string> {
    const name = [
      options.size ?? "tiny",
      options.dtype ?? "f32",
      options.vocab ?? "llama",
      options.arch ?? "llama",
      options.seed ?? 0,
    ].join("_") + ".gguf";
    let file = this.#files.get(name);
    if (file === undefined) {
      file = this.#dir.then(async (dir) => {
        const path = join(dir, name);
        await writeFixtureModel(path, options);
        return path;
      });
      this.#files.set(name, file);
    }
    return file;
  }

  /** The directory itself. */
  get path(): Promise<string> {
    return this.#dir;
  }

  async dispose(): Promise<void> {
    await rm(await this.#dir, { recursive: true, force: true });
  }
}
