/**
 * The error code registry and the typed error across the wire and across library copies:
 * codes survive `toJSON`/`fromJSON` by value, unknown codes are dropped, and a SluiceError
 * built by another copy of the module (an engine module loaded by a compiled binary) is
 * still recognised as one.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ErrorCode, isSluiceError, SluiceError, toSluiceError } from "../../mod.ts";
import { isErrorCode } from "../../src/errors/error_code.ts";
import { copyFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

describe("ErrorCode", () => {
  it("has one distinct value per name", () => {
    const values = Object.values(ErrorCode);
    assert.equal(new Set(values).size, values.length);
    for (const value of values) assert.ok(isErrorCode(value), value);
    assert.equal(isErrorCode("no_such_code"), false);
    assert.equal(isErrorCode(undefined), false);
  });

  it("survives the wire by value; a code this build does not know is dropped", () => {
    const sent = new SluiceError("EngineShutdown", "busy", { code: ErrorCode.AllWorkersBusy });
    const received = SluiceError.fromJSON(JSON.parse(JSON.stringify(sent)));
    assert.equal(received.code, ErrorCode.AllWorkersBusy);
    const future = SluiceError.fromJSON({ kind: "EngineShutdown", message: "x", code: "later" });
    assert.equal(future.code, undefined);
    assert.equal(future.kind, "EngineShutdown");
  });
});

describe("SluiceError across library copies", () => {
  it("recognises an error built by another copy of the module", async () => {
    // A second copy of the module on disk, as an engine file importing its own copy gets.
    const dir = resolve("tests/.tmp/errors_copy");
    mkdirSync(dir, { recursive: true });
    for (const file of ["sluice_error.ts", "error_code.ts"]) {
      copyFileSync(`src/errors/${file}`, `${dir}/${file}`);
    }
    const other = await import(
      pathToFileURL(`${dir}/sluice_error.ts`).href
    ) as typeof import("../../src/errors/sluice_error.ts");
    assert.notEqual(other.SluiceError, SluiceError, "a distinct class");
    const foreign = new other.SluiceError("InvalidArgument", "Cannot parse --size: bad", {
      param: "--size",
    });
    assert.ok(foreign instanceof SluiceError);
    assert.ok(isSluiceError(foreign, "InvalidArgument"));
    const typed = toSluiceError(foreign);
    assert.equal(typed.kind, "InvalidArgument");
    assert.equal(typed.param, "--size");
    assert.equal(toSluiceError(new Error("plain")).kind, "Unknown");
    assert.ok(!(new Error("plain") instanceof SluiceError));
  });

  it("keeps the ordinary instanceof for subclasses", () => {
    class ModelError extends SluiceError {}
    const sub = new ModelError("InvalidArgument", "Cannot load: bad file");
    assert.ok(sub instanceof ModelError);
    assert.ok(sub instanceof SluiceError);
    assert.ok(!(new SluiceError("InvalidArgument", "other") instanceof ModelError));
  });
});
