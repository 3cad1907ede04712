#!/bin/bash
# SPDX-License-Identifier: MIT
# bench/run.sh's arithmetic, without running a benchmark: from made-up
# figures (bench/run.sh --report), each ratio line and each goal verdict,
# judged on the exact ratio. A maintainer reads these verdicts, not the
# raw rates; a slip in the awk there once marked every goal as missed.
set -euo pipefail
. "$(dirname "$0")/t_common.sh"
test_tmpdir bench-report

# ES256 just over its goal of 0.9 (0.9006); EdDSA just under it, though
# it rounds to 0.90 (0.8996); RS256 under 0.8 from the _cpu figure, which
# is the one compared, while the wall-clock figure alone would be over.
# Each against OpenSSL's rate measured beside it (openssl_evp_verify_*),
# not against `openssl speed`, which only checks that reference.
cat > "$T/figures" <<'FIG'
BENCH verify_es256 99999 ops/s
BENCH verify_es256_cpu 15010 ops/s
BENCH openssl_evp_verify_es256_cpu 16666 ops/s
BENCH openssl_verify_es256 16000.0 ops/s
BENCH verify_eddsa_cpu 10796 ops/s
BENCH openssl_evp_verify_eddsa_cpu 12001 ops/s
BENCH openssl_verify_eddsa 9000.0 ops/s
BENCH verify_rs256 60000 ops/s
BENCH verify_rs256_cpu 51943 ops/s
BENCH openssl_evp_verify_rs256_cpu 69449 ops/s
BENCH verify_raw_rs256_cpu 65954 ops/s
not a figure line
FIG

"$SVCID_SRC/bench/run.sh" --report "$T/figures" >"$T/out" 2>"$T/err" || fail "run.sh --report failed: $(cat "$T/err")"

expect_line() {         # expect_line FILE LINE
        grep -qxF -- "$2" "$1" || fail "no line '$2' in $(basename "$1"):"$'\n'"$(cat "$1")"
}
expect_line "$T/out" "BENCH verify_es256_vs_openssl 0.90 ratio"
expect_line "$T/out" "BENCH verify_eddsa_vs_openssl 0.90 ratio"
expect_line "$T/out" "BENCH verify_rs256_vs_openssl 0.75 ratio"
expect_line "$T/out" "BENCH verify_raw_rs256_vs_openssl 0.95 ratio"
expect_line "$T/out" "BENCH verify_rs256_vs_raw 0.79 ratio"
expect_line "$T/out" "BENCH openssl_evp_verify_es256_vs_openssl_speed 1.04 ratio"
expect_line "$T/out" "BENCH openssl_evp_verify_eddsa_vs_openssl_speed 1.33 ratio"
ok "ratio lines, from the _cpu figures"
expect_line "$T/err" "bench: verify_es256 is 0.9006x openssl_evp_verify_es256_cpu (goal >= 0.9): ok"
expect_line "$T/err" "bench: verify_eddsa is 0.8996x openssl_evp_verify_eddsa_cpu (goal >= 0.9): BELOW GOAL"
expect_line "$T/err" "bench: verify_rs256 is 0.7479x openssl_evp_verify_rs256_cpu (goal >= 0.8): BELOW GOAL"
[ "$(grep -c "goal" "$T/err")" = 3 ] || fail "goal verdicts other than the three verify ones:"$'\n'"$(cat "$T/err")"
ok "goals judged on the exact ratio, against the reference measured beside"
if grep -q "ps256" "$T/out" "$T/err"; then
        fail "a ratio was printed for figures the input does not have"
fi
ok "nothing printed for missing figures"

if "$SVCID_SRC/bench/run.sh" --report "$T/missing" 2>"$T/err"; then
        fail "--report of a missing file succeeded"
fi
expect_line "$T/err" "bench/run.sh: cannot read $T/missing"
ok "a missing file is a clear error"
echo "all bench report checks passed"
