# SPDX-License-Identifier: MIT
# What the tests/t_*_common.sh files share; sourced, not run (the file is
# deliberately not executable, so tests/run.sh skips it).
#
# Provides: $SVCID_SRC, $PY (Debian's python3), skip/fail/ok (a caller may
# define its own fail after sourcing), SSA_ENV (the -E options that carry
# the sanitizer and loader variables through systemd-socket-activate, which
# scrubs everything but TERM PATH USER HOME), and test_tmpdir.

: "${SVCID_BUILD:?SVCID_BUILD must name the build directory}"
: "${SVCID_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export SVCID_SRC   # tests/interop/testkeys.py, imported by the tests' Python
umask 022          # as tests/run.sh: files svcid reads must not be group-writable
PY=/usr/bin/python3

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

SSA_ENV=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS LD_LIBRARY_PATH; do
        [ -n "${!v:-}" ] && SSA_ENV+=("-E" "$v=${!v}")
done

# test_tmpdir NAME: $T, a 0755 temp dir. On exit, the commands in
# EXTRA_CLEANUP run, every pid in BG_PIDS is killed and waited for, and $T
# is removed.
test_tmpdir() {
        T=$(mktemp -d "/tmp/svcid-$1-test.XXXXXX")
        chmod 755 "$T"
        BG_PIDS=()
        EXTRA_CLEANUP=()
        trap test_cleanup EXIT
}
test_cleanup() {
        local p c
        for c in "${EXTRA_CLEANUP[@]}"; do eval "$c" || true; done
        for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${BG_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
        rm -rf "$T"
}

# make from within make check: the outer make's job server is not ours.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$SVCID_SRC" --no-print-directory "$@"; }

# build_debs: the Debian packages in $DEB ($SVCID_SRC/build/deb), built
# with make deb unless they are newer than every source (tests that
# install them share one build). Needs $T for the log.
build_debs() {
        local c changes=
        DEB=$SVCID_SRC/build/deb
        for c in "$DEB"/svcid_*.changes; do
                [ -f "$c" ] && changes=$c
        done
        if [ -n "$changes" ] &&
           [ -z "$(find "$SVCID_SRC" \( -path "$SVCID_SRC/build" -o -path "$SVCID_SRC/.git" \) -prune -o \
                   -type f -newer "$changes" -print -quit)" ]; then
                echo "reusing $DEB (newer than every source)"
        else
                mk deb > "$T/deb.log" 2>&1 || { tail -n 40 "$T/deb.log"; fail "make deb failed"; }
        fi
}
