# lib_e2e.sh -- shared by the tests/e2e_*.sh scripts (source it after `cd` to the repo root):
# pass/fail counting, a temp dir, running the CLI and checking its exit status and stderr.
# The binary is $NANOGPT (default ./nanogpt), so `make sanitize` can run the scripts on its
# instrumented build. A script may define e2e_cleanup() for its own leftovers.
NG=${NANOGPT:-./nanogpt}
E2E_NAME=$(basename "$0")
pass=0; fail=0
tmp=$(mktemp -d)
start_time=$SECONDS
trap 'declare -F e2e_cleanup >/dev/null && e2e_cleanup; rm -rf "$tmp"' EXIT

ok()  { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
# check DESCRIPTION COMMAND...: the command succeeding is a pass
check() { local _desc=$1; shift; if "$@"; then ok; else bad "$_desc"; fi; }
finish() {
    echo "$E2E_NAME: $pass passed, $fail failed ($((SECONDS - start_time))s)"
    [ "$fail" -eq 0 ] || exit 1
    exit 0
}
# run NAME ARGS...: $NG ARGS (stdin from $RUN_STDIN, default /dev/null), stdout in
# $tmp/NAME.out, stderr in $tmp/NAME.err, exit status in $rc; killed after 120 s
run() {
    local name=$1; shift
    timeout 120 "$NG" "$@" <"${RUN_STDIN:-/dev/null}" >"$tmp/$name.out" 2>"$tmp/$name.err"
    rc=$?
}
show() { echo "--- $1 (exit $rc) stdout:" >&2; tail -n 15 "$tmp/$1.out" >&2; echo "--- stderr:" >&2; tail -n 15 "$tmp/$1.err" >&2; }
# expect_ok NAME: exit status 0
expect_ok() { if [ "$rc" -eq 0 ]; then ok; else bad "$1: exit status $rc"; show "$1"; fi; }
# expect_fail NAME [TEXT]: exit status 1 and exactly one line "nanogpt: ..." on stderr, containing TEXT
expect_fail() {
    local name=$1 want=${2:-}
    if [ "$rc" -ne 1 ]; then bad "$name: exit status $rc, want 1"; show "$name"; return; fi
    local lines
    lines=$(wc -l <"$tmp/$name.err")
    if [ "$lines" -eq 1 ] && grep -q '^nanogpt: ' "$tmp/$name.err"; then ok
    else bad "$name: want one 'nanogpt: ' line on stderr, got $lines:"; head -n 5 "$tmp/$name.err" >&2; fi
    if [ -n "$want" ]; then
        if grep -qF -- "$want" "$tmp/$name.err"; then ok
        else bad "$name: stderr lacks '$want': $(head -c 300 "$tmp/$name.err")"; fi
    fi
}
# float comparison: fcmp A OP B (OP is < or >)
fcmp() { awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN { exit !((op == "<") ? (a + 0 < b + 0) : (a + 0 > b + 0)) }'; }
# the binary is built with AddressSanitizer
asan=0
if grep -qa __asan_init "$NG" 2>/dev/null; then asan=1; fi
# hostile inputs: each one's row for docs/bad-inputs.md goes to $doc_rows (the script sets it);
# norm writes the temporary directory as $TMP and the script's dataset $ds as e2e_rel
norm() { sed -e "s#$tmp#\$TMP#g" -e "s#$ds#e2e_rel#g" -e 's#\.tmp\.[0-9]*#.tmp.PID#g' -e 's#|#\\|#g'; }
# hostile NAME "INPUT" "NAMES" "PHRASE" [doc=0] -- ARGS...: NAMES and PHRASE must both be in the message
hostile() {
    local name=$1 input=$2 names=$3 phrase=$4; shift 4
    local in_doc=1
    if [ "$1" = "doc=0" ]; then in_doc=0; shift; fi
    [ "$1" = "--" ] && shift
    timeout 20 "$NG" "$@" >"$tmp/h_$name.out" 2>"$tmp/h_$name.err"
    rc=$?
    # under ASan, its allocator warns (one line) before returning NULL for an impossible size
    if [ "$asan" -eq 1 ]; then sed -i '/^==[0-9]*==WARNING: AddressSanitizer failed to allocate/d' "$tmp/h_$name.err"; fi
    local msg lines
    msg=$(head -n 1 "$tmp/h_$name.err")
    lines=$(wc -l <"$tmp/h_$name.err")
    if [ "$rc" -eq 124 ]; then bad "$name: hangs (killed after 20 s)"
    elif [ "$rc" -ge 128 ]; then bad "$name: crashed with status $rc: $(tail -n 3 "$tmp/h_$name.err")"
    elif [ "$rc" -ne 1 ]; then bad "$name: exit status $rc, want 1: $msg"
    elif [ "$lines" -ne 1 ] || [ "${msg#nanogpt: }" = "$msg" ]; then bad "$name: want one 'nanogpt: ' line on stderr, got $lines: $(head -c 300 "$tmp/h_$name.err")"
    elif [ -n "$names" ] && [[ "$msg" != *"$names"* ]]; then bad "$name: the message does not name '$names': $msg"
    elif [[ "$msg" != *"$phrase"* ]]; then bad "$name: the message lacks '$phrase': $msg"
    else ok; fi
    local cmd="nanogpt $*"
    printf '%s\t%s\t| %s | `%s` | %s |\n' "$name" "$in_doc" "$input" "$(printf '%s' "$cmd" | norm)" "$(printf '%s' "$msg" | norm | sed 's/`/\\`/g')" >>"$doc_rows"
}

# check_doc_rows DOC: every row of $doc_rows marked for the doc is in DOC with the same message
# (numbers aside: sizes, offsets and pids depend on the run)
check_doc_rows() {
    local doc=$1 missing=0 name in_doc row
    digits() { sed -e 's/[0-9][0-9]*/N/g'; }
    while IFS=$'\t' read -r name in_doc row; do
        [ "$in_doc" = 1 ] || continue
        if ! digits <"$doc" | grep -qxF -- "$(printf '%s' "$row" | digits)"; then
            missing=$((missing + 1)); echo "  not in $doc (or its message changed): $row" >&2
        fi
    done <"$doc_rows"
    check "$doc lists every bad input with its current message ($missing differ; regenerate with NG_WRITE_DOC=1)" test "$missing" -eq 0
}
