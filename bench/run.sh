#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs every benchmark — each $SVCID_BUILD/bench/bench_* program and each
# bench/b_*.sh script — with OpenSSL's raw primitive rate in the same run
# (`openssl speed`), and the ratio of libsvcid's full JWT verify/sign to it.
# Each `openssl speed` primitive runs right before the bench_sign_verify
# algs that rest on it; the verify goals are judged against OpenSSL's rate
# measured inside bench_sign_verify, interleaved with svcid's (see below).
# stdout carries only figures, one a line: BENCH <name> <value> <unit>.
# Notes, skips and goal checks go to stderr. A benchmark that fails makes
# the run fail (after the others have run); exit 77 from a script is a skip.
#
# bench/run.sh --report FILE runs nothing: it computes the ratios and goal
# checks again from the BENCH lines of an earlier run's output.
set -euo pipefail
report=""
case ${1:-} in
"") ;;
--report)
        report=${2:?bench/run.sh: --report needs the file of an earlier run}
        [ -r "$report" ] || { echo "bench/run.sh: cannot read $report" >&2; exit 2; }
        report=$(realpath -- "$report") ;;
*) echo "usage: bench/run.sh [--report FILE]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
: "${SVCID_BUILD:=$PWD/build}"
export SVCID_BUILD SVCID_SRC="$PWD"
: "${OPENSSL_SECONDS:=3}"

out=$(mktemp /tmp/svcid-bench.XXXXXX)
trap 'rm -f "$out"' EXIT
failed=()

benches=()
if [ -n "$report" ]; then
        grep -E '^BENCH ' "$report" >"$out" || true
else
        shopt -s nullglob
        benches=("$SVCID_BUILD"/bench/bench_* bench/b_*.sh)
        shopt -u nullglob
fi
run_one() {     # run_one NAME COMMAND...
        local name=$1 rc=0
        shift
        echo "bench: running $name" >&2
        "$@" >"$out.one" || rc=$?
        # Only well-formed figure lines reach stdout.
        grep -E '^BENCH [A-Za-z0-9_.:-]+ [-+0-9.eE]+ [^ ]+$' "$out.one" | tee -a "$out" || true
        grep -vE '^BENCH ' "$out.one" >&2 || true
        rm -f "$out.one"
        case $rc in
        0) ;;
        77) echo "bench: $name: skipped" >&2 ;;
        *) echo "bench: $name: FAILED (exit $rc)" >&2; failed+=("$name") ;;
        esac
}

# OpenSSL's raw rate (sign/s and verify/s are the last two columns of its
# table), then the svcid algs that rest on that primitive.
speed=""
sign_verify() {
        local b=$1 prim=$2
        shift 2
        echo "bench: running openssl speed -seconds $OPENSSL_SECONDS $prim" >&2
        speed+=$(openssl speed -seconds "$OPENSSL_SECONDS" "$prim" 2>/dev/null)$'\n' || {
                echo "bench: openssl speed $prim failed" >&2
                failed+=("openssl-speed-$prim")
        }
        run_one "$(basename "$b") $*" "$b" "$@"
}

for b in "${benches[@]}"; do
        [ -x "$b" ] || [[ $b == *.sh ]] || continue
        name=$(basename "$b")
        if [ "$name" = bench_sign_verify ]; then
                sign_verify "$b" ecdsap256 es256
                sign_verify "$b" ed25519 eddsa
                sign_verify "$b" rsa2048 rs256 ps256
                sign_verify "$b" rsa3072 rs256_3072 ps256_3072
                run_one "$name claims_json" "$b" claims_json
        elif [[ $b == *.sh ]]; then
                run_one "$name" bash "$b"
        else
                run_one "$name" "$b"
        fi
done

figure() {      # figure NAME PATTERN COLUMN(1 = sign/s, 0 = verify/s)
        local v
        v=$(awk -v pat="$2" -v col="$3" '$0 ~ pat { print (col == 1 ? $(NF - 1) : $NF) }' <<<"$speed" | tail -n 1)
        if [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
                echo "BENCH $1 $v ops/s" | tee -a "$out"
        elif [ -n "$speed" ]; then
                echo "bench: no '$2' line in openssl speed output" >&2
                failed+=("openssl-$1")
        fi
}
figure openssl_sign_es256 'ecdsa \\(nistp256\\)' 1
figure openssl_verify_es256 'ecdsa \\(nistp256\\)' 0
figure openssl_sign_eddsa 'EdDSA \\(Ed25519\\)' 1
figure openssl_verify_eddsa 'EdDSA \\(Ed25519\\)' 0
figure openssl_sign_rsa2048 '^rsa 2048 bits' 1
figure openssl_verify_rsa2048 '^rsa 2048 bits' 0
figure openssl_sign_rsa3072 '^rsa 3072 bits' 1
figure openssl_verify_rsa3072 '^rsa 3072 bits' 0

# Ratios of a full svcid operation to the raw primitive it rests on.
# The verify goals are judged against OpenSSL's rate that bench_sign_verify
# measures interleaved with svcid's own loops (openssl_evp_verify_*: the
# calls `openssl speed` times, on the same input, in slices taken in turn),
# so that both see the same load; `openssl speed`, run on its own beside
# them, is the check that this reference agrees with OpenSSL's own tool
# (openssl_evp_verify_*_vs_openssl_speed; it has no RSA-PSS). Per CPU
# second (NAME_cpu), as `openssl speed` counts; the wall-clock figure only
# if a benchmark gives no _cpu line.
value() { awk -v n="$1" '$1 == "BENCH" && $2 == n { v = $3 } END { print v }' "$out"; }
ratio() {       # ratio OURS RAW GOAL [SUFFIX]
        local a b
        a=$(value "${1}_cpu")
        [ -n "$a" ] || a=$(value "$1")
        b=$(value "$2")
        [ -n "$a" ] && [ -n "$b" ] || return 0
        local r
        r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "0" }')
        echo "BENCH ${1}_vs_openssl${4:-} $r ratio"
        if [ -n "${3:-}" ]; then
                # The goal is judged on the exact ratio, not the rounded one.
                local exact
                exact=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }')
                if awk -v r="$exact" -v g="$3" 'BEGIN { exit !(r >= g) }'; then
                        echo "bench: $1 is ${exact}x $2 (goal >= $3): ok" >&2
                else
                        echo "bench: $1 is ${exact}x $2 (goal >= $3): BELOW GOAL" >&2
                fi
        fi
}
for alg in es256 eddsa rs256 ps256 rs256_3072 ps256_3072; do
        case $alg in es256 | eddsa) goal=0.9 ;; *) goal=0.8 ;; esac
        ratio "verify_$alg" "openssl_evp_verify_${alg}_cpu" "$goal"
        ratio "verify_raw_$alg" "openssl_evp_verify_${alg}_cpu"
done
ratio openssl_evp_verify_es256 openssl_verify_es256 "" _speed
ratio openssl_evp_verify_eddsa openssl_verify_eddsa "" _speed
ratio openssl_evp_verify_rs256 openssl_verify_rsa2048 "" _speed
ratio openssl_evp_verify_rs256_3072 openssl_verify_rsa3072 "" _speed
ratio sign_es256 openssl_sign_es256 "" _speed
ratio sign_eddsa openssl_sign_eddsa "" _speed
ratio sign_rs256 openssl_sign_rsa2048 "" _speed
ratio sign_ps256 openssl_sign_rsa2048 "" _speed
ratio sign_rs256_3072 openssl_sign_rsa3072 "" _speed
ratio sign_ps256_3072 openssl_sign_rsa3072 "" _speed

# The JWT layer's own cost: full svcid_verify() against the signature layer
# alone (svcid_key_verify_raw), both measured in the same process.
for alg in es256 eddsa rs256 ps256 rs256_3072 ps256_3072; do
        a=$(value "verify_${alg}_cpu")
        b=$(value "verify_raw_${alg}_cpu")
        [ -n "$a" ] && [ -n "$b" ] || continue
        awk -v n="verify_${alg}_vs_raw" -v a="$a" -v b="$b" \
                'BEGIN { if (b > 0) printf "BENCH %s %.2f ratio\n", n, a / b }'
done

if [ ${#failed[@]} -gt 0 ]; then
        echo "bench: FAILED: ${failed[*]}" >&2
        exit 1
fi
