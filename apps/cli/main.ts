#!/usr/bin/env -S deno run -A
/**
 * The `sluice` command line: `deno task sluice <command>`, `bun run apps/cli/main.ts <command>`,
 * or the `sluice` bin of the npm package.
 *
 * @module
 */
import { toSluiceError } from "../../src/errors/sluice_error.ts";
import { currentRuntime, type Runtime } from "../../src/runtime/runtime.ts";
import { benchCommand, benchHelp } from "./bench_command.ts";
import { frontendCommand, frontendHelp } from "./frontend_command.ts";
import { resolveEngine } from "./resolve_engine.ts";
import { serveCommand, serveHelp } from "./serve_command.ts";
import { takeEngineFlag, workerCommand, workerHelp } from "./worker_command.ts";

/** A sub-command: its one-line summary, help text, and entry point. */
export interface Command {
  summary: string;
  /** The help text; `argv` is the command's arguments (an `--engine` module adds its flags). */
  help(argv: string[]): string | Promise<string>;
  main(argv: string[], runtime: Runtime): Promise<unknown>;
}

/** The engine `--engine` names in a `--help` command line, loaded when it is a module. */
async function engineForHelp(argv: string[]) {
  const { engine } = takeEngineFlag(argv.filter((a) => a !== "--help" && a !== "-h"));
  return engine === undefined ? undefined : await resolveEngine(engine);
}

/** The commands by name. */
export const COMMANDS: Record<string, Command> = {
  serve: {
    summary: "serve an engine behind an OpenAI-compatible HTTP API (embedded default)",
    help: async (argv) => serveHelp(await engineForHelp(argv)),
    main: serveCommand,
  },
  frontend: {
    summary: "serve the OpenAI HTTP API and route to workers found in discovery (distributed)",
    help: frontendHelp,
    main: frontendCommand,
  },
  worker: {
    summary: "run an engine as a worker process (distributed: etcd + NATS by default)",
    help: async (argv) => workerHelp(await engineForHelp(argv)),
    main: workerCommand,
  },
  bench: {
    summary: "load-test an OpenAI-compatible server (TTFT, ITL, latency, throughput)",
    help: benchHelp,
    main: benchCommand,
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `Usage: sluice <command> [flags]\n\nCommands:\n${
    lines.join("\n")
  }\n\nRun "sluice <command> --help" for a command's flags.`;
}

/** Entry point; resolves with the process exit code for commands that return. */
export async function main(argv: string[], runtime: Runtime): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`sluice: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(await command.help(rest));
      return 0;
    }
    await command.main(rest, runtime);
    return 0;
  } catch (error) {
    const typed = toSluiceError(error);
    console.error(`sluice ${name}: ${typed.message}`);
    return typed.kind === "InvalidArgument" ? 2 : 1;
  }
}

if (import.meta.main) {
  const runtime = currentRuntime();
  runtime.exit(await main(runtime.args(), runtime));
}
