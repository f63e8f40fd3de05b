#!/usr/bin/env bash
# mpi_allreduce.sh -- the gradient exchange's bandwidth between 2 ranks (build/bench_allreduce):
# over shared memory on this host, then over TCP between two network namespaces joined by a
# veth pair (two "hosts" on one machine, as tests/e2e_mpi.sh makes them; needs root and ip).
set -eu
cd "$(dirname "$0")/.."
make -s build/bench_allreduce
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
B=$PWD/build/bench_allreduce
echo "== shared memory (load average $(cut -d' ' -f1 /proc/loadavg))"
mpirun -np 2 --bind-to none "$B"
nsA=ngb-a$$ nsB=ngb-b$$ net=10.232.$(($$ % 250)).
agent=$(mktemp) tmpd=$(mktemp -d)
cleanup() { for ns in $nsA $nsB; do for p in $(ip netns pids $ns 2>/dev/null); do kill -9 $p; done; ip netns del $ns 2>/dev/null || true; done; rm -rf "$agent" "$tmpd"; }
trap cleanup EXIT
ip netns add $nsA; ip netns add $nsB
ip link add ngxa$$ type veth peer name ngxb$$
ip link set ngxa$$ netns $nsA; ip link set ngxb$$ netns $nsB
ip -n $nsA addr add ${net}1/24 dev ngxa$$; ip -n $nsB addr add ${net}2/24 dev ngxb$$
for ns in $nsA $nsB; do ip -n $ns link set lo up; done
ip -n $nsA link set ngxa$$ up; ip -n $nsB link set ngxb$$ up
# each "host" its own TMPDIR: the namespaces share the host name, and Open MPI names its
# session directories after it
printf '#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in -*) shift ;; *) break ;; esac; done\nhost=$1; shift\nmkdir -p "%s/$host"\nexec ip netns exec "$host" env TMPDIR="%s/$host" sh -c "$*"\n' "$tmpd" "$tmpd" >"$agent"
chmod +x "$agent"
echo "== TCP over a veth pair between two network namespaces (load average $(cut -d' ' -f1 /proc/loadavg))"
ip netns exec $nsA mpirun -np 2 --bind-to none --host $nsA,$nsB --mca plm_rsh_agent "$agent" --mca btl tcp,self \
    --mca btl_tcp_if_include ${net}0/24 --mca oob_tcp_if_include ${net}0/24 "$B"
