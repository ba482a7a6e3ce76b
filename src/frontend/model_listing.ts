/**
 * Model listing: which models the frontend serves (learned from discovery), when
 * each was first seen, the eager load of each new model's files, and the
 * `GET /v1/models` and `GET /v1/models/{model}` routes.
 *
 * @module
 */
import type { Hono } from "hono";
import { ErrorCode } from "../errors/sluice_error.ts";
import type { Logger } from "../logging/logger.ts";
import type { RoutingTable } from "../router/routing_table.ts";
import type { ModelResourceLoader } from "./model_resources.ts";
import { errorResponse, openAIError } from "./openai_error.ts";

/** An OpenAI model object. */
export interface ModelObject {
  id: string;
  object: "model";
  /** Unix seconds when the frontend first saw a worker serving it. */
  created: number;
  owned_by: string;
}

/** The models known to a frontend, kept current from its routing table. */
export interface ModelListing {
  /** The model object of `id`; `created` is now when `id` was never seen. */
  modelObject(id: string): ModelObject;
  /** Stops following the table. */
  unsubscribe(): void;
}

/**
 * Follows `table`: a model seen for the first time gets its `created` time and its
 * files loaded now (a failure is logged, not thrown), so the first request does not
 * pay for them; a model with no workers left is forgotten.
 */
export function trackModels(
  table: RoutingTable,
  loader: ModelResourceLoader,
  logger: Logger | undefined,
): ModelListing {
  const firstSeen = new Map<string, number>();
  const onTableChange = () => {
    for (const model of table.models()) {
      if (firstSeen.has(model)) continue;
      firstSeen.set(model, Math.floor(Date.now() / 1000));
      // Load the tokenizer now, so the first request does not pay for it.
      loader.get(table.card(model)!).catch((error) =>
        logger?.warn("cannot load model files", { model, error: String(error) })
      );
    }
    for (const model of firstSeen.keys()) {
      if (table.workers(model).length === 0) firstSeen.delete(model);
    }
  };
  const unsubscribe = table.subscribe(onTableChange);
  onTableChange();
  return {
    modelObject: (id) => ({
      id,
      object: "model",
      created: firstSeen.get(id) ?? Math.floor(Date.now() / 1000),
      owned_by: "sluice",
    }),
    unsubscribe,
  };
}

/**
 * Mounts `GET /v1/models` (every model with workers) and `GET /v1/models/{model}`
 * (404 `model_not_found` for an unknown one).
 */
export function mountModelRoutes(app: Hono, table: RoutingTable, listing: ModelListing): void {
  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: table.models().map(listing.modelObject),
    }));
  app.get("/v1/models/:model{.+}", (c) => {
    const id = c.req.param("model");
    if (!table.models().includes(id)) {
      return errorResponse(
        openAIError(404, `The model \`${id}\` does not exist`, {
          param: "model",
          code: ErrorCode.ModelNotFound,
        }),
      );
    }
    return c.json(listing.modelObject(id));
  });
}
