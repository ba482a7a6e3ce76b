/**
 * Guided decoding (`sampling_options.guided_decoding`) as llama.cpp grammars:
 *
 * - `json`: a JSON Schema becomes node-llama-cpp's GBNF for that schema
 *   (`createGrammarForJsonSchema`); `{type: "object"}` (the frontend's `json_object`) and `{}`
 *   use llama.cpp's JSON grammar. Only keywords the generator honours are accepted; any other
 *   constraint (`pattern`, `minimum`, `allOf`, …) is refused with `InvalidArgument` naming the
 *   keyword and where it is, because ignoring it would return output that does not validate.
 *   `anyOf` is generated as `oneOf` (any one branch satisfies `anyOf`). Every property is
 *   generated, so `required` must name only declared properties. Integers are generated
 *   without the exponent node-llama-cpp allows them (`3e-2` is not an integer).
 * - `choice`: a GBNF alternation of the literal strings.
 * - `grammar`: a GBNF grammar, as given.
 * - `regex`: refused (llama.cpp grammars are GBNF; no regex front end here).
 *
 * @module
 */
import type { GuidedDecoding } from "../../src/engine/generate_request.ts";
import { SluiceError } from "../../src/errors/sluice_error.ts";
import type { NodeLlamaCpp } from "./node_llama_cpp.ts";

/** Keywords that only annotate a schema (no constraint): accepted and ignored. */
const ANNOTATIONS = new Set([
  "title",
  "description",
  "$schema",
  "$id",
  "$comment",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
]);

/** Constraining keywords node-llama-cpp's JSON-schema grammar generator honours. */
const SUPPORTED = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "minProperties",
  "maxProperties",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "enum",
  "const",
  "oneOf",
  "anyOf",
  "$ref",
  "$defs",
  "minLength",
  "maxLength",
  "format",
]);

/** node-llama-cpp's integer rule, with its exponent part in group 2. */
const INTEGER_WITH_EXPONENT = /^(integer-number-rule ::= .*?)( \(\[eE\] .*\)\?)$/m;

const BASIC_TYPES = new Set(["string", "number", "integer", "boolean", "null"]);

function unsupported(where: string, what: string): SluiceError {
  return new SluiceError(
    "InvalidArgument",
    `Cannot constrain output to the JSON schema: ${what} at ${where} cannot be expressed as a ` +
      "llama.cpp grammar by the llamacpp engine",
    { param: "response_format" },
  );
}

/** Checks one schema node and returns it with `anyOf` renamed `oneOf` (recursively). */
function convert(schema: unknown, where: string): unknown {
  if (schema === true) return {};
  if (schema === false) throw unsupported(where, "the schema `false`");
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new SluiceError(
      "InvalidArgument",
      `Invalid JSON schema at ${where}: expected an object`,
      { param: "response_format" },
    );
  }
  const node = schema as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (ANNOTATIONS.has(key)) {
      if (key === "description") out[key] = value;
      continue;
    }
    if (!SUPPORTED.has(key)) throw unsupported(where, `the keyword "${key}"`);
    switch (key) {
      case "properties":
      case "$defs": {
        const map: Record<string, unknown> = {};
        for (const [name, sub] of Object.entries(value as Record<string, unknown>)) {
          map[name] = convert(sub, `${where}.${key}.${name}`);
        }
        out[key] = map;
        break;
      }
      case "items":
      case "additionalProperties":
        out[key] = typeof value === "boolean" && key === "additionalProperties"
          ? value
          : convert(value, `${where}.${key}`);
        break;
      case "prefixItems":
      case "oneOf":
      case "anyOf":
        if (!Array.isArray(value)) throw unsupported(where, `a non-array "${key}"`);
        out[key === "anyOf" ? "oneOf" : key] = value.map((s, i) =>
          convert(s, `${where}.${key}[${i}]`)
        );
        break;
      case "type": {
        const types = Array.isArray(value) ? value : [value];
        if (types.length === 0) throw unsupported(where, "an empty type list");
        if (types.length > 1 && types.some((t) => !BASIC_TYPES.has(t as string))) {
          throw unsupported(where, `the type list ${JSON.stringify(value)}`);
        }
        if (types.some((t) => !BASIC_TYPES.has(t as string) && t !== "object" && t !== "array")) {
          throw unsupported(where, `the type ${JSON.stringify(value)}`);
        }
        out[key] = value;
        break;
      }
      case "format":
        if (!["date-time", "time", "date"].includes(value as string)) {
          throw unsupported(where, `the string format "${value}"`);
        }
        out[key] = value;
        break;
      case "$ref":
        if (typeof value !== "string" || !value.startsWith("#/$defs/")) {
          throw unsupported(where, `the reference ${JSON.stringify(value)} (only #/$defs/…)`);
        }
        out[key] = value;
        break;
      default:
        out[key] = value;
    }
  }
  if ("oneOf" in out && "anyOf" in node && "oneOf" in node) {
    throw unsupported(where, "both anyOf and oneOf");
  }
  if (Array.isArray(node.required)) {
    const declared = Object.keys((node.properties ?? {}) as object);
    for (const name of node.required) {
      if (!declared.includes(name as string)) {
        throw unsupported(where, `the required property "${name}" without a declaration`);
      }
    }
  }
  if ("format" in out && out.type !== "string") throw unsupported(where, "format without type");
  if ("format" in out && ("minLength" in out || "maxLength" in out)) {
    throw unsupported(where, "format with a length limit");
  }
  return out;
}

/** True for `{}` and `{type: "object"}` alone: any JSON object satisfies them. */
function isAnyObject(schema: unknown): boolean {
  if (typeof schema !== "object" || schema === null) return schema === true;
  const keys = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));
  return keys.length === 0 ||
    (keys.length === 1 && (schema as Record<string, unknown>).type === "object");
}

/** A GBNF string literal for `text`. */
export function gbnfLiteral(text: string): string {
  return JSON.stringify(text).replaceAll("\\b", "\\x08").replaceAll("\\f", "\\x0C");
}

/** The GBNF grammar for one of `choices`. */
export function choiceGrammar(choices: readonly string[]): string {
  return `root ::= ${choices.map(gbnfLiteral).join(" | ")}`;
}

/**
 * The llama.cpp grammar for `guided`, or `undefined` when the request is unconstrained.
 * @throws {SluiceError} `InvalidArgument` for what a llama.cpp grammar cannot express here.
 */
export async function grammarFor(
  llama: NodeLlamaCpp,
  guided: GuidedDecoding | undefined,
): Promise<unknown | undefined> {
  if (guided === undefined) return undefined;
  if (guided.regex !== undefined) {
    throw new SluiceError(
      "InvalidArgument",
      "Cannot constrain output to a regular expression: the llamacpp engine supports JSON " +
        "schemas, choices and GBNF grammars (guided_grammar), not regex",
      { param: "guided_regex" },
    );
  }
  if (guided.choice !== undefined) {
    if (guided.choice.length === 0) {
      throw new SluiceError("InvalidArgument", "Cannot constrain output: guided_choice is empty", {
        param: "guided_choice",
      });
    }
    return await llama.createGrammar({ grammar: choiceGrammar(guided.choice) });
  }
  if (guided.grammar !== undefined) {
    try {
      return await llama.createGrammar({ grammar: guided.grammar });
    } catch (cause) {
      throw new SluiceError(
        "InvalidArgument",
        `Cannot constrain output: the GBNF grammar does not parse (${(cause as Error).message})`,
        { param: "guided_grammar", cause },
      );
    }
  }
  if (guided.json === undefined) return undefined;
  if (isAnyObject(guided.json)) return await llama.getGrammarFor("json");
  const schema = convert(guided.json, "$");
  try {
    const generated = await llama.createGrammarForJsonSchema(schema);
    // node-llama-cpp lets an "integer" take an exponent ("3e-2" is not an integer): drop it.
    const text = (generated.grammar as string).replace(INTEGER_WITH_EXPONENT, "$1");
    return text === generated.grammar ? generated : await llama.createGrammar({ grammar: text });
  } catch (cause) {
    throw new SluiceError(
      "InvalidArgument",
      `Cannot constrain output to the JSON schema: ${(cause as Error).message}`,
      { param: "response_format", cause },
    );
  }
}
