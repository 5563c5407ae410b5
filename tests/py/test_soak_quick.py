"""The 10-second soak (tests/soak/soak.py, `make soak-quick`) as part of the
suite: eight processes run mixed dispatches, cancels and reads on one WAL
database, then every reported outcome is reconciled with the database. Each
reconciliation rule of soak.py is one test here. `make soak` runs the same
for 60 seconds. VELT_SOAK_SECONDS changes the duration."""
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOAK = os.path.join(HERE, "..", "soak", "soak.py")
sys.path.insert(0, os.path.dirname(SOAK))
from soak import RULES  # noqa: E402

SECONDS = os.environ.get("VELT_SOAK_SECONDS", "10")


class SoakQuickTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        proc = subprocess.run([sys.executable, SOAK, "--seconds", SECONDS, "--workers", "8"],
                              capture_output=True, text=True, timeout=float(SECONDS) + 600)
        cls.returncode = proc.returncode
        cls.output = proc.stdout + proc.stderr
        cls.lines = proc.stdout.splitlines()

    def rule_line(self, rule):
        for i, line in enumerate(self.lines):
            if line in (f"ok - {rule}", f"FAIL - {rule}"):
                details = []
                for more in self.lines[i + 1:]:
                    if not more.startswith("    "):
                        break
                    details.append(more.strip())
                return line, details
        return None, []

    def test_soak_passes_and_exits_0(self):
        last = self.lines[-1] if self.lines else ""
        self.assertRegex(last, r"^\d+ passed, 0 failed$", self.output[-3000:])
        self.assertEqual(self.returncode, 0, self.output[-3000:])


def add_rule_tests():
    for rule in RULES:
        def case(self, rule=rule):
            line, details = self.rule_line(rule)
            self.assertIsNotNone(line, f"soak.py printed no line for rule {rule!r}:\n{self.output[-3000:]}")
            self.assertEqual(line, f"ok - {rule}", "\n".join(details))
        name = "test_" + re.sub(r"[^a-z0-9]+", "_", rule.lower()).strip("_")
        case.__name__ = name
        setattr(SoakQuickTest, name, case)


add_rule_tests()

if __name__ == "__main__":
    unittest.main()
