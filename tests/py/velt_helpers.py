"""Shared helpers for the Python tests: a real database file, the real
extension (../../velt.so), and a small approval definition."""
import json
import os
import sqlite3
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# VELT_EXTENSION selects another build (make test-asan uses it).
EXTENSION = os.path.abspath(os.environ.get("VELT_EXTENSION", os.path.join(ROOT, "velt")))

# Two parallel reviews; each routes a rejection to a notification step.
TWO_REVIEWS = {
    "definitionId": "two-reviews",
    "name": "Two reviews",
    "nodes": [
        {"nodeId": "legal", "type": "human",
         "config": {"reviewers": [{"userId": "u_legal", "mandatory": True}]}},
        {"nodeId": "brand", "type": "human",
         "config": {"reviewers": [{"userId": "u_brand", "mandatory": True}]}},
        {"nodeId": "escalate", "type": "notification",
         "config": {"channel": "email", "recipients": ["lead@example.com"],
                    "bodyTemplate": "Rejected: {{input.decision}}"}},
    ],
    "edges": [
        {"from": "legal", "to": "escalate", "on": "reject"},
        {"from": "brand", "to": "escalate", "on": "reject"},
    ],
}

# One review; the execution ends when its step ends.
ONE_REVIEW = {
    "definitionId": "one-review",
    "name": "One review",
    "nodes": [
        {"nodeId": "review", "type": "human",
         "config": {"reviewers": [{"userId": "u1", "mandatory": True}]}},
        {"nodeId": "publish", "type": "agent",
         "config": {"agentId": "__mock__", "url": "https://example.com"}},
        {"nodeId": "rework", "type": "agent",
         "config": {"agentId": "rework-agent", "urlPath": "documentUrl"}},
    ],
    "edges": [
        {"from": "review", "to": "publish", "on": "approve"},
        {"from": "review", "to": "rework", "on": "reject"},
    ],
}


def connect(path, **kw):
    """A connection to a database file with velt loaded."""
    conn = sqlite3.connect(path, **kw)
    conn.enable_load_extension(True)
    conn.load_extension(EXTENSION)
    conn.enable_load_extension(False)
    return conn


def velt(conn, path, data):
    """Calls velt(path, data) and returns the decoded result object."""
    (text,) = conn.execute("SELECT velt(?, ?)", (path, json.dumps(data))).fetchone()
    return json.loads(text)


def define(conn, definition):
    return velt(conn, "definitions/create", definition)


def dispatch(conn, definition_id, **extra):
    return velt(conn, "executions/dispatch", {"definitionId": definition_id, **extra})["executionId"]


def waiting_steps(conn, execution_id):
    return [r[0] for r in conn.execute(
        "SELECT step_id FROM velt_steps WHERE execution_id = ? AND status = 'waiting' ORDER BY step_id",
        (execution_id,))]


class DbTest(unittest.TestCase):
    """A fresh database file per test, opened with velt loaded as self.conn."""

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "test.db")
        self.conn = connect(self.path)

    def tearDown(self):
        self.conn.close()
        self.dir.cleanup()

    def snapshot(self, execution_id=None):
        """Everything a failed call must leave unchanged."""
        steps = self.conn.execute(
            "SELECT execution_id, step_id, status, output, completed_at FROM velt_steps ORDER BY 1, 2").fetchall()
        events = self.conn.execute("SELECT count(*) FROM velt_events").fetchone()[0]
        execs = self.conn.execute("SELECT execution_id, status FROM velt_executions ORDER BY 1").fetchall()
        return steps, events, execs


# ---- helpers added for the behaviour suites (test_*.py) ----------------------


# SQLite result codes the contract names (SPEC section 4).
SQLITE_ERROR = 1
SQLITE_CONSTRAINT_FUNCTION = 1043  # SQLITE_CONSTRAINT | (4<<8); 1811 would be ..._TRIGGER
SQLITE_READONLY = 8


def cancel(conn, execution_id, step_id, reason="test", actor_id="admin"):
    """Calls velt_cancel_step() and returns the decoded result object."""
    (text,) = conn.execute("SELECT velt_cancel_step(?, ?, ?, ?)",
                           (execution_id, step_id, reason, actor_id)).fetchone()
    return json.loads(text)


def velt_api(conn, path, body):
    """Calls velt_api(path, body) and returns the decoded response envelope.
    body is a dict (encoded here) or JSON text (passed as is)."""
    text = body if isinstance(body, str) else json.dumps(body)
    (out,) = conn.execute("SELECT velt_api(?, ?)", (path, text)).fetchone()
    return json.loads(out)


def events(conn, execution_id):
    """The execution's events, oldest first, as dicts (data decoded)."""
    rows = conn.execute(
        "SELECT seq, type, step_id, actor_id, reason, data, external FROM velt_events"
        " WHERE execution_id = ? ORDER BY seq", (execution_id,)).fetchall()
    return [{"seq": r[0], "type": r[1], "step_id": r[2], "actor_id": r[3], "reason": r[4],
             "data": json.loads(r[5]) if r[5] is not None else None, "external": r[6]}
            for r in rows]


def seqs(conn, execution_id):
    return [r[0] for r in conn.execute(
        "SELECT seq FROM velt_events WHERE execution_id = ? ORDER BY seq", (execution_id,))]


def step_row(conn, execution_id, step_id):
    """(status, completed_at) of one step, or None."""
    return conn.execute(
        "SELECT status, completed_at FROM velt_steps WHERE execution_id = ? AND step_id = ?",
        (execution_id, step_id)).fetchone()


def execution_status(conn, execution_id):
    row = conn.execute("SELECT status FROM velt_executions WHERE execution_id = ?",
                       (execution_id,)).fetchone()
    return row[0] if row else None


def plain_connect(path, **kw):
    """A connection to the same file WITHOUT the extension."""
    return sqlite3.connect(path, **kw)


def storage_dump(conn):
    """Every row of the storage tables, read with plain SQL (works with or
    without the extension loaded)."""
    out = {}
    for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_velt\\_%' ESCAPE '\\'"
            " ORDER BY name").fetchall():
        out[name] = conn.execute(f'SELECT * FROM "{name}" ORDER BY 1, 2').fetchall()
    return out


class VeltAssertions:
    """Assertions on raised velt errors (SPEC 4: "STATUS: detail" and the
    SQLite code of the status)."""

    _CLASS = {
        "INVALID_ARGUMENT": (sqlite3.OperationalError, SQLITE_ERROR),
        "NOT_FOUND": (sqlite3.OperationalError, SQLITE_ERROR),
        "FAILED_PRECONDITION": (sqlite3.IntegrityError, SQLITE_CONSTRAINT_FUNCTION),
        "ALREADY_EXISTS": (sqlite3.IntegrityError, SQLITE_CONSTRAINT_FUNCTION),
    }

    def assertVeltRaises(self, status, sql, params=(), conn=None, message=None):
        """Runs sql, expects it to raise status; returns the message.
        message, if given, is a regular expression the whole message must match."""
        conn = conn or self.conn
        exc_class, code = self._CLASS[status]
        try:
            row = conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            msg = str(e)
            self.assertIsInstance(e, exc_class, f"{status} must raise {exc_class.__name__}, got "
                                                f"{type(e).__name__}: {msg}")
            self.assertTrue(msg.startswith(status + ": "),
                            f"message must start with '{status}: ', got {msg!r}")
            if hasattr(e, "sqlite_errorcode"):
                self.assertEqual(e.sqlite_errorcode, code,
                                 f"{status} must carry SQLite code {code}, got {e.sqlite_errorcode} ({msg!r})")
            if message is not None:
                self.assertRegex(msg, "^" + message + "$")
            return msg
        self.fail(f"expected {status}, but the call returned {row!r}")

    def assertApiError(self, response, status):
        """A velt_api() error envelope with the given status; returns error."""
        self.assertEqual(set(response), {"error"}, f"expected an error envelope, got {response!r}")
        err = response["error"]
        self.assertEqual(set(err), {"message", "status", "details"}, err)
        self.assertEqual(err["status"], status, err)
        self.assertIsInstance(err["message"], str)
        self.assertIsInstance(err["details"], dict)
        return err


def unsynced(conn):
    """No fsync on this connection: the tests check transaction semantics,
    not crash durability, and fsync dominates their time on a busy disk."""
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def step_of(conn, execution_id, node_id):
    """The step id of node_id in an execution."""
    (sid,) = conn.execute("SELECT step_id FROM velt_steps WHERE execution_id = ? AND node_id = ?",
                          (execution_id, node_id)).fetchone()
    return sid


class TwoReviewsTest(DbTest):
    """A database holding one dispatched TWO_REVIEWS execution: self.exec_id,
    and its two waiting steps self.legal and self.brand."""

    def setUp(self):
        super().setUp()
        unsynced(self.conn)
        define(self.conn, TWO_REVIEWS)
        self.exec_id = dispatch(self.conn, "two-reviews")
        self.legal = step_of(self.conn, self.exec_id, "legal")
        self.brand = step_of(self.conn, self.exec_id, "brand")
