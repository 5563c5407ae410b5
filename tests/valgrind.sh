#!/bin/sh
# make test-valgrind: the shell golden cases and the C tests under valgrind
# (memcheck, full leak check). Any valgrind report fails the run. Python is
# left to make test-asan: the interpreter itself keeps memory at exit.
cd "$(dirname "$0")/.." || exit 1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
VELT_RUNNER="valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect --log-file=$logs/vg.%p.log"
export VELT_RUNNER
sh tests/sql/run.sh
sql=$?
VELT_FAULT_STRIDE=${VELT_FAULT_STRIDE:-50} sh tests/c/run.sh
c=$?
reports=0
for f in "$logs"/vg.*.log; do
    [ -s "$f" ] || continue
    reports=$((reports + 1))
    echo "valgrind report ($f):"
    head -40 "$f"
done
if [ "$reports" -eq 0 ] && [ "$sql" -eq 0 ] && [ "$c" -eq 0 ]; then
    echo "1 passed, 0 failed"
    exit 0
fi
echo "0 passed, 1 failed"
exit 1
