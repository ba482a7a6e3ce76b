import { acquireTestDevice } from "./_device.ts";
import { KernelRuntime } from "../../src/gpu/compile/kernel_runtime.ts";
import { quantizeRowsKernel } from "../../src/gpu/kernels/quantize_rows.ts";
import { gemvI8Kernel } from "../../src/gpu/kernels/gemv_i8.ts";
const d = await acquireTestDevice();
if (d.skip) throw new Error(d.skip);
const rt = new KernelRuntime(d.context);
console.log([...d.context.wgslFeatures].includes("packed_4x8_integer_dot_product"));
for (const src of [quantizeRowsKernel({ k: 128 }), gemvI8Kernel({ dtype: "q8_0", n: 64, k: 128, bias: true, epilogue: {kind:"split3", sizes:[32,16,16]} }), gemvI8Kernel({ dtype: "q4_0", n: 64, k: 128, threadsPerRow: 1, epilogue: {kind:"gate_up_silu"} })]) {
  try { await rt.pipeline(src); console.log("ok", src.name); } catch (e) { console.log("FAIL", src.name, (e as Error).message.slice(0, 800)); }
}
d.context.destroy();
