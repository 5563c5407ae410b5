"""The safety matrix (SPEC 2 "Loading writes nothing ... read-only database",
SPEC 4 "Safety flags", README "SQL surface"): in every connection setting
below, loading the extension succeeds, reads and writes behave as the SPEC
says, and no side-effecting velt function (velt_cancel_step, velt, velt_api,
velt_init, velt_set_clock) runs from a schema object of a hostile database:
a view, a trigger, a CHECK constraint, a DEFAULT expression, or a stored or
virtual generated column.

Settings (one test class each; every case is one test method):
  DEFENSIVE off/on x trusted_schema ON/OFF, a read-only database, and a
  connection that read the schema before it loaded the extension (the order
  an application gets when it queries the file first and loads velt later),
  plain and hardened (DEFENSIVE on, trusted_schema OFF).

How SQLITE_DBCONFIG_DEFENSIVE is set: Python 3.11's sqlite3 module has no
setconfig(). The two ways left are ctypes on the connection (which needs the
sqlite3* handle, read out of CPython's private pysqlite_Connection struct:
breaks silently if that layout changes, and sqlite3_db_config is variadic,
which ctypes only calls correctly on some ABIs), or the sqlite3 shell's
`.dbconfig defensive on`, a documented command of the same Debian libsqlite3
(the shell and Python's _sqlite3 both link /lib/.../libsqlite3.so.0). We use
the shell: every case runs one `sqlite3` process on its own copy of a
database file, with the setting applied by -cmd before or after
`.load ./velt`, and every run prints the setting it actually had (`.dbconfig
defensive`, `PRAGMA trusted_schema`), which the test checks, so a case can
never silently run in the wrong setting. What a case changed is then read
back from the file with a plain Python connection (no extension).

The hostile files are built the way an attacker would: views, triggers,
CHECK and DEFAULT objects with CREATE statements; generated columns (which
SQLite refuses to create around a non-deterministic function) by rewriting
sqlite_schema with PRAGMA writable_schema. Each object lives in its own file,
naming a real waiting step, so that if a function ran, the step would be
cancelled (or the connection clock moved to 5) and the test would see it."""
import os
import shutil
import subprocess
import tempfile
import unittest

from velt_helpers import (EXTENSION, ROOT, TWO_REVIEWS, connect, define, dispatch, plain_connect, step_of,
                          storage_dump)

SHELL = shutil.which("sqlite3")
FUNCTIONS = ("velt_cancel_step", "velt", "velt_api", "velt_init", "velt_set_clock")
OBJECTS = ("view", "trigger", "check", "default", "generated_stored", "generated_virtual")
READONLY_ERROR = "attempt to write a readonly database"
# SQLite refuses a non-deterministic function in a generated column before it
# looks at SQLITE_DIRECTONLY: that refusal also means the function never ran.
GENERATED_REFUSAL = "non-deterministic functions prohibited in generated columns"

TEMPLATES = None  # set by setUpModule


class Config:
    def __init__(self, defensive=False, trusted=True, readonly=False, schema_first=False):
        self.defensive, self.trusted, self.readonly, self.schema_first = defensive, trusted, readonly, schema_first

    def argv(self, db):
        args = [SHELL, "-batch"]
        if self.readonly:
            args.append("-readonly")
        args.append(db)
        if self.schema_first:
            args += ["-cmd", "SELECT count(*) FROM sqlite_schema;"]  # parses the schema now
        if self.defensive:
            args += ["-cmd", ".dbconfig defensive on"]
        if not self.trusted:
            args += ["-cmd", "PRAGMA trusted_schema = OFF;"]
        return args + ["-cmd", ".load " + EXTENSION]


PROBE = "\n.print probe\n.dbconfig defensive\nPRAGMA trusted_schema;\n"


def call_sql(fn, execution_id, step_id):
    """A call of fn that would have a visible effect if it ran."""
    data = '{"executionId":"%s","stepId":"%s","actorId":"attacker","reason":"hostile"}' % (execution_id, step_id)
    return {
        "velt_cancel_step": f"velt_cancel_step('{execution_id}', '{step_id}', 'hostile', 'attacker')",
        "velt": f"velt('steps/cancel', '{data}')",
        "velt_api": "velt_api('steps/cancel', '{\"data\":%s}')" % data,
        "velt_init": "velt_init()",
        "velt_set_clock": "velt_set_clock(5)",
    }[fn]


# The statement that makes the object run its expression.
TRIGGER_SQL = {
    "view": "SELECT * FROM hostile;",
    "trigger": "INSERT INTO hostile(x) VALUES (1);",
    "check": "INSERT INTO hostile(x) VALUES (1);",
    "default": "INSERT INTO hostile(x) VALUES (1);",
    "generated_stored": "INSERT INTO hostile(x) VALUES (1);",
    "generated_virtual": "SELECT y FROM hostile;",
}


def craft(path, obj, call):
    conn = connect(path, isolation_level=None)
    try:
        if obj == "view":
            conn.execute(f"CREATE VIEW hostile AS SELECT {call} AS r")
        elif obj == "trigger":
            conn.execute("CREATE TABLE hostile(x)")
            conn.execute(f"CREATE TRIGGER hostile_ai AFTER INSERT ON hostile BEGIN SELECT {call}; END")
        elif obj == "check":
            conn.execute(f"CREATE TABLE hostile(x, CHECK ({call} IS NOT NULL))")
        elif obj == "default":
            conn.execute(f"CREATE TABLE hostile(x, y DEFAULT ({call}))")
        else:
            kind = "STORED" if obj == "generated_stored" else "VIRTUAL"
            conn.execute(f"CREATE TABLE hostile(x, y AS (abs(x)) {kind})")
            if kind == "VIRTUAL":
                conn.execute("INSERT INTO hostile(x) VALUES (1)")
            conn.execute("PRAGMA writable_schema = ON")
            n = conn.execute("UPDATE sqlite_schema SET sql = replace(sql, 'abs(x)', ?) WHERE name = 'hostile'",
                             (call,)).rowcount
            conn.execute("PRAGMA writable_schema = OFF")
            assert n == 1
    finally:
        conn.close()


def plain_state(path):
    """Everything a refused or read-only call must leave unchanged."""
    conn = plain_connect(path)
    try:
        state = storage_dump(conn)
        has_hostile = conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'hostile'"
                                   " AND type = 'table'").fetchone()[0]
        state["hostile rows"] = conn.execute("SELECT count(*) FROM hostile").fetchone()[0] if has_hostile else None
        return state
    finally:
        conn.close()


def describe_change(before, after):
    """What differs between two plain_state() results, briefly."""
    out = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if isinstance(b, list) and isinstance(a, list):
            added = [r for r in a if r not in b]
            removed = [r for r in b if r not in a]
            out.append(f"{key}: +{[r[:5] for r in added][:3]} -{[r[:5] for r in removed][:3]}")
        else:
            out.append(f"{key}: {b!r} -> {a!r}")
    return out


def setUpModule():
    global TEMPLATES
    if SHELL is None:
        return
    d = tempfile.TemporaryDirectory()
    t = {"dir": d}
    base = os.path.join(d.name, "base.db")
    conn = connect(base)
    define(conn, TWO_REVIEWS)
    t["exec"] = dispatch(conn, "two-reviews")
    t["legal"] = step_of(conn, t["exec"], "legal")
    t["brand"] = step_of(conn, t["exec"], "brand")
    conn.commit()
    t["event_types"] = [r[0] for r in conn.execute(
        "SELECT type FROM velt_events WHERE execution_id = ? ORDER BY seq", (t["exec"],))]
    conn.close()
    t["base"] = base
    t["empty"] = os.path.join(d.name, "empty.db")
    open(t["empty"], "wb").close()
    for obj in OBJECTS:
        for fn in FUNCTIONS:
            path = os.path.join(d.name, f"hostile_{obj}_{fn}.db")
            shutil.copyfile(base, path)
            craft(path, obj, call_sql(fn, t["exec"], t["legal"]))
            t[(obj, fn)] = path
    with open(os.path.join(ROOT, "VERSION")) as f:
        t["version"] = f.read().strip()
    TEMPLATES = t


def tearDownModule():
    if TEMPLATES:
        TEMPLATES["dir"].cleanup()


@unittest.skipIf(SHELL is None, "the sqlite3 shell is not installed")
class MatrixBase(unittest.TestCase):
    config = Config()

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.t = TEMPLATES

    def tearDown(self):
        self.dir.cleanup()

    def copy(self, template):
        path = os.path.join(self.dir.name, "case.db")
        shutil.copyfile(template, path)
        return path

    def shell(self, db, script):
        """Runs script in the configured shell; returns (labelled rows, stderr).
        Lines printed by `SELECT 'label', ...` come back as {label: 'rest'}."""
        proc = subprocess.run(self.config.argv(db), input=script + PROBE, capture_output=True, text=True,
                              timeout=60, cwd=self.dir.name)
        out = proc.stdout.splitlines()
        self.assertIn("probe", out, f"the shell did not reach the probe: {proc.stdout!r} {proc.stderr!r}")
        probe = out[out.index("probe") + 1:]
        self.assertEqual(len(probe), 2, probe)
        self.assertEqual(probe[0].split(), ["defensive", "on" if self.config.defensive else "off"],
                         "the case ran with the wrong DEFENSIVE setting")
        self.assertEqual(probe[1], "1" if self.config.trusted else "0",
                         "the case ran with the wrong trusted_schema setting")
        rows = {}
        for line in out[:out.index("probe")]:
            label, _, rest = line.partition("|")
            rows[label] = rest
        return rows, proc.stderr

    # ---- loading --------------------------------------------------------------

    def test_load_succeeds_and_functions_answer(self):
        path = self.copy(self.t["base"])
        before = plain_state(path)
        rows, err = self.shell(path, "SELECT 'version', velt_version();\n")
        self.assertEqual(err, "")
        self.assertEqual(rows.get("version"), self.t["version"])
        self.assertEqual(plain_state(path), before, "loading and a pure call wrote something")

    # ---- reads ------------------------------------------------------------------

    def test_read_velt_steps(self):
        rows, err = self.shell(self.copy(self.t["base"]),
                               "SELECT 'steps', group_concat(node_id || '=' || status, ',') FROM (SELECT node_id,"
                               f" status FROM velt_steps WHERE execution_id = '{self.t['exec']}' ORDER BY node_id);\n")
        self.assertEqual(err, "")
        self.assertEqual(rows.get("steps"), "brand=waiting,legal=waiting")

    def test_read_velt_events(self):
        rows, err = self.shell(self.copy(self.t["base"]),
                               "SELECT 'events', group_concat(type, ',') FROM (SELECT type FROM velt_events"
                               f" WHERE execution_id = '{self.t['exec']}' ORDER BY seq);\n")
        self.assertEqual(err, "")
        self.assertEqual(rows.get("events"), ",".join(self.t["event_types"]))

    def test_read_executions_get(self):
        e = self.t["exec"]
        rows, err = self.shell(self.copy(self.t["base"]),
                               f"SELECT 'get', r ->> '$.executionId', r ->> '$.status', json_array_length(r, '$.steps')"
                               f" FROM (SELECT velt('executions/get', json_object('executionId', '{e}')) AS r);\n")
        self.assertEqual(err, "")
        self.assertEqual(rows.get("get"), f"{e}|running|2")

    def test_read_a_database_without_storage_sees_empty_tables(self):
        path = self.copy(self.t["empty"])
        rows, err = self.shell(path, "SELECT 'empty', (SELECT count(*) FROM velt_steps),"
                                     " (SELECT count(*) FROM velt_events), (SELECT count(*) FROM velt_executions);\n")
        self.assertEqual(err, "")
        self.assertEqual(rows.get("empty"), "0|0|0")
        self.assertEqual(plain_state(path), {"hostile rows": None}, "a read created storage")

    # ---- writes -----------------------------------------------------------------

    def expect_readonly_refusal(self, path, before, rows, err, label):
        self.assertIn(READONLY_ERROR, err)
        self.assertRegex(err, r"\(8\)", "SQLite's own code, SQLITE_READONLY (8)")
        self.assertNotIn(label, rows)
        self.assertEqual(plain_state(path), before)

    def test_write_velt_cancel_step(self):
        e, legal = self.t["exec"], self.t["legal"]
        path = self.copy(self.t["base"])
        before = plain_state(path)
        rows, err = self.shell(path, f"SELECT 'cancel', velt_cancel_step('{e}', '{legal}', 'matrix', 'admin_matrix')"
                                     " ->> '$.cancelled';\n")
        if self.config.readonly:
            return self.expect_readonly_refusal(path, before, rows, err, "cancel")
        self.assertEqual(err, "")
        self.assertEqual(rows.get("cancel"), "1")
        conn = plain_connect(path)
        try:
            steps = dict(conn.execute("SELECT step_id, status FROM _velt_steps WHERE execution_id = ?", (e,)))
            self.assertEqual(steps, {legal: "cancelled", self.t["brand"]: "waiting"})
            events = conn.execute("SELECT step_id, actor_id, reason FROM _velt_events WHERE execution_id = ?"
                                  " AND type = 'step.cancelled'", (e,)).fetchall()
            self.assertEqual(events, [(legal, "admin_matrix", "matrix")])
        finally:
            conn.close()

    def test_write_dispatch(self):
        path = self.copy(self.t["base"])
        before = plain_state(path)
        rows, err = self.shell(path, "SELECT 'dispatch', velt('executions/dispatch',"
                                     " json_object('definitionId', 'two-reviews')) ->> '$.executionId';\n")
        if self.config.readonly:
            return self.expect_readonly_refusal(path, before, rows, err, "dispatch")
        self.assertEqual(err, "")
        new = rows.get("dispatch", "")
        self.assertRegex(new, r"^exec_\d{13}_[a-z0-9]{8}$")
        conn = plain_connect(path)
        try:
            self.assertEqual(conn.execute("SELECT status FROM _velt_executions WHERE execution_id = ?",
                                          (new,)).fetchall(), [("running",)])
            self.assertEqual(conn.execute("SELECT count(*) FROM _velt_steps WHERE execution_id = ?"
                                          " AND status = 'waiting'", (new,)).fetchone()[0], 2)
        finally:
            conn.close()

    def test_write_velt_init_creates_the_storage(self):
        path = self.copy(self.t["empty"])
        before = plain_state(path)
        rows, err = self.shell(path, "SELECT 'init', velt_init();\n")
        if self.config.readonly:
            return self.expect_readonly_refusal(path, before, rows, err, "init")
        self.assertEqual(err, "")
        self.assertEqual(rows.get("init"), "1")
        tables = set(plain_state(path))
        self.assertLessEqual({"_velt_meta", "_velt_definitions", "_velt_executions", "_velt_steps", "_velt_events"},
                             tables)

    # ---- hostile schema objects ----------------------------------------------

    def run_hostile(self, obj, fn):
        """Uses the hostile object once; returns (state before, state after,
        labelled rows, stderr)."""
        path = self.copy(self.t[(obj, fn)])
        before = plain_state(path)
        rows, err = self.shell(path, TRIGGER_SQL[obj] + "\nSELECT 'clock', velt_now();\n")
        return before, plain_state(path), rows, err

    def check_refused(self, obj, fn):
        _, _, rows, err = self.run_hostile(obj, fn)
        # the statement that runs the object's expression fails ...
        self.assertRegex(err, r"^(Parse|Runtime) error near line 1: ",
                         f"the {obj} ran {fn}() without an error: {err!r} {rows!r}")
        first = err.splitlines()[0]
        # ... because SQLite refused to call the function from the schema
        # SQLite before 3.50 does not apply DIRECTONLY to CHECK constraints;
        # velt itself refuses to run inside a writing statement instead.
        refusals = [f"unsafe use of {fn}()", "cannot run inside a statement that writes"]
        if obj.startswith("generated"):
            refusals.append(GENERATED_REFUSAL)
        if self.config.readonly and TRIGGER_SQL[obj].startswith("INSERT"):
            # a read-only database refuses the INSERT before any row (and
            # so any CHECK or generated column) is evaluated
            refusals.append(READONLY_ERROR)
        self.assertTrue(any(r in first for r in refusals), f"{first!r} is none of {refusals}")

    def check_no_effect(self, obj, fn):
        before, after, rows, err = self.run_hostile(obj, fn)
        # nothing happened: the clock, the storage, the hostile table
        self.assertNotEqual(rows.get("clock"), "5", f"velt_set_clock(5) ran from the {obj} ({err!r})")
        self.assertEqual(describe_change(before, after), [],
                         f"the {obj} calling {fn}() changed the database ({err!r})")


def add_hostile_cases(cls):
    for obj in OBJECTS:
        for fn in FUNCTIONS:
            def refused(self, obj=obj, fn=fn):
                self.check_refused(obj, fn)

            def no_effect(self, obj=obj, fn=fn):
                self.check_no_effect(obj, fn)
            refused.__name__ = f"test_hostile_{obj}_calling_{fn}_is_refused"
            no_effect.__name__ = f"test_hostile_{obj}_calling_{fn}_has_no_effect"
            setattr(cls, refused.__name__, refused)
            setattr(cls, no_effect.__name__, no_effect)
    return cls


add_hostile_cases(MatrixBase)


class DefensiveOffTrustedSchemaOnTest(MatrixBase):
    config = Config(defensive=False, trusted=True)


class DefensiveOnTrustedSchemaOnTest(MatrixBase):
    config = Config(defensive=True, trusted=True)


class DefensiveOffTrustedSchemaOffTest(MatrixBase):
    config = Config(defensive=False, trusted=False)


class DefensiveOnTrustedSchemaOffTest(MatrixBase):
    config = Config(defensive=True, trusted=False)


class ReadOnlyDatabaseTest(MatrixBase):
    config = Config(readonly=True)


class SchemaReadBeforeLoadTest(MatrixBase):
    """The connection parsed the schema before velt was loaded."""
    config = Config(schema_first=True)


class HardenedSchemaReadBeforeLoadTest(MatrixBase):
    """The same, with DEFENSIVE on and trusted_schema OFF."""
    config = Config(defensive=True, trusted=False, schema_first=True)


del MatrixBase  # only the configured classes run


if __name__ == "__main__":
    unittest.main()
