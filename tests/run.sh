#!/usr/bin/env bash
# The test command (`npm test`): installs what the suite needs on a fresh
# Debian machine with only Node and npm, then runs every test under Deno and
# under Bun and prints one summary line ("summary: N passed, N failed").
#
#   npm test                      # everything
#   npm test -- tests/worker      # some folders or files, both runtimes
#   SLUICE_TEST_RUNTIMES=deno npm test
set -uo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

# 1. npm packages (Deno and Bun come from npm).
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  npm ci --no-audit --no-fund || exit 1
fi

# 2. Debian packages the integration and GPU tests use (real servers, software Vulkan).
need=()
dpkg -s mesa-vulkan-drivers >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
dpkg -s libvulkan1 >/dev/null 2>&1 || need+=(libvulkan1)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >/dev/null || {
      echo "cannot install ${need[*]}: GPU tests will report no adapter" >&2
    }
  else
    echo "not root: cannot apt-get install ${need[*]}; tests that need them will say so" >&2
  fi
fi

targets=("$@")
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
      ;;
    bun)
      log "bun test (Bun $(node_modules/.bin/bun --version))"
      NO_COLOR=1 node_modules/.bin/bun test --timeout 120000 "${targets[@]}" 2>&1 | tee "$out"
      rc=${PIPESTATUS[0]}
      passed=$((passed + $(sed -nE 's/^ *([0-9]+) pass$/\1/p' "$out" | tail -1 || echo 0)))
      failed=$((failed + $(sed -nE 's/^ *([0-9]+) fail$/\1/p' "$out" | tail -1 || echo 0)))
      ;;
    *) echo "unknown runtime $rt" >&2; rc=2 ;;
  esac
  if [ "$rc" -ne 0 ]; then
    status=1
    [ "$failed" -gt 0 ] || failed=$((failed + 1))
  fi
done

echo
echo "summary: $passed passed, $failed failed"
exit $status
