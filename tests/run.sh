#!/usr/bin/env bash
# The test command (`npm test`): installs what the suite needs on a fresh
# Debian machine with only Node and npm, then runs every test under Deno and
# under Bun and prints one summary line ("summary: N passed, N failed"). A full run also
# runs the static checks (tests/checks.sh: format, lint, types, doc lint, doc examples),
# each counted as one test in the summary.
#
#   npm test                      # everything
#   npm test -- tests/worker      # some folders or files, both runtimes (no static checks)
#   SLUICE_TEST_RUNTIMES=deno npm test
#   SLUICE_CHECKS=0 npm test      # skip the static checks (=1 runs them with targets too)
set -uo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# 1. npm packages (Deno and Bun come from npm).
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  # `npm ci`: exactly the committed lock (complete for every platform), never rewriting it.
  npm ci --no-audit --no-fund || exit 1
fi

# 1b. node-llama-cpp for the llamacpp engine tests (tests/llamacpp): not a dependency of Sluice
#     (~725 MB of prebuilt binaries), installed without touching package.json or the lock, the
#     same one command the README gives users. `npm ci` above removes it, so check after it.
if [ ! -f node_modules/node-llama-cpp/package.json ]; then
  log "installing node-llama-cpp (llamacpp engine tests)"
  npm install --no-save --no-audit --no-fund node-llama-cpp@3.22.1 || exit 1
fi

# 2. Debian packages the integration and GPU tests use (real servers: etcd-server and nats-server
#    for distributed discovery and planes; software Vulkan for Deno's WebGPU, Mesa's EGL and
#    llvmpipe GL ES for Dawn under Bun).
need=()
for pkg in etcd-server nats-server mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null || {
      echo "cannot install ${need[*]}: tests that need them will fail (GPU tests report no adapter)" >&2
    }
  else
    echo "not root: cannot apt-get install ${need[*]}; tests that need them will say so" >&2
  fi
fi

# Expands "tests/" into its sub-folders (one bun process each); files and other folders pass through.
# Folders are passed as "./tests/x/": Bun reads a bare "tests/x" as a name filter, so "tests/llama"
# would also run tests/llamacpp.
bun_targets() {
  for t in "$@"; do
    t=${t%/}
    if [ "$t" = tests ]; then
      for d in tests/*/; do
        d=${d%/}
        case $d in tests/fixtures | tests/.tmp) ;; *) ls "$d" | grep -q '_test\.ts$' && echo "./$d/" ;; esac
      done
    elif [ -d "$t" ]; then
      echo "./${t#./}/"
    else
      echo "$t"
    fi
  done
}

targets=("$@")
checks=${SLUICE_CHECKS:-$([ ${#targets[@]} -eq 0 ] && echo 1 || echo 0)}
[ ${#targets[@]} -gt 0 ] || targets=(tests/)
runtimes=${SLUICE_TEST_RUNTIMES:-"deno bun"}
passed=0
failed=0
status=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for rt in $runtimes; do
  case $rt in
    deno)
      log "deno test (Deno $(node_modules/.bin/deno --version | head -1 | cut -d' ' -f2))"
      NO_COLOR=1 node_modules/.bin/deno test -A "${targets[@]}" 2>&1 | tee "$out"
      rc=${PIPESTATUS[0]}
      # "ok | 4 passed (45 steps) | 0 failed (11s)": count steps (the individual tests) when present.
      line=$(grep -E '^(ok|FAILED) \|' "$out" | tail -1)
      p=$(sed -nE 's/.*\| ([0-9]+) passed( \(([0-9]+) steps?\))?.*/\1 \3/p' <<<"$line")
      f=$(sed -nE 's/.*\| ([0-9]+) failed( \(([0-9]+) steps?\))?.*/\1 \3/p' <<<"$line")
      read -r pf ps <<<"$p"; read -r ff fs <<<"$f"
      passed=$((passed + ${ps:-${pf:-0}}))
      failed=$((failed + ${fs:-${ff:-0}}))
      if [ "$rc" -ne 0 ] && [ "${fs:-${ff:-0}}" -eq 0 ]; then failed=$((failed + 1)); fi
      ;;
    bun)
      log "bun test (Bun $(node_modules/.bin/bun --version))"
      # One bun process per test folder: a crash in native code (Dawn) stays in its folder.
      # tests/gpu runs its device tests on Dawn (npm `webgpu`, Mesa GL ES) in one process.
      rc=0
      for target in $(bun_targets "${targets[@]}"); do
        NO_COLOR=1 node_modules/.bin/bun test --timeout 120000 "$target" 2>&1 | tee "$out"
        trc=${PIPESTATUS[0]}
        p=$(sed -nE 's/^ *([0-9]+) pass$/\1/p' "$out" | tail -1)
        f=$(sed -nE 's/^ *([0-9]+) fail$/\1/p' "$out" | tail -1)
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-0}))
        if [ "$trc" -ne 0 ]; then
          rc=$trc
          [ "${f:-0}" -gt 0 ] || { failed=$((failed + 1)); echo "bun test $target exited with $trc" >&2; }
        fi
      done
      ;;
    *) echo "unknown runtime $rt" >&2; rc=2 ;;
  esac
  [ "$rc" -eq 0 ] || status=1
done

if [ "$checks" = 1 ]; then
  log "static checks"
  bash tests/checks.sh 2>&1 | tee "$out"
  p=$(sed -nE 's/^checks: ([0-9]+) passed, ([0-9]+) failed$/\1/p' "$out")
  f=$(sed -nE 's/^checks: ([0-9]+) passed, ([0-9]+) failed$/\2/p' "$out")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-1}))
  [ "${f:-1}" -eq 0 ] || status=1
fi

echo
echo "summary: $passed passed, $failed failed"
exit $status
