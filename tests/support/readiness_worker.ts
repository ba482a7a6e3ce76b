/**
 * A worker process for the cross-process discovery tests: `run()` with the sample
 * engine on the discovery backend named by `DYN_DISCOVERY_BACKEND` (settings from
 * the usual env: `ETCD_ENDPOINTS`, `NATS_SERVER`, `DYN_FILE_KV`, `DYN_DISCOVERY_TTL_SECS`).
 * Its health canary fails while the file `SICK_FILE` exists. Prints `{"event":"serving"}`.
 */
import { existsSync } from "node:fs";
import process from "node:process";
import type { GenerateRequest, RequestContext } from "../../mod.ts";
import { runWorker } from "../../src/entries/serve.ts";
import { SampleEngine } from "../../engines/sample/mod.ts";

const sickFile = process.env.SICK_FILE;

class CanaryEngine extends SampleEngine {
  static override fromArgs(argv: string[]) {
    return SampleEngine.fromArgs(argv).then(({ worker }) => ({
      engine: new CanaryEngine(),
      worker: {
        ...worker,
        discovery_backend: process.env.DYN_DISCOVERY_BACKEND ?? "memory",
        // The test watches discovery only; requests never cross the process.
        request_plane: "inprocess",
        event_plane: "inprocess",
      },
    }));
  }
  constructor() {
    super({ delayMs: 0 });
  }
  override async *generate(req: GenerateRequest, ctx: RequestContext) {
    if (req._HEALTH_CHECK && sickFile !== undefined && existsSync(sickFile)) {
      throw new Error("sick (SICK_FILE exists)");
    }
    yield* super.generate(req, ctx);
  }
}

await runWorker(CanaryEngine, process.argv.slice(2), {
  onServing(worker) {
    process.stdout.write(
      JSON.stringify({ event: "serving", t: 0, instance: worker.instanceId }) + "\n",
    );
  },
});
