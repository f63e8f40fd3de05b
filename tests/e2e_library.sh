#!/usr/bin/env bash
# e2e_library.sh -- the library is safe to embed and keeps its layers:
#   - every symbol build/libnanogpt.a exports starts with ng_ (nothing collides in a host program)
#   - no library object calls exit, abort, _exit, _Exit or quick_exit
#   - layers (base < kernels < formats < model < persistence < app < cli): no file includes a
#     header of a higher layer, and no object uses an ng_ symbol defined in a higher layer
#     (include/nanogpt.h, the public header, anyone may include)
cd "$(dirname "$0")/.." || exit 1
. tests/lib_e2e.sh
LIB=${NANOGPT_LIB:-$(dirname "$NG")/build/libnanogpt.a}
[ -f "$LIB" ] || LIB=build/libnanogpt.a
layers="base kernels formats model persistence app cli"
declare -A RANK
i=0; for l in $layers; do RANK[$l]=$i; i=$((i + 1)); done

# --- exported names
others=$(nm -g --defined-only "$LIB" | awk 'NF == 3 { print $3 }' | grep -v '^ng_' | sort -u)
check "every exported symbol starts with ng_ (others: $(echo $others))" test -z "$others"
n_exported=$(nm -g --defined-only "$LIB" | awk 'NF == 3' | wc -l)
check "the library exports symbols at all ($n_exported)" test "$n_exported" -gt 100

# --- no way out of the host program
exits=$(nm -u "$LIB" | awk '{ print $2 }' | grep -xE 'exit|abort|_exit|_Exit|quick_exit' | sort -u)
check "no exit/abort in library code (found: $(echo $exits))" test -z "$exits"
undef=$(nm -u "$LIB" | wc -l)
check "nm -u lists the library's imports ($undef)" test "$undef" -gt 10

# --- includes: a file under src/LAYER includes only headers of LAYER or below
bad_inc=""
for f in src/*/*.c src/*/*.h; do
    from=${f#src/}; from=${from%%/*}; rf=${RANK[$from]:--1}
    while read -r hdr; do
        to=${hdr%%/*}; rt=${RANK[$to]:--1}
        if [ "$rt" -lt 0 ]; then bad_inc="$bad_inc $f:$hdr(unknown)"; continue; fi
        [ "$rt" -gt "$rf" ] && bad_inc="$bad_inc $f:$hdr"
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$f" | grep -v '^nanogpt.h$')
done
check "no file includes a header of a higher layer:$bad_inc" test -z "$bad_inc"
# the check itself: a base file including an app header would be caught
probe=$(mktemp -d)
mkdir -p "$probe/src/base"; printf '#include "app/run.h"\n' >"$probe/src/base/x.c"
hdr=$(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$probe/src/base/x.c"); to=${hdr%%/*}
check "the include check catches base -> app" test "${RANK[$to]}" -gt "${RANK[base]}"
rm -rf "$probe"

# --- symbols: an object of LAYER uses only ng_ symbols defined in LAYER or below (the
# archive's members are named by their source file: its folder under src/ is their layer)
declare -A layer_of defined_in
for f in src/*/*.c src/*/*.S; do b=${f##*/}; b=${b%.*}; l=${f#src/}; layer_of[$b.o]=${l%%/*}; done
while IFS=: read -r _ member line; do
    s=${line##* }; defined_in[$s]=${layer_of[$member]:-unknown}
done < <(nm -A -g --defined-only "$LIB" | awk 'NF == 3')
check "defined symbols mapped to layers (${#defined_in[@]})" test "${#defined_in[@]}" -gt 100
bad_sym=""
while IFS=: read -r _ member line; do
    s=${line##* }; from=${layer_of[$member]:-unknown}; d=${defined_in[$s]:-}
    case $s in ng_*) ;; *) continue ;; esac
    [ -n "$d" ] && [ "${RANK[$d]:-99}" -gt "${RANK[$from]:--1}" ] && bad_sym="$bad_sym $member:$s($d)"
done < <(nm -A -u "$LIB")
check "no object uses a symbol of a higher layer:$bad_sym" test -z "$bad_sym"
n_members=$(ar t "$LIB" | sort | uniq -d | wc -l)
check "archive member names are unique (their layer is known)" test "$n_members" -eq 0
finish
