#!/bin/sh
# Builds and runs the C tests: one against the loadable velt.so, one linked
# with libvelt.a through sqlite3_auto_extension, and the fault-injection test
# (libvelt.a, a failing allocator and a failing VFS; see test_faults.c).
cd "$(dirname "$0")/../.." || exit 1
mkdir -p build
# make test-asan / test-valgrind / coverage pass another build and wrapper.
lib=${VELT_STATIC_LIB:-libvelt.a}
ext=${VELT_EXTENSION:-./velt}
run=${VELT_RUNNER:-}
flags="-std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g ${VELT_TEST_CFLAGS:-} $(pkg-config --cflags sqlite3 libcjson)"
libs="$(pkg-config --libs sqlite3 libcjson) -lm"
${CC:-cc} $flags tests/c/test_close.c -o build/test_close_loadable $libs || { echo "0 passed, 1 failed"; exit 1; }
${CC:-cc} $flags -DVELT_TEST_STATIC -Iext tests/c/test_close.c "$lib" -o build/test_close_static $libs || { echo "0 passed, 1 failed"; exit 1; }
${CC:-cc} $flags -DVELT_TEST_STATIC -Iext tests/c/test_faults.c "$lib" -o build/test_faults $libs || { echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for t in build/test_close_loadable build/test_close_static; do
    out=$($run "./$t" "$tmp/$(basename $t).db" "$ext" 2>&1)
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    pass=$((pass + p))
    fail=$((fail + f))
    if ! printf '%s\n' "$out" | grep -q '^done$'; then fail=$((fail + 1)); echo "FAIL - $t did not finish"; fi
done
# Every write, sync, truncate and allocation of a dispatch, a cancel step, a
# cancel execution and a definitions/create fails in turn (about a minute on
# two cores; VELT_FAULT_STRIDE=k samples every k-th point, for valgrind/ASan).
mkdir -p "$tmp/faults"
out=$($run ./build/test_faults "$tmp/faults" 2>&1)
printf '%s\n' "$out"
pass=$((pass + $(printf '%s\n' "$out" | grep -c '^ok ')))
fail=$((fail + $(printf '%s\n' "$out" | grep -c '^FAIL ')))
if ! printf '%s\n' "$out" | grep -q '^done$'; then fail=$((fail + 1)); echo "FAIL - build/test_faults did not finish"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
