import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { spawnCommand, spawnFixture } from "../fixtures/spawn_fixture.ts";

const QUIET = { DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0" };
/** A standalone worker defaults to etcd + NATS; these tests name the process-local planes. */
const LOCAL_PLANES = [
  "--discovery-backend",
  "memory",
  "--request-plane",
  "inprocess",
  "--event-plane",
  "inprocess",
];

describe("sluice CLI", () => {
  it("prints help for the worker command", async () => {
    await using child = spawnFixture("apps/cli/main.ts", ["worker", "--help"], QUIET);
    assert.equal(await child.exited, 0);
    assert.match(child.stdout(), /Usage: sluice worker --engine NAME\|MODULE/);
    assert.match(child.stdout(), /--delay-ms N/);
  });

  it("prints help for the frontend command, with the plane and access-control flags", async () => {
    await using child = spawnFixture("apps/cli/main.ts", ["frontend", "--help"], QUIET);
    assert.equal(await child.exited, 0);
    assert.match(child.stdout(), /Usage: sluice frontend \[flags\]/);
    for (
      const flag of [
        "--port",
        "--router-mode",
        "--api-key",
        "--allowed-origins",
        "--discovery-backend",
        "--request-plane",
        "--event-plane",
        "--nats-server",
        "--namespace",
      ]
    ) {
      assert.match(child.stdout(), new RegExp(`  ${flag} `), flag);
    }
  });

  it("names a bad frontend or plane flag and exits 2 before connecting", async () => {
    for (
      const [args, pattern] of [
        [["frontend", "--bogus"], /Unknown option '--bogus'/],
        [["frontend", "--router-mode", "nope"], /unknown mode "nope"/],
        [["frontend", "--public-paths", "health"], /--public-paths: "health" is not a path/],
        [["frontend", "--namespace", "Bad!"], /--namespace/],
        [["frontend", "--request-plane", "Bad!"], /request-plane "Bad!"/],
        [["worker", "--engine", "sample", "--discovery-backend"], /--discovery-backend: a value/],
        [["worker", "--engine", "sample", "--event-plane=Bad!"], /event-plane "Bad!"/],
      ] as const
    ) {
      await using child = spawnFixture("apps/cli/main.ts", [...args], QUIET);
      assert.equal(await child.exited, 2, `${args.join(" ")}: ${child.stderr()}`);
      assert.match(child.stderr(), pattern);
    }
  });

  it("runs as the package.json bin (an executable with a deno shebang)", async () => {
    const bin = JSON.parse(readFileSync("package.json", "utf8")).bin.sluice;
    const path = `${resolve("node_modules/.bin")}:${process.env.PATH}`;
    await using child = spawnCommand(bin, ["--help"], { PATH: path });
    assert.equal(await child.exited, 0, child.stderr());
    assert.match(child.stdout(), /Usage: sluice <command>/);
  });

  it("runs through `deno task sluice` and `npm run sluice`", async () => {
    for (
      const [command, args] of [
        ["node_modules/.bin/deno", ["task", "-q", "sluice", "--help"]],
        ["npm", ["run", "-s", "sluice", "--", "--help"]],
      ] as const
    ) {
      await using child = spawnCommand(command, [...args], {});
      assert.equal(await child.exited, 0, `${command}: ${child.stderr()}`);
      assert.match(child.stdout(), /Usage: sluice <command>/);
    }
  });

  it("names an unknown command, engine or flag and exits 2", async () => {
    for (
      const [args, pattern] of [
        [["frobnicate"], /unknown command "frobnicate"/],
        [["worker", "--engine", "nope"], /unknown engine "nope"/],
        [["worker", "--engine", "sample", "--bogus"], /Unknown option '--bogus'/],
        [["worker", "--max-tokens=-3"], /--max-tokens: expected an integer >= 1, got "-3"/],
      ] as const
    ) {
      await using child = spawnFixture("apps/cli/main.ts", [...args], QUIET);
      assert.equal(await child.exited, 2, `${args.join(" ")}: ${child.stderr()}`);
      assert.match(child.stderr(), pattern);
    }
  });

  it("runs the sample worker and exits 0 on SIGTERM", async () => {
    await using child = spawnFixture("apps/cli/main.ts", [
      "worker",
      "--engine",
      "sample",
      ...LOCAL_PLANES,
    ], QUIET);
    await child.waitForStderr(/worker serving/);
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
    assert.match(child.stderr(), /worker stopped/);
  });
});

describe("bun build --compile", () => {
  it("builds a single-file binary of the CLI that serves and exits 0 on SIGTERM", async () => {
    mkdirSync("tests/.tmp", { recursive: true });
    const bun = "node_modules/.bin/bun";
    execFileSync(
      bun,
      ["build", "--compile", "apps/cli/main.ts", "--outfile", "tests/.tmp/sluice"],
      {
        stdio: "pipe",
      },
    );
    await using child = spawnCommand("tests/.tmp/sluice", [
      "worker",
      "--engine",
      "sample",
      ...LOCAL_PLANES,
    ], QUIET);
    await child.waitForStderr(/worker serving/);
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
    assert.match(child.stderr(), /worker stopped/);
    // Engine modules that cannot be served: the documented exit codes, from the binary too.
    writeFileSync("tests/.tmp/cli_no_engine.ts", "export const answer = 42;\n");
    writeFileSync("tests/.tmp/cli_throws.ts", 'throw new Error("broken at import");\n');
    for (
      const [engine, code, pattern] of [
        ["./tests/.tmp/cli_missing.ts", 2, /no such file/],
        ["./tests/.tmp/cli_no_engine.ts", 2, /expected an engine class/],
        ["./tests/.tmp/cli_throws.ts", 1, /importing it threw: .*broken at import/],
      ] as const
    ) {
      await using failing = spawnCommand("tests/.tmp/sluice", ["serve", "--engine", engine], QUIET);
      assert.equal(await failing.exited, code, `${engine}: ${failing.stderr()}`);
      assert.match(failing.stderr(), pattern);
    }
  });
});
