#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs every test: each cmocka binary in $SVCID_BUILD/tests and each
# tests/t_*.sh script. Exit 77 means skipped (with the reason printed).
# Prints one closing line: "check: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
: "${SVCID_BUILD:=$PWD/build}"
export SVCID_BUILD SVCID_SRC="$PWD"
# svcid refuses trust, map and policy files that group or others may
# write; the tests write theirs with the usual umask, whatever the
# caller's (t_common.sh and t_cli.sh say the same when run alone).
umask 022
pass=0 fail=0 skip=0 failed=()
only=${TESTS:-}
for t in "$SVCID_BUILD"/tests/test_* tests/t_*.sh; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        if [ -n "$only" ] && [[ " $only " != *" $name "* ]]; then continue; fi
        echo "=== $name"
        "$t"
        rc=$?
        case $rc in
        0) pass=$((pass + 1)); echo "=== $name: ok" ;;
        77) skip=$((skip + 1)); echo "=== $name: skipped" ;;
        *) fail=$((fail + 1)); failed+=("$name"); echo "=== $name: FAILED ($rc)" ;;
        esac
done
[ ${#failed[@]} -gt 0 ] && echo "failed: ${failed[*]}"
echo "check: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
