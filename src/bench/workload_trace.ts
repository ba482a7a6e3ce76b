/**
 * Shared-prefix, multi-turn workloads for the load tool, saved as trace files in the
 * Mooncake / Dynamo trace format (one JSON object per line):
 *
 *     {"timestamp": 0, "input_length": 5210, "output_length": 64, "hash_ids": [0, 1, 2, …]}
 *
 * `timestamp` is the send time in ms from the start; `hash_ids` names the prompt's blocks
 * of `TRACE_BLOCK_TOKENS` tokens: equal ids are equal token blocks, so shared ids are shared
 * prefixes. A replay expands each id into its deterministic block of token ids
 * ({@linkcode traceTokens}).
 *
 * The generator: `groups` shared prefixes (e.g. system prompts or documents) of
 * `prefixTokens` tokens; conversations pick a group at random and run `turns` turns, each
 * adding a user message and (standing in for the reply) the previous turn's output to the
 * history; arrivals form a Poisson process of rate `rate` requests/s.
 *
 * @module
 */
import { z } from "zod";

/** Tokens per trace block (Mooncake's 512). */
export const TRACE_BLOCK_TOKENS = 512;

/** One trace entry. */
export const TraceEntrySchema = z.object({
  timestamp: z.number().nonnegative(),
  input_length: z.number().int().positive(),
  output_length: z.number().int().positive(),
  hash_ids: z.array(z.number().int().nonnegative()).min(1),
});
/** One request of a trace. */
export type TraceEntry = z.infer<typeof TraceEntrySchema>;

/** Options for {@linkcode generateWorkload}. */
export interface WorkloadOptions {
  /** Requests in the trace. */
  requests: number;
  /** Shared-prefix groups. */
  groups: number;
  /** Shared prefix length range in tokens, inclusive (default 2048–8192). */
  prefixTokens?: [number, number];
  /** Turns per conversation (default 3). */
  turns?: number;
  /** New user tokens per turn, range (default 64–512). */
  userTokens?: [number, number];
  /** Output tokens per request (default 64). */
  outputTokens?: number;
  /** Mean arrival rate, requests per second (Poisson). */
  rate: number;
  /** PRNG seed (default 1). */
  seed?: number;
}

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generates a shared-prefix multi-turn trace, deterministic for a seed.
 * @throws {RangeError} for non-positive counts or rates.
 */
export function generateWorkload(options: WorkloadOptions): TraceEntry[] {
  const { requests, groups, rate } = options;
  if (!(requests > 0 && groups > 0 && rate > 0)) {
    throw new RangeError("Cannot generate workload: requests, groups and rate must be > 0");
  }
  const random = prng(options.seed ?? 1);
  const between = ([lo, hi]: [number, number]) => lo + Math.floor(random() * (hi - lo + 1));
  const turns = options.turns ?? 3;
  const output = options.outputTokens ?? 64;
  let nextId = 0;
  const fresh = (tokens: number) =>
    Array.from({ length: Math.ceil(tokens / TRACE_BLOCK_TOKENS) }, () => nextId++);
  // Prefixes are whole blocks, so the user text starts a block of its own.
  const prefixes = Array.from({ length: groups }, () => {
    const blocks = Math.max(
      1,
      Math.round(between(options.prefixTokens ?? [2048, 8192]) / TRACE_BLOCK_TOKENS),
    );
    return fresh(blocks * TRACE_BLOCK_TOKENS);
  });
  interface Conversation {
    history: number[];
    turnsLeft: number;
  }
  const open: Conversation[] = [];
  const trace: TraceEntry[] = [];
  let clock = 0;
  for (let i = 0; i < requests; i++) {
    clock += -Math.log(1 - random()) / rate * 1000;
    // Continue an open conversation or start one, so turns of one conversation interleave.
    let conv: Conversation;
    if (open.length > 0 && random() < 0.6) {
      conv = open[Math.floor(random() * open.length)];
    } else {
      conv = { history: [...prefixes[Math.floor(random() * groups)]], turnsLeft: turns };
      open.push(conv);
    }
    const user = between(options.userTokens ?? [64, 512]);
    conv.history.push(...fresh(user));
    const inputLength = conv.history.length * TRACE_BLOCK_TOKENS;
    trace.push({
      timestamp: Math.round(clock * 1000) / 1000,
      input_length: inputLength,
      output_length: output,
      hash_ids: [...conv.history],
    });
    conv.history.push(...fresh(output)); // the reply, as the next turn would resend it
    if (--conv.turnsLeft === 0) open.splice(open.indexOf(conv), 1);
  }
  return trace;
}

/** Serialises a trace as JSON lines. */
export function formatTrace(trace: readonly TraceEntry[]): string {
  return trace.map((e) => JSON.stringify(e)).join("\n") + "\n";
}

/**
 * Parses a JSON-lines trace, validating every entry.
 * @throws {TypeError} naming the line of the first bad entry.
 */
export function parseTrace(text: string): TraceEntry[] {
  const out: TraceEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new TypeError(`trace line ${i + 1}: not JSON (${(error as Error).message})`);
    }
    const parsed = TraceEntrySchema.safeParse(value);
    if (!parsed.success) {
      throw new TypeError(`trace line ${i + 1}: ${parsed.error.issues[0].message}`);
    }
    out.push(parsed.data);
  }
  return out;
}

/**
 * The prompt token ids of a trace entry: each hash id expands to its own deterministic
 * block of token ids in [1, 32000), cut to `input_length`.
 */
export function traceTokens(entry: TraceEntry): number[] {
  const out: number[] = [];
  for (const id of entry.hash_ids) {
    for (let j = 0; j < TRACE_BLOCK_TOKENS && out.length < entry.input_length; j++) {
      let h = Math.imul(id + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b);
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
      h ^= h >>> 13;
      out.push(1 + ((h >>> 0) % 31999));
    }
  }
  return out;
}
