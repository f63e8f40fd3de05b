#!/usr/bin/env bash
# e2e_mpi.sh -- training over MPI ranks (mpirun): 2 ranks x 1 micro-step against 1 process x 2
# micro-steps on the same batches, zero_stage=1 against zero_stage=0, the exchange overlapped with
# the backward (ddp_overlap) against the one after it, ranks bitwise identical,
# exact resume and resume across world sizes, start-up disagreements, SIGTERM and SIGINT to mpirun, and
# two hosts (two network namespaces joined by a veth pair, TCP between them): the log against
# the single-host run, then kill -9 of one rank. Tiny models, a few iterations each.
# Skipped (with a line saying so) when the binary was built without MPI or mpirun is missing.
set -u
cd "$(dirname "$0")/.."
source tests/lib_e2e.sh

skip() { echo "$E2E_NAME: SKIPPED: $*"; echo "$E2E_NAME: 0 passed, 0 failed (skipped)"; exit 0; }
"$NG" help | grep -q '(MPI: ' || skip "$NG was built without MPI (install libopenmpi-dev and run make, or make MPI=1)"
command -v mpirun >/dev/null || skip "no mpirun (apt-get install openmpi-bin)"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export TMPDIR=$tmp                     # Open MPI's session files, removed with $tmp
NGA=$(cd "$(dirname "$NG")" && pwd)/$(basename "$NG")
MPIRUN=(mpirun --bind-to none --oversubscribe)
ds=mpi_$$
e2e_cleanup() { rm -rf "data/$ds"; declare -F netns_cleanup >/dev/null && netns_cleanup; }
head -c 60000 data/shakespeare_char/input.txt >"$tmp/input.txt"
"$NG" prepare --dataset=$ds --input="$tmp/input.txt" >/dev/null || { bad "prepare"; finish; }
M=(--dataset=$ds --n_layer=2 --n_head=2 --n_embd=32 --block_size=16 --batch_size=4 --eval_iters=2
   --learning_rate=1e-3 --warmup_iters=2 --lr_decay_iters=20 --min_lr=1e-4 --dropout=0.1 --threads=1)

# mpi NAME NP ARGS...: `mpirun -np NP $NG train ARGS`, like run()
mpi() {
    local name=$1 np=$2; shift 2
    timeout 120 "${MPIRUN[@]}" -np "$np" "$NGA" train "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
    rc=$?
}
# the model's parameters as text, one float a line (llm.c's file: 1024-byte header, then floats)
params() { "$NG" export --out_dir="$1" --format=llmc "$1/model.bin" >/dev/null 2>&1 && tail -c +1025 "$1/model.bin" | od -An -v -f -w4; }
# close_params DIR1 DIR2: max |a - b| <= 1e-6 * max |a| over every parameter
close_params() {
    paste <(params "$1") <(params "$2") | awk '{ d = $1 - $2; if (d < 0) d = -d; a = $1 < 0 ? -$1 : $1; if (d > md) md = d; if (a > ma) ma = a; n++ }
        END { if (n < 1000 || md > 1e-6 * ma) { printf "%d parameters, max diff %g, max |p| %g\n", n, md, ma; exit 1 } }'
}
# close_logs FILE1 FILE2: the same lines with every loss, train/val loss and gradient norm within
# 1e-6 relative (plus half a unit of the 6 printed decimals)
close_logs() {
    paste -d'\n' <(grep -o '"[a-z_]*loss": [0-9.e+-]*\|"grad_norm": [0-9.e+-]*' "$1") <(grep -o '"[a-z_]*loss": [0-9.e+-]*\|"grad_norm": [0-9.e+-]*' "$2") |
        awk 'NR % 2 { k = $1; a = $2; next } { if ($1 != k) { print "key " k " vs " $1; bad = 1 } d = a - $2; if (d < 0) d = -d;
             if (d > 1e-6 * (a < 0 ? -a : a) + 5e-7) { print k " " a " vs " $2; bad = 1 } n++ } END { exit bad || n < 5 }'
}
same_count() { [ -f "$1" ] && [ -f "$2" ] && [ "$(grep -c . "$1")" -eq "$(grep -c . "$2")" ]; }

# ---- equivalence: 1 process x 2 micro-steps == 2 ranks x 1 micro-step on the same batches
run one train "${M[@]}" --gradient_accumulation_steps=2 --max_iters=6 --eval_interval=3 --out_dir="$tmp/one"
expect_ok one
export NANOGPT_TEST_SHARED_BATCHES=1
mpi two 2 "${M[@]}" --gradient_accumulation_steps=2 --max_iters=6 --eval_interval=3 --out_dir="$tmp/two" --ddp_overlap=False
expect_ok two
check "2 ranks x 1 micro-step: same log lines as 1 process x 2" same_count "$tmp/one/log.jsonl" "$tmp/two/log.jsonl"
check "2 ranks x 1 micro-step: losses within 1e-6 of 1 process x 2" close_logs "$tmp/one/log.jsonl" "$tmp/two/log.jsonl"
check "2 ranks x 1 micro-step: parameters within 1e-6 of 1 process x 2" close_params "$tmp/one" "$tmp/two"
check "2 ranks: parameters bitwise identical on both ranks" grep -q '^parameters bitwise identical on 2 ranks' "$tmp/two.out"
check "2 ranks: only rank 0 prints" test "$(grep -c '^step 6:' "$tmp/two.out")" -eq 1

# ---- ZeRO-1 == ZeRO-0
mpi zero1 2 "${M[@]}" --gradient_accumulation_steps=2 --max_iters=6 --eval_interval=3 --out_dir="$tmp/zero1" --zero_stage=1
expect_ok zero1
check "zero_stage=1: losses within 1e-6 of zero_stage=0" close_logs "$tmp/two/log.jsonl" "$tmp/zero1/log.jsonl"
check "zero_stage=1: parameters within 1e-6 of zero_stage=0" close_params "$tmp/two" "$tmp/zero1"
check "zero_stage=1: parameters bitwise identical on both ranks" grep -q '^parameters bitwise identical on 2 ranks' "$tmp/zero1.out"

# ---- the exchange overlapped with the backward (ddp_overlap): the results of the exchange after it
mpi ovl 2 "${M[@]}" --gradient_accumulation_steps=2 --max_iters=6 --eval_interval=3 --out_dir="$tmp/ovl" --ddp_overlap=True
expect_ok ovl
check "ddp_overlap: losses within 1e-6 of the exchange after the backward" close_logs "$tmp/two/log.jsonl" "$tmp/ovl/log.jsonl"
check "ddp_overlap: parameters within 1e-6 of the exchange after the backward" close_params "$tmp/two" "$tmp/ovl"
check "ddp_overlap: parameters bitwise identical on both ranks" grep -q '^parameters bitwise identical on 2 ranks' "$tmp/ovl.out"
# 3 ranks with ZeRO-1: the segments (head, each block, embeddings) cut across the ranks' shards
run one3 train "${M[@]}" --gradient_accumulation_steps=3 --max_iters=6 --eval_interval=3 --out_dir="$tmp/one3"
expect_ok one3
mpi ovl3 3 "${M[@]}" --gradient_accumulation_steps=3 --max_iters=6 --eval_interval=3 --out_dir="$tmp/ovl3" --zero_stage=1 --ddp_overlap=True
expect_ok ovl3
check "3 ranks, zero_stage=1, ddp_overlap: losses within 1e-6 of 1 process x 3" close_logs "$tmp/one3/log.jsonl" "$tmp/ovl3/log.jsonl"
check "3 ranks, zero_stage=1, ddp_overlap: parameters within 1e-6 of 1 process x 3" close_params "$tmp/one3" "$tmp/ovl3"
check "3 ranks, zero_stage=1, ddp_overlap: parameters bitwise identical" grep -q '^parameters bitwise identical on 3 ranks' "$tmp/ovl3.out"
unset NANOGPT_TEST_SHARED_BATCHES

# ---- every rank its own batches; resume bitwise exact with the same world size (ZeRO-1, dropout)
loss_lines() { grep '"loss"' "$1" | sed 's/"time_ms[^,]*, "mfu[^,]*, "tokens_per_sec[^,]*, //; s/, "comm_ms.*}/}/'; }
mpi straight 2 "${M[@]}" --gradient_accumulation_steps=4 --max_iters=8 --eval_interval=3 --out_dir="$tmp/straight" --zero_stage=1
expect_ok straight
mpi part1 2 "${M[@]}" --gradient_accumulation_steps=4 --max_iters=3 --eval_interval=3 --out_dir="$tmp/resumed" --zero_stage=1
mpi part2 2 "${M[@]}" --gradient_accumulation_steps=4 --max_iters=8 --eval_interval=3 --out_dir="$tmp/resumed" --zero_stage=1 --init_from=resume
expect_ok part2
check "own batches per rank: the loss differs from the shared-batches run" test "$(loss_lines "$tmp/straight/log.jsonl" | head -n 1)" != "$(loss_lines "$tmp/two/log.jsonl" | head -n 1)"
if [ "$(loss_lines "$tmp/straight/log.jsonl" | tail -n 5)" = "$(loss_lines "$tmp/resumed/log.jsonl" | tail -n 5)" ]; then ok
else bad "2-rank resume is not bitwise exact"; diff <(loss_lines "$tmp/straight/log.jsonl") <(loss_lines "$tmp/resumed/log.jsonl") >&2; fi
cmp -s <(params "$tmp/straight") <(params "$tmp/resumed") && ok || bad "2-rank resume: final parameters differ"
# a checkpoint of 2 ranks resumes on 1 process and on 3 ranks, one of 1 process on 2 ranks
cp -r "$tmp/resumed" "$tmp/r1"; cp -r "$tmp/resumed" "$tmp/r3"
run r1 train "${M[@]}" --gradient_accumulation_steps=4 --max_iters=10 --eval_interval=4 --out_dir="$tmp/r1" --init_from=resume
expect_ok r1
check "2-rank checkpoint resumed on 1 process" grep -q '^iter 10:' "$tmp/r1.out"
mpi r3 3 "${M[@]}" --gradient_accumulation_steps=6 --max_iters=10 --eval_interval=4 --out_dir="$tmp/r3" --init_from=resume
expect_ok r3
check "2-rank checkpoint resumed on 3 ranks" grep -q '^iter 10:' "$tmp/r3.out"
mpi one_on_2 2 "${M[@]}" --gradient_accumulation_steps=2 --max_iters=8 --eval_interval=3 --out_dir="$tmp/one" --init_from=resume
expect_ok one_on_2
check "1-process checkpoint resumed on 2 ranks" grep -q '^iter 8:' "$tmp/one_on_2.out"

# ---- start-up: ranks that disagree stop with one message
one_message() {   # NAME TEXT: exit non-zero, exactly one "nanogpt: " line, containing TEXT
    if [ "$rc" -eq 0 ]; then bad "$1: exit status 0"; show "$1"; return; fi
    local n
    n=$(grep -c '^nanogpt: ' "$tmp/$1.err")
    if [ "$n" -eq 1 ] && grep -q "$2" "$tmp/$1.err"; then ok; else bad "$1: want one 'nanogpt: ' line with '$2', got $n"; show "$1"; fi
}
mpi indivisible 2 "${M[@]}" --gradient_accumulation_steps=3 --max_iters=2 --out_dir="$tmp/x1"
one_message indivisible "gradient_accumulation_steps = 3 is not divisible by the 2 ranks"
timeout 60 "${MPIRUN[@]}" -np 1 "$NGA" train "${M[@]}" --batch_size=4 --out_dir="$tmp/x2" : -np 1 "$NGA" train "${M[@]}" --batch_size=8 --out_dir="$tmp/x2" \
    >"$tmp/disagree.out" 2>"$tmp/disagree.err" </dev/null; rc=$?
one_message disagree "ranks disagree: rank 1 has another value of config key batch_size"
timeout 60 "${MPIRUN[@]}" -np 1 "$NGA" train "${M[@]}" --out_dir="$tmp/x5" : -np 1 env NANOGPT_TEST_VERSION=other "$NGA" train "${M[@]}" --out_dir="$tmp/x5" \
    >"$tmp/version.out" 2>"$tmp/version.err" </dev/null; rc=$?
one_message version "ranks disagree: rank 1 runs another nanogpt build than rank 0"
# a second "host" whose data/ holds a shorter dataset of the same name
mkdir -p "$tmp/host2"
head -c 30000 "$tmp/input.txt" >"$tmp/input2.txt"
(cd "$tmp/host2" && "$NGA" prepare --dataset=$ds --input="$tmp/input2.txt" >/dev/null) || bad "prepare on the second host"
timeout 60 "${MPIRUN[@]}" -np 1 "$NGA" train "${M[@]}" --out_dir="$tmp/x3" : -np 1 -wdir "$tmp/host2" "$NGA" train "${M[@]}" --out_dir="$tmp/x3" \
    >"$tmp/datasize.out" 2>"$tmp/datasize.err" </dev/null; rc=$?
one_message datasize "ranks disagree: rank 1's data/$ds/train.bin has 27000 tokens"
rm -rf "$tmp/host2/data/$ds/train.bin"
timeout 60 "${MPIRUN[@]}" -np 1 "$NGA" train "${M[@]}" --out_dir="$tmp/x4" : -np 1 -wdir "$tmp/host2" "$NGA" train "${M[@]}" --out_dir="$tmp/x4" \
    >"$tmp/nodata.out" 2>"$tmp/nodata.err" </dev/null; rc=$?
one_message nodata "data/$ds/train.bin"
timeout 60 "${MPIRUN[@]}" -np 2 "$NGA" sample --out_dir="$tmp/two" >"$tmp/sample2.out" 2>"$tmp/sample2.err" </dev/null; rc=$?
one_message sample2 "sample runs as one process"

# ---- SIGTERM or SIGINT to mpirun: rank 0 saves once, every rank exits. Open MPI's mpirun ends
# the job itself: SIGCONT to every rank, SIGTERM odls_base_sigkill_timeout seconds later,
# SIGKILL as long after that, reading no rank's output meanwhile (rank 0 then prints no iter
# lines, or it blocks on the full pseudo-terminal). The ranks stop at the SIGTERM, so the step
# under way and the save must fit in that timeout: 3 s here, as the README recommends raising it.
SIGRUN=("${MPIRUN[@]}" --mca odls_base_sigkill_timeout 3 -np 2 "$NGA" train "${M[@]}" --gradient_accumulation_steps=2 --eval_interval=100000)
for sig in TERM INT; do
    "${SIGRUN[@]}" --max_iters=100000 --out_dir="$tmp/sig$sig" >"$tmp/sig$sig.out" 2>"$tmp/sig$sig.err" </dev/null &
    pid=$!
    for _ in $(seq 100); do grep -q '^iter 20:' "$tmp/sig$sig.out" 2>/dev/null && break; sleep 0.2; done
    kill -$sig $pid
    t0=$SECONDS
    wait $pid; rc=$?
    check "SIG$sig to mpirun: the job ends within 30 s" test $((SECONDS - t0)) -le 30   # about 2 x 3 s
    check "SIG$sig to mpirun: rank 0 saved once" test "$(grep -c '^terminated at iter' "$tmp/sig$sig.out")" -eq 1
    run sig${sig}_eval eval --out_dir="$tmp/sig$sig" --eval_iters=1
    expect_ok sig${sig}_eval
done
# a job suspended and resumed (SIGTSTP to mpirun stops the ranks, SIGCONT resumes them) goes on
"${SIGRUN[@]}" --max_iters=100000 --out_dir="$tmp/pause" >"$tmp/pause.out" 2>"$tmp/pause.err" </dev/null &
pid=$!
for _ in $(seq 100); do grep -q '^iter 20:' "$tmp/pause.out" 2>/dev/null && break; sleep 0.2; done
kill -TSTP $pid; sleep 1; kill -CONT $pid
n0=$(grep -c . "$tmp/pause/log.jsonl")
for _ in $(seq 150); do [ "$(grep -c . "$tmp/pause/log.jsonl")" -ge $((n0 + 50)) ] && break; sleep 0.2; done
check "SIGTSTP then SIGCONT to mpirun: 50 more iterations logged" test "$(grep -c . "$tmp/pause/log.jsonl")" -ge $((n0 + 50))
check "SIGTSTP then SIGCONT to mpirun: the job still runs, without a save" test "$(kill -0 $pid 2>/dev/null && grep -c '^terminated at iter' "$tmp/pause.out")" = 0
kill -TERM $pid
wait $pid
check "SIGTSTP, SIGCONT, then SIGTERM to mpirun: rank 0 saved once" test "$(grep -c '^terminated at iter' "$tmp/pause.out")" -eq 1

# ---- two hosts: network namespaces joined by a veth pair, one rank in each, TCP between them
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
    echo "$E2E_NAME: two-host test SKIPPED: needs root and ip (iproute2) for network namespaces"
    finish
fi
nsA=ng-a$$ nsB=ng-b$$ vA=ngva$$ vB=ngvb$$ net=10.231.$(($$ % 250)).
made=()
netns_cleanup() {
    local ns p
    for ns in "${made[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    made=()
}
if ! ip netns add $nsA 2>"$tmp/netns.err"; then
    echo "$E2E_NAME: two-host test SKIPPED: cannot create a network namespace: $(head -n 1 "$tmp/netns.err")"
    finish
fi
made+=("$nsA")
ip netns add $nsB && made+=("$nsB")
ip link add $vA type veth peer name $vB &&
ip link set $vA netns $nsA && ip link set $vB netns $nsB &&
ip -n $nsA addr add ${net}1/24 dev $vA && ip -n $nsB addr add ${net}2/24 dev $vB &&
ip -n $nsA link set lo up && ip -n $nsB link set lo up && ip -n $nsA link set $vA up && ip -n $nsB link set $vB up
# Open MPI starts its daemon on a "host" as AGENT [options] HOST COMMAND: here HOST is a
# namespace. The namespaces share the machine's host name and /tmp: each "host" gets its own
# TMPDIR, or their daemons' session directories (named after the host name) collide.
cat >"$tmp/netns-agent.sh" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case \$1 in -*) shift ;; *) break ;; esac; done
host=\$1; shift
mkdir -p "$tmp/host-\$host"
exec ip netns exec "\$host" env TMPDIR="$tmp/host-\$host" sh -c "\$*"
EOF
chmod +x "$tmp/netns-agent.sh"
TWO_HOSTS=(--host $nsA,$nsB --mca plm_rsh_agent "$tmp/netns-agent.sh" --mca btl tcp,self
           --mca btl_tcp_if_include ${net}0/24 --mca oob_tcp_if_include ${net}0/24
           --mca oob_tcp_keepalive_time 3 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3)
hosts() {   # NAME ARGS...: the 2-rank job across the two namespaces (mpirun inside the first)
    local name=$1; shift
    timeout 120 ip netns exec $nsA "${MPIRUN[@]}" -np 2 "${TWO_HOSTS[@]}" "$NGA" train "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
    rc=$?
}
mpi local2 2 "${M[@]}" --gradient_accumulation_steps=2 --max_iters=6 --eval_interval=3 --out_dir="$tmp/local2"
expect_ok local2
hosts hosts2 "${M[@]}" --gradient_accumulation_steps=2 --max_iters=6 --eval_interval=3 --out_dir="$tmp/hosts2"
expect_ok hosts2
[ "$rc" -eq 0 ] || cat "$tmp/hosts2.err" >&2
check "two hosts over TCP: same log lines as on one host" same_count "$tmp/local2/log.jsonl" "$tmp/hosts2/log.jsonl"
check "two hosts over TCP: losses within 1e-6 of one host" close_logs "$tmp/local2/log.jsonl" "$tmp/hosts2/log.jsonl"
check "two hosts over TCP: parameters within 1e-6 of one host" close_params "$tmp/local2" "$tmp/hosts2"
check "two hosts: parameters bitwise identical on both ranks" grep -q '^parameters bitwise identical on 2 ranks' "$tmp/hosts2.out"

# kill -9 of the rank on the second host: the job ends within 15 s, non-zero, checkpoint loadable
ip netns exec $nsA "${MPIRUN[@]}" -np 2 "${TWO_HOSTS[@]}" "$NGA" train "${M[@]}" --gradient_accumulation_steps=2 --max_iters=100000 \
    --eval_interval=5 --out_dir="$tmp/killed" >"$tmp/killed.out" 2>"$tmp/killed.err" </dev/null &
pid=$!
for _ in $(seq 150); do grep -q '^iter 12:' "$tmp/killed.out" 2>/dev/null && break; sleep 0.2; done
victim=
for p in $(ip netns pids $nsB); do [ "$(cat /proc/$p/comm 2>/dev/null)" = "$(basename "$NGA" | cut -c1-15)" ] && victim=$p; done
check "two hosts: found the rank in the second namespace" test -n "$victim"
[ -n "$victim" ] && kill -9 "$victim"
t0=$SECONDS
for _ in $(seq 200); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && { bad "kill -9 of one rank: the job still runs after 20 s"; kill -9 $pid; }
wait $pid; rc=$?
check "kill -9 of one rank: the job ended within 15 s" test $((SECONDS - t0)) -le 15
check "kill -9 of one rank: non-zero exit status ($rc)" test "$rc" -ne 0
run killed_eval eval --out_dir="$tmp/killed" --eval_iters=1
expect_ok killed_eval
netns_cleanup
check "the namespaces made here are gone" test -z "$(ip netns list | grep -E "^($nsA|$nsB)( |$)")"
finish
