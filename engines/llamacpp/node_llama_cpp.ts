/**
 * Loading `node-llama-cpp`, which is deliberately not a dependency of Sluice (its prebuilt CPU,
 * Vulkan and CUDA binaries are ~725 MB): it is imported dynamically, only when the llama.cpp
 * engine starts, and its absence is a clear error that says the one command to install it.
 *
 * @module
 */
import { SluiceError } from "../../src/errors/sluice_error.ts";

/** The version Sluice is tested with. */
export const NODE_LLAMA_CPP_VERSION = "3.22.1";

/** The one command that installs it without touching `package.json`. */
export const NODE_LLAMA_CPP_INSTALL =
  `npm install --no-save node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`;

/** The module's namespace, typed loosely: only what the engine uses is named in its own types. */
// deno-lint-ignore no-explicit-any
export type NodeLlamaCpp = any;

const loading = new Map<string, Promise<NodeLlamaCpp>>();

/**
 * Imports `node-llama-cpp` once per process (`specifier` only changes for tests).
 *
 * @throws {SluiceError} `EngineShutdown` (code `node_llama_cpp_missing`) when the package is not
 * installed, with the install command in the message.
 */
export function loadNodeLlamaCpp(specifier = "node-llama-cpp"): Promise<NodeLlamaCpp> {
  let pending = loading.get(specifier);
  if (pending !== undefined) return pending;
  pending = (async () => {
    try {
      return await import(specifier);
    } catch (cause) {
      loading.delete(specifier);
      throw new SluiceError(
        "EngineShutdown",
        `Cannot start the llamacpp engine: node-llama-cpp is not installed (${
          (cause as Error).message
        }). Install it with: ${NODE_LLAMA_CPP_INSTALL}`,
        { cause, code: "node_llama_cpp_missing" },
      );
    }
  })();
  loading.set(specifier, pending);
  return pending;
}
