#!/bin/sh
# Builds and runs the C tests: one against the loadable velt.so, one linked
# with libvelt.a through sqlite3_auto_extension.
cd "$(dirname "$0")/../.." || exit 1
mkdir -p build
flags="-std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g $(pkg-config --cflags sqlite3 libcjson)"
libs="$(pkg-config --libs sqlite3 libcjson) -lm"
${CC:-cc} $flags tests/c/test_close.c -o build/test_close_loadable $libs || { echo "0 passed, 1 failed"; exit 1; }
${CC:-cc} $flags -DVELT_TEST_STATIC -Iext tests/c/test_close.c libvelt.a -o build/test_close_static $libs || { echo "0 passed, 1 failed"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for t in build/test_close_loadable build/test_close_static; do
    out=$("./$t" "$tmp/$(basename $t).db" ./velt 2>&1)
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    pass=$((pass + p))
    fail=$((fail + f))
    if ! printf '%s\n' "$out" | grep -q '^done$'; then fail=$((fail + 1)); echo "FAIL - $t did not finish"; fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
