#!/usr/bin/env bash
# Runs the GPU kernel benchmarks on a lent NVIDIA machine (Deno + Vulkan), from the repository
# root. Expects the Vulkan loader packages in .gl/ and an xz-compressed Deno binary in
# .devcarry/deno.xz, and for benchmarks that load engines the npm packages they import in
# .devcarry/nm.tar.xz (see bench/RESULTS.md, "Real GPU"). Writes Markdown and logs under $OUT.
# Arguments: one benchmark per argument (script and its flags), e.g. the token-batched GEMV
# at m = 8 over every autotuner candidate, then the engine at batch 1 and 8 with tuning:
#   bash bench/device/gpu_kernels_device.sh "bench/gpu_gemv_batch.ts --configs all" \
#     "bench/llama_engine.ts --size 100m --dtype q8_0 --backends webgpu --prefill 16 --decode 16 --tune"
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
xz -dc .devcarry/deno.xz >/tmp/deno && chmod +x /tmp/deno
# Benchmarks that load the engines need their npm packages (carried as .devcarry/nm.tar.xz).
if [ -f .devcarry/nm.tar.xz ] && [ ! -d node_modules ]; then xz -dc .devcarry/nm.tar.xz | tar xf -; fi
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
/tmp/deno eval 'const a = await navigator.gpu.requestAdapter({powerPreference:"high-performance"}); console.log(JSON.stringify(a?.info), [...(a?.features ?? [])].join(","))' 2>&1 | tee -a "$OUT/gpu.txt"
for b in "$@"; do
  name=$(basename "${b%% *}" .ts)
  echo "== $b"
  # shellcheck disable=SC2086
  timeout "${BENCH_TIMEOUT:-240}" /tmp/deno run -A $b >"$OUT/$name.md" 2>"$OUT/$name.err"
  echo "rc=$? $name"; tail -n 40 "$OUT/$name.md"; tail -n 5 "$OUT/$name.err"
done
