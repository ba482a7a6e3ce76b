/**
 * Readiness publication: the health canary's verdict written into the worker's
 * instance record (`ready`), so a frontend in another process stops routing to a
 * failing worker and resumes once it recovers.
 *
 * @module
 */
import type { Discovery } from "../discovery/discovery.ts";
import type { Logger } from "../logging/logger.ts";
import type { InstanceRecord } from "../model_card/model_card.ts";
import { bounded, STEP_TIMEOUT_MS } from "./worker_timings.ts";

/** Publishes `ready` changes of one instance record, one at a time and in order. */
export interface ReadinessPublisher {
  /**
   * The instance record as last published; the worker sets it after its first
   * registration. While undefined, publications do nothing.
   */
  record: InstanceRecord | undefined;
  /**
   * Queues a publication of `ready`. It MUST NOT re-register the instance after
   * {@linkcode ReadinessPublisher.withdraw}; a record already at `ready` is not rewritten.
   * A failed write is logged and left for the next call.
   */
  publish(ready: boolean): void;
  /** Stops publication and waits (bounded) for the one in progress. */
  withdraw(): Promise<void>;
}

/** What {@linkcode createReadinessPublisher} needs. */
export interface ReadinessPublisherOptions {
  /** Where the instance record lives. */
  discovery: Discovery;
  /** The instance record's discovery key. */
  key: string;
  /** Logs each publication and each failure. */
  logger: Logger;
}

/** Creates a publisher with no record yet. */
export function createReadinessPublisher(options: ReadinessPublisherOptions): ReadinessPublisher {
  const { discovery, key, logger } = options;
  /** Readiness publications, one at a time and in order. */
  let publishing: Promise<void> = Promise.resolve();
  /** Set before unregistering: no publication may re-register the instance after it. */
  let withdrawn = false;
  const publisher: ReadinessPublisher = {
    record: undefined,
    publish(ready) {
      publishing = publishing.then(async () => {
        const record = publisher.record;
        if (withdrawn || record === undefined || record.ready === ready) return;
        const next: InstanceRecord = { ...record, ready };
        try {
          await discovery.register(key, next);
          publisher.record = next;
          logger.info("readiness published", { ready });
        } catch (error) {
          logger.warn("cannot publish readiness; will retry on the next canary", {
            ready,
            error: String(error),
          });
        }
      });
    },
    async withdraw() {
      withdrawn = true;
      await bounded(publishing, STEP_TIMEOUT_MS);
    },
  };
  return publisher;
}
