/**
 * The edge entry: a module whose default export is `{ fetch }`, serving the
 * OpenAI-compatible API with the sample engine in process.
 *
 *     deno serve --port 8000 -A apps/edge/server.ts
 *     bun apps/edge/server.ts          (Bun serves a default export with `fetch`, port 3000)
 *
 * @module
 */
import { SampleEngine } from "../../engines/sample/mod.ts";
import { createEdgeHandler } from "../../src/edge/edge_handler.ts";

const handler = createEdgeHandler({ engine: SampleEngine });

/** The Web-standard handler object. */
export default { fetch: (request: Request): Promise<Response> => handler.fetch(request) };
