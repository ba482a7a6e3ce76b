/**
 * `sluice serve --engine MODULE` failures in a real child process: each names the problem
 * and exits with the documented code (2: bad flags or an unusable module; 1: the module
 * failed while loading). Also the module-engine picks that succeed without serving.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { spawnFixture } from "../fixtures/spawn_fixture.ts";

const DIR = resolve("tests/.tmp/engine_module");
const CLI = resolve("apps/cli/main.ts");
const QUIET = { DYN_GRACEFUL_SHUTDOWN_GRACE_PERIOD_SECS: "0" };

mkdirSync(DIR, { recursive: true });
writeFileSync(`${DIR}/no_engine.ts`, "export const answer = 42;\nexport function helper() {}\n");
writeFileSync(`${DIR}/throws.ts`, 'throw new Error("weights not found at import");\n');
writeFileSync(
  `${DIR}/missing_dependency.ts`,
  'export { Engine } from "no-such-dependency-package";\n',
);
writeFileSync(
  `${DIR}/two_engines.ts`,
  `import { SampleEngine } from "sluice/engines/sample";
export class A extends SampleEngine {}
export class B extends SampleEngine {}
export const alsoA = A;
`,
);
writeFileSync(
  `${DIR}/bad_flag.ts`,
  `import { SluiceError } from "sluice";
export default class BadFlagEngine {
  static fromArgs(): Promise<never> {
    return Promise.reject(
      new SluiceError("InvalidArgument", "Cannot parse --size: expected an integer", { param: "--size" }),
    );
  }
}
`,
);

async function serve(args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  await using child = spawnFixture(CLI, ["serve", ...args, "--port", "0"], QUIET, { cwd: DIR });
  // Each case fails before serving; one that serves by mistake is ended, not waited on.
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const code = await child.exited.finally(() => clearTimeout(timer));
  return { code, stderr: child.stderr(), stdout: child.stdout() };
}

describe("sluice serve --engine PACKAGE", () => {
  it("serves an engine named by a package specifier", async () => {
    await using child = spawnFixture(
      CLI,
      ["serve", "--engine", "sluice/engines/sample", "--port", "0", "--delay-ms", "0"],
      QUIET,
      { cwd: DIR },
    );
    await child.waitForStdout(
      /listening on .*engine sluice\/engines\/sample, 1 worker\(s\), model sample-model/,
    );
    child.kill("SIGTERM");
    assert.equal(await child.exited, 0, child.stderr());
  });
});

describe("sluice serve --engine MODULE failures", () => {
  it("a missing file exits 2 and names the file", async () => {
    const { code, stderr } = await serve(["--engine", "./missing_engine.ts"]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /Cannot load engine module "\.\/missing_engine\.ts": no such file/);
  });

  it("a module with no engine export exits 2 and says what was expected and what it exports", async () => {
    const { code, stderr } = await serve(["--engine", "./no_engine.ts"]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /expected an engine class with a static fromArgs\(argv\)/);
    assert.match(stderr, /module exports: answer, helper/);
  });

  it("a module that throws on import exits 1 with its error", async () => {
    const { code, stderr } = await serve(["--engine", "./throws.ts"]);
    assert.equal(code, 1, stderr);
    assert.match(
      stderr,
      /Cannot load engine module "\.\/throws\.ts": importing it threw: .*weights not found at import/,
    );
  });

  it("a module whose own import is missing exits 1 naming the missing package", async () => {
    const { code, stderr } = await serve(["--engine", "./missing_dependency.ts"]);
    assert.equal(code, 1, stderr);
    assert.match(stderr, /importing it threw: .*no-such-dependency-package/);
  });

  it("a module with several engine classes exits 2 and names them; MODULE#Name picks one", async () => {
    const several = await serve(["--engine", "./two_engines.ts"]);
    assert.equal(several.code, 2, several.stderr);
    assert.match(several.stderr, /several \(A, B, alsoA\); pick one with \.\/two_engines\.ts#A/);
    const missing = await serve(["--engine", "./two_engines.ts#C"]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /export "C" is not an engine class/);
  });

  it("an unknown name exits 2 and lists the built-in engines", async () => {
    const { code, stderr } = await serve(["--engine", "no-such-engine-package"]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /unknown engine "no-such-engine-package" \(known: sample/);
  });

  it("an InvalidArgument from the module's fromArgs exits 2 (a typed error from the module's sluice)", async () => {
    const { code, stderr } = await serve(["--engine", "./bad_flag.ts"]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /Cannot parse --size: expected an integer/);
  });
});
