"""Runs the Python tests (tests/py/test_*.py) through Debian's /usr/bin/python3,
whose sqlite3 module can load extensions. Prints one line per test and ends
with "N passed, N failed, N skipped"."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


class LineResult(unittest.TextTestResult):
    def addSuccess(self, test):
        super().addSuccess(test)
        print(f"ok - {test.id()}", flush=True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        print(f"FAIL - {test.id()}\n{self._exc_info_to_string(err, test)}", flush=True)

    def addError(self, test, err):
        super().addError(test, err)
        print(f"FAIL - {test.id()} (error)\n{self._exc_info_to_string(err, test)}", flush=True)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        print(f"skip - {test.id()}: {reason}", flush=True)


def main():
    suite = unittest.defaultTestLoader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    runner = unittest.TextTestRunner(stream=open(os.devnull, "w"), resultclass=LineResult, verbosity=0)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print(f"{passed} passed, {failed} failed, {len(result.skipped)} skipped")
    if result.testsRun == 0:
        print("no tests ran")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
