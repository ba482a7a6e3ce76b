/**
 * The embedded default: engine workers and the OpenAI frontend in one process over the
 * in-process planes (`sluice serve`).
 *
 * @module
 */
export { createEmbeddedStack } from "./embedded_stack.ts";
export type { EmbeddedStack, EmbeddedStackOptions } from "./embedded_stack.ts";
export { createEmbeddedServer, DEFAULT_PORT } from "./embedded_server.ts";
export type { EmbeddedServer, EmbeddedServerOptions } from "./embedded_server.ts";
