#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs each libFuzzer target given (default: every build/fuzz/fuzz_*) for
# $FUZZ_SECONDS seconds on a temporary copy of its seed corpus
# fuzz/corpus/<name>/ (empty if there is none), so the repository is never
# written to. Prints "fuzz: NAME: N runs, C crashes" per target and fails if
# any target crashed, leaked, timed out or ran out of memory; the inputs
# that did are kept in <target dir>/crashes/ for reproduction.
set -euo pipefail
# Targets are named relative to the caller's directory.
targets=()
for t in "$@"; do
        targets+=("$(realpath -m -- "$t")")
done
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-30}
case $seconds in
''|*[!0-9]*) echo "fuzz: FUZZ_SECONDS must be a positive integer, not '$seconds'" >&2; exit 2 ;;
esac
[ "$seconds" -gt 0 ] || { echo "fuzz: FUZZ_SECONDS must be > 0" >&2; exit 2; }

if [ ${#targets[@]} -eq 0 ]; then
        shopt -s nullglob
        targets=(build/fuzz/fuzz_*)
        shopt -u nullglob
fi
if [ ${#targets[@]} -eq 0 ]; then
        echo "fuzz: no targets (build them with 'make fuzz')" >&2
        exit 2
fi

work=$(mktemp -d /tmp/svcid-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

failed=()
for bin in "${targets[@]}"; do
        name=$(basename "$bin")
        if [ ! -x "$bin" ]; then
                echo "fuzz: $name: $bin is not an executable" >&2
                failed+=("$name")
                continue
        fi
        corpus=$work/$name/corpus
        artifacts=$work/$name/artifacts
        mkdir -p "$corpus" "$artifacts"
        seeds=0
        if [ -d "fuzz/corpus/$name" ]; then
                cp -r "fuzz/corpus/$name/." "$corpus/"
                seeds=$(find "$corpus" -type f | wc -l)
        fi
        log=$work/$name/log
        echo "fuzz: $name: ${seconds}s from $seeds seed inputs"
        rc=0
        # timeout(1) only guards against a hung target; libFuzzer stops
        # itself after -max_total_time.
        timeout --kill-after=30 $((seconds * 2 + 120)) "$bin" \
                -max_total_time="$seconds" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
                -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$artifacts/" \
                "$corpus" >"$log" 2>&1 || rc=$?

        runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)
        [ -n "$runs" ] || runs=0
        shopt -s nullglob
        found=("$artifacts"/*)
        shopt -u nullglob
        crashes=${#found[@]}
        if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
                crashes=1   # died without an artifact (e.g. killed): still a failure
        fi
        echo "fuzz: $name: $runs runs, $crashes crashes"
        if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
                failed+=("$name")
                keep=$(dirname "$bin")/crashes
                mkdir -p "$keep"
                for a in "${found[@]}"; do
                        cp "$a" "$keep/$name-$(basename "$a")"
                        echo "fuzz: $name: input kept: $keep/$name-$(basename "$a") (reproduce: $bin $keep/$name-$(basename "$a"))"
                done
                echo "fuzz: $name: exit $rc; end of its log:"
                grep -v '^#[0-9]' "$log" | tail -n 60 | sed 's/^/    /'
        fi
done

if [ ${#failed[@]} -gt 0 ]; then
        echo "fuzz: FAILED: ${failed[*]}"
        exit 1
fi
echo "fuzz: ${#targets[@]} targets, no crashes"
