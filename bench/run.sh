#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs every benchmark — each $SVCID_BUILD/bench/bench_* program and each
# bench/b_*.sh script — then OpenSSL's raw primitive rate in the same run
# (`openssl speed`), and the ratio of libsvcid's full JWT verify/sign to it.
# stdout carries only figures, one a line: BENCH <name> <value> <unit>.
# Notes, skips and goal checks go to stderr. A benchmark that fails makes
# the run fail (after the others have run); exit 77 from a script is a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SVCID_BUILD:=$PWD/build}"
export SVCID_BUILD SVCID_SRC="$PWD"
: "${OPENSSL_SECONDS:=3}"

out=$(mktemp /tmp/svcid-bench.XXXXXX)
trap 'rm -f "$out"' EXIT
failed=()

shopt -s nullglob
benches=("$SVCID_BUILD"/bench/bench_* bench/b_*.sh)
shopt -u nullglob
for b in "${benches[@]}"; do
        [ -x "$b" ] || [[ $b == *.sh ]] || continue
        name=$(basename "$b")
        echo "bench: running $name" >&2
        rc=0
        if [[ $b == *.sh ]]; then
                bash "$b" >"$out.one" || rc=$?
        else
                "$b" >"$out.one" || rc=$?
        fi
        # Only well-formed figure lines reach stdout.
        grep -E '^BENCH [A-Za-z0-9_.:-]+ [-+0-9.eE]+ [^ ]+$' "$out.one" | tee -a "$out" || true
        grep -vE '^BENCH ' "$out.one" >&2 || true
        rm -f "$out.one"
        case $rc in
        0) ;;
        77) echo "bench: $name: skipped" >&2 ;;
        *) echo "bench: $name: FAILED (exit $rc)" >&2; failed+=("$name") ;;
        esac
done

# OpenSSL's raw rate: sign/s and verify/s are the last two columns.
echo "bench: running openssl speed -seconds $OPENSSL_SECONDS ecdsap256 ed25519 rsa2048 rsa3072" >&2
speed=$(openssl speed -seconds "$OPENSSL_SECONDS" ecdsap256 ed25519 rsa2048 rsa3072 2>/dev/null) || {
        echo "bench: openssl speed failed" >&2
        failed+=("openssl-speed")
        speed=""
}
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
# `openssl speed` divides by user CPU time, so our per-CPU-second figure
# (NAME_cpu) is the one to compare; the wall-clock figure only if a
# benchmark gives no _cpu line. PS256 is compared with OpenSSL's rsa
# figure, which is PKCS#1 v1.5: the modular exponentiation dominates both,
# PSS adds an MGF1 pass and a salt.
value() { awk -v n="$1" '$1 == "BENCH" && $2 == n { v = $3 } END { print v }' "$out"; }
ratio() {       # ratio OURS RAW GOAL
        local a b
        a=$(value "${1}_cpu")
        [ -n "$a" ] || a=$(value "$1")
        b=$(value "$2")
        [ -n "$a" ] && [ -n "$b" ] || return 0
        local r
        r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "0" }')
        echo "BENCH ${1}_vs_openssl $r ratio"
        if [ -n "${3:-}" ]; then
                if awk -v r="$r" -v g="$3" 'BEGIN { exit !(r >= g) }'; then
                        echo "bench: $1 is ${r}x $2 (goal >= $3): ok" >&2
                else
                        echo "bench: $1 is ${r}x $2 (goal >= $3): BELOW GOAL" >&2
                fi
        fi
}
ratio verify_es256 openssl_verify_es256 0.9
ratio verify_eddsa openssl_verify_eddsa 0.9
ratio verify_rs256 openssl_verify_rsa2048 0.8
ratio verify_ps256 openssl_verify_rsa2048 0.8
ratio verify_rs256_3072 openssl_verify_rsa3072 0.8
ratio verify_ps256_3072 openssl_verify_rsa3072 0.8
ratio verify_raw_es256 openssl_verify_es256
ratio verify_raw_eddsa openssl_verify_eddsa
ratio verify_raw_rs256 openssl_verify_rsa2048
ratio verify_raw_ps256 openssl_verify_rsa2048
ratio sign_es256 openssl_sign_es256
ratio sign_eddsa openssl_sign_eddsa
ratio sign_rs256 openssl_sign_rsa2048
ratio sign_ps256 openssl_sign_rsa2048
ratio sign_rs256_3072 openssl_sign_rsa3072
ratio sign_ps256_3072 openssl_sign_rsa3072

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
