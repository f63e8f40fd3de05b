#!/usr/bin/env bash
# Runs each test program given as an argument and the end-to-end test, adds up their
# "N passed, N failed" lines and prints the total; exits non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
pass=0; fail=0
run() {
    local out rc
    out=$("$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    local line
    line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    if [ -z "$line" ]; then
        echo "$*: exited $rc without a result line"; fail=$((fail + 1)); return
    fi
    local p f
    p=$(printf '%s' "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(printf '%s' "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    pass=$((pass + p)); fail=$((fail + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then echo "$*: exited $rc"; fail=$((fail + 1)); fi
}
for t in "$@"; do run "$t"; done
for s in tests/e2e_*.sh; do [ -e "$s" ] && run bash "$s"; done
echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
