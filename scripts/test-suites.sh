#!/usr/bin/env bash
# `npm test`'s last stage: the unit suite (with coverage) and the browser suite at the same time.
# Most of either suite's time is waiting (fake LLM latency, spawned servers, PGlite set-up, the
# page), so on a 2-core machine running them together takes less wall time than one after the
# other. The unit suite prints as it runs; the browser suite's output is printed when both have
# ended. Fails when either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
e2e_log="$(mktemp -t braincells-e2e-XXXXXX.log)"
npm run --silent test:e2e >"$e2e_log" 2>&1 &
e2e_pid=$!
npm run --silent test:unit
unit_rc=$?
wait "$e2e_pid"
e2e_rc=$?
echo
echo "==== browser tests (npm run test:e2e) ===="
cat "$e2e_log"
rm -f "$e2e_log"
echo "test: unit exit ${unit_rc}, browser exit ${e2e_rc}"
[ "$unit_rc" -eq 0 ] && [ "$e2e_rc" -eq 0 ]
