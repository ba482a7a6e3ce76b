#!/usr/bin/env bash
# The static checks (`npm run check`, `deno task check`; `npm test` runs them too): format,
# lint, type check, documentation lint of every public entry, and the documentation
# examples type-checked and run. Prints one line per check ("check NAME: ok" or
# "check NAME: FAILED") and "checks: N passed, N failed"; exits 1 when one failed.
set -uo pipefail
cd "$(dirname "$0")/.."

deno=node_modules/.bin/deno
# The public entries (deno.json "exports"), and everything with code in it.
entries=(mod.ts src/entries/planes.ts src/entries/frontend.ts src/entries/serve.ts src/entries/gpu.ts src/entries/testing.ts)
code=("${entries[@]}" src/ engines/ apps/ bench/ tests/)
doc_code=("${entries[@]}" src/ engines/ apps/)

passed=0
failed=0
run_check() {
  local name=$1
  shift
  printf '\n== check %s: %s\n' "$name" "$*"
  if NO_COLOR=1 "$@"; then
    echo "check $name: ok"
    passed=$((passed + 1))
  else
    echo "check $name: FAILED"
    failed=$((failed + 1))
  fi
}

run_check fmt "$deno" fmt --check
run_check lint "$deno" lint
run_check types "$deno" check "${code[@]}"
run_check doc-lint "$deno" doc --lint "${entries[@]}"
# Type-checks and runs every example in a doc comment (```ts blocks not marked `ignore`).
run_check doc-tests "$deno" test -A --doc --permit-no-files "${doc_code[@]}"

echo
echo "checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
