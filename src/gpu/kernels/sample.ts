/**
 * Top-k / top-p sampling on the GPU, one workgroup per row, so a decode plan never reads logits
 * back. Per row: temperature `T`, `topK` (0 = cap), `topP`, `seed`; the uniform draw is a PCG
 * hash of (seed, step, row) with `step` read from a GPU state buffer that the decode plan
 * advances, so K steps run per submit. `T = 0` is greedy.
 *
 * Algorithm: bisect a threshold τ so that `count(x ≥ τ) ≥ k` (24 halvings of [min, max]);
 * gather those candidates (at most {@link SAMPLE_MAX_K}); bitonic-sort them by (value desc,
 * index asc); keep the first k; softmax with temperature; keep the smallest prefix whose mass
 * reaches `topP`; draw. The CPU reference `sampleRow` implements the same rule exactly.
 * Limitation: top-p applies within the top {@link SAMPLE_MAX_K} candidates.
 *
 * @example
 * ```ts
 * import { sampleKernel } from "./sample.ts";
 * console.assert(sampleKernel({ vocab: 512 }).code.includes("pcg"));
 * ```
 *
 * @module
 */
import { defineKernel, type KernelSource, positiveInt } from "./kernel_source.ts";

/** Largest k the GPU sampler keeps (and its workgroup size). */
export const SAMPLE_MAX_K = 256;

/** u32 words per row in the sampling-parameters buffer: T (f32 bits), topK, topP (f32 bits), seed. */
export const SAMPLE_PARAM_WORDS = 4;

/** Template parameters of {@link sampleKernel}. */
export interface SampleOptions {
  /** Row length. */
  readonly vocab: number;
}

/**
 * Bindings: 0 uniform `{rows}`, 1 logits, 2 per-row params (u32 × 4), 3 state (u32, `state[0]`
 * is the step), 4 ids (u32, written). Grid `rowGrid(rows)`.
 */
export function sampleKernel(options: SampleOptions): KernelSource {
  const vocab = positiveInt(options.vocab, "vocab");
  const wg = SAMPLE_MAX_K;
  const code = `
const V: u32 = ${vocab}u;
const WG: u32 = ${wg}u;
const MAXK: u32 = ${SAMPLE_MAX_K}u;
struct Params { rows: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> sparams: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;
var<workgroup> ra: array<f32, WG>;
var<workgroup> rb: array<f32, WG>;
var<workgroup> cv: array<f32, MAXK>;
var<workgroup> ci: array<u32, MAXK>;
var<workgroup> cnt: atomic<u32>;

fn pcg(v: u32) -> u32 {
  let s = v * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}

fn better(a: u32, b: u32) -> bool {
  return cv[a] > cv[b] || (cv[a] == cv[b] && ci[a] < ci[b]);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = min(wid.x + wid.y * nwg.x, params.rows - 1u);
  let base = row * V;
  let temperature = bitcast<f32>(sparams[row * 4u]);
  let top_k = sparams[row * 4u + 1u];
  let top_p = bitcast<f32>(sparams[row * 4u + 2u]);
  let seed = sparams[row * 4u + 3u];
  var k = select(top_k, MAXK, top_k == 0u);
  k = min(min(k, MAXK), V);
  if (temperature <= 0.0) { k = 1u; }
  var lmax = -3.0e38;
  var lmin = 3.0e38;
  for (var i = lid; i < V; i += WG) { let v = logits[base + i]; lmax = max(lmax, v); lmin = min(lmin, v); }
  ra[lid] = lmax;
  rb[lid] = lmin;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { ra[lid] = max(ra[lid], ra[lid + s]); rb[lid] = min(rb[lid], rb[lid + s]); }
    workgroupBarrier();
  }
  var hi = ra[0];
  var lo = rb[0];
  workgroupBarrier();
  for (var it = 0u; it < 24u; it++) {
    let mid = lo + (hi - lo) * 0.5;
    var c = 0.0;
    for (var i = lid; i < V; i += WG) { c += select(0.0, 1.0, logits[base + i] >= mid); }
    ra[lid] = c;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (lid < s) { ra[lid] += ra[lid + s]; }
      workgroupBarrier();
    }
    if (ra[0] >= f32(k)) { lo = mid; } else { hi = mid; }
    workgroupBarrier();
  }
  cv[lid] = -3.0e38;
  ci[lid] = 0xffffffffu;
  if (lid == 0u) { atomicStore(&cnt, 0u); }
  workgroupBarrier();
  for (var i = lid; i < V; i += WG) {
    let v = logits[base + i];
    if (v >= lo) {
      let slot = atomicAdd(&cnt, 1u);
      if (slot < MAXK) { cv[slot] = v; ci[slot] = i; }
    }
  }
  workgroupBarrier();
  for (var size = 2u; size <= MAXK; size <<= 1u) {
    for (var stride = size / 2u; stride > 0u; stride >>= 1u) {
      let partner = lid ^ stride;
      if (partner > lid) {
        let first_best = (lid & size) == 0u;
        if (first_best == better(partner, lid)) {
          let tv = cv[lid]; cv[lid] = cv[partner]; cv[partner] = tv;
          let ti = ci[lid]; ci[lid] = ci[partner]; ci[partner] = ti;
        }
      }
      workgroupBarrier();
    }
  }
  if (lid == 0u && wid.x + wid.y * nwg.x < params.rows) {
    let n = min(k, min(atomicLoad(&cnt), MAXK));
    let inv_t = select(1.0, 1.0 / temperature, temperature > 0.0);
    var total = 0.0;
    for (var i = 0u; i < n; i++) { total += exp((cv[i] - cv[0]) * inv_t); }
    var keep = n;
    var cum = 0.0;
    for (var i = 0u; i < n; i++) {
      cum += exp((cv[i] - cv[0]) * inv_t);
      if (cum >= top_p * total) { keep = i + 1u; break; }
    }
    let u = f32(pcg(seed ^ pcg(state[0] ^ pcg(row))) >> 8u) / 16777216.0;
    let r = u * cum;
    var pick = keep - 1u;
    var acc = 0.0;
    for (var i = 0u; i < keep; i++) {
      acc += exp((cv[i] - cv[0]) * inv_t);
      if (acc > r) { pick = i; break; }
    }
    ids[row] = ci[pick];
  }
}
`;
  return defineKernel(`sample.v${vocab}`, { vocab, wg: [wg] }, code);
}
