#!/bin/sh
# Golden tests through the sqlite3 shell: each tests/sql/NAME.sql runs on a
# fresh database file with the extension loaded; its output (stdout and
# stderr together) must equal tests/sql/NAME.expected. Inside a case, lines
# written as  SELECT 'what it checks', <condition>;  print "...|1" when the
# fact holds, so a failure shows up as a "|0" in the diff. The PRNG is seeded
# (.testctrl prng_seed) so that generated ids are the same on every run.
# UPDATE=1 sh tests/sql/run.sh rewrites the expected files (review the diff!).
cd "$(dirname "$0")/../.." || exit 1
ext=${VELT_EXTENSION:-./velt} # another build (make test-asan, test-valgrind)
run=${VELT_RUNNER:-}          # a wrapper such as valgrind
[ -n "${VELT_PRELOAD:-}" ] && run="env LD_PRELOAD=$VELT_PRELOAD $run"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
for sql in tests/sql/*.sql; do
    name=$(basename "$sql" .sql)
    expected="tests/sql/$name.expected"
    rm -f "$tmp"/case.db*
    $run sqlite3 "$tmp/case.db" -cmd ".testctrl prng_seed 7" -cmd ".load $ext" < "$sql" > "$tmp/out.txt" 2>&1
    if [ "${UPDATE:-0}" = 1 ]; then
        cp "$tmp/out.txt" "$expected"
    fi
    if [ -f "$expected" ] && diff -u "$expected" "$tmp/out.txt" > "$tmp/diff.txt"; then
        echo "ok - $name"
        pass=$((pass + 1))
    else
        echo "FAIL - $name"
        cat "$tmp/diff.txt" 2>/dev/null | head -40
        fail=$((fail + 1))
    fi
done
# The shell runs a whole admin script (the demo's) with -bail and exits 0.
rm -f "$tmp"/case.db*
if sed "s|^\.load \./velt|.load $ext|" sql/examples/admin_cancel.sql |
    $run sqlite3 -bail "$tmp/case.db" > "$tmp/out.txt" 2>&1; then
    echo "ok - the shell runs sql/examples/admin_cancel.sql and exits 0"
    pass=$((pass + 1))
else
    echo "FAIL - the shell exits $? on sql/examples/admin_cancel.sql"
    tail -5 "$tmp/out.txt"
    fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
