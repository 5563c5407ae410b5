"""The read-only virtual tables (SPEC 5.3): a statement that cancels the rows
it reads visits each row exactly once; xBestIndex pushes lookups down; writes
fail naming what to use instead."""
import json
import os
import re
import sqlite3
import tempfile
import unittest

from velt_helpers import TWO_REVIEWS, connect, DbTest, define, dispatch, unsynced

N_EXECUTIONS = 500


def seq_gaps(conn):
    """Executions whose seq values are not exactly 1..n."""
    return conn.execute(
        "SELECT execution_id, count(*), count(DISTINCT seq), min(seq), max(seq) FROM velt_events"
        " GROUP BY execution_id HAVING min(seq) <> 1 OR max(seq) <> count(*)"
        " OR count(DISTINCT seq) <> count(*)").fetchall()


class BulkCancelThroughVtabTest(unittest.TestCase):
    """SELECT velt_cancel_step(...) FROM velt_steps WHERE status = 'waiting'
    over 500 executions of TWO_REVIEWS, run once; each test checks one fact."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.conn = unsynced(connect(os.path.join(cls.dir.name, "bulk.db"), isolation_level=None))
        define(cls.conn, TWO_REVIEWS)
        cls.conn.execute("BEGIN")
        cls.exec_ids = [dispatch(cls.conn, "two-reviews") for _ in range(N_EXECUTIONS)]
        cls.conn.execute("COMMIT")
        (cls.waiting_before,) = cls.conn.execute(
            "SELECT count(*) FROM velt_steps WHERE status = 'waiting'").fetchone()
        (cls.events_before,) = cls.conn.execute("SELECT count(*) FROM velt_events").fetchone()
        cls.error, cls.rows = None, []
        cur = cls.conn.execute(
            "SELECT velt_cancel_step(execution_id, step_id, 'bulk', 'admin') FROM velt_steps"
            " WHERE status = 'waiting'")
        try:
            for row in cur:
                cls.rows.append(row)
        except sqlite3.Error as e:  # kept for test_bulk_cancel_raises_no_error
            cls.error = e

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.dir.cleanup()

    def test_bulk_cancel_raises_no_error(self):
        self.assertIsNone(self.error, f"the statement failed after {len(self.rows)} rows: {self.error!r}")

    def test_setup_has_1000_waiting_steps_to_cancel(self):
        self.assertEqual(self.waiting_before, 2 * N_EXECUTIONS)

    def test_bulk_cancel_returns_one_row_per_waiting_step(self):
        self.assertEqual(len(self.rows), 2 * N_EXECUTIONS)

    def test_bulk_cancel_results_are_all_distinct_successes(self):
        results = [json.loads(r[0]) for r in self.rows]
        self.assertTrue(all(r["cancelled"] is True for r in results))
        pairs = {(r["executionId"], r["stepId"]) for r in results}
        self.assertEqual(len(pairs), 2 * N_EXECUTIONS)
        self.assertEqual({p[0] for p in pairs}, set(self.exec_ids))

    def test_bulk_cancel_appends_one_step_cancelled_event_per_step(self):
        (n, distinct_steps) = self.conn.execute(
            "SELECT count(*), count(DISTINCT execution_id || ' ' || step_id) FROM velt_events"
            " WHERE type = 'step.cancelled'").fetchone()
        self.assertEqual((n, distinct_steps), (2 * N_EXECUTIONS, 2 * N_EXECUTIONS))

    def test_bulk_cancel_events_carry_actor_and_reason(self):
        rows = self.conn.execute(
            "SELECT DISTINCT actor_id, reason, data FROM velt_events WHERE type = 'step.cancelled'").fetchall()
        self.assertEqual([(a, r, json.loads(d)) for a, r, d in rows],
                         [("admin", "bulk", {"actorId": "admin", "reason": "bulk"})])

    def test_bulk_cancel_leaves_every_step_cancelled(self):
        statuses = self.conn.execute("SELECT status, count(*) FROM velt_steps GROUP BY status").fetchall()
        self.assertEqual(statuses, [("cancelled", 2 * N_EXECUTIONS)])

    def test_bulk_cancel_completes_every_execution(self):
        statuses = self.conn.execute("SELECT status, count(*) FROM velt_executions GROUP BY status").fetchall()
        self.assertEqual(statuses, [("completed", N_EXECUTIONS)])
        (n,) = self.conn.execute("SELECT count(*) FROM velt_events WHERE type = 'execution.completed'").fetchone()
        self.assertEqual(n, N_EXECUTIONS)

    def test_bulk_cancel_appends_exactly_the_expected_events(self):
        (after,) = self.conn.execute("SELECT count(*) FROM velt_events").fetchone()
        self.assertEqual(after - self.events_before, 3 * N_EXECUTIONS)

    def test_bulk_cancel_keeps_seq_contiguous_per_execution(self):
        self.assertEqual(seq_gaps(self.conn), [])

    def test_bulk_cancel_ends_each_execution_with_execution_completed(self):
        rows = self.conn.execute(
            "SELECT e.type, count(*) FROM velt_events e"
            " WHERE e.seq = (SELECT max(seq) FROM velt_events x WHERE x.execution_id = e.execution_id)"
            " GROUP BY e.type").fetchall()
        self.assertEqual(rows, [("execution.completed", N_EXECUTIONS)])

    def test_bulk_cancel_again_returns_no_row(self):
        again = self.conn.execute(
            "SELECT velt_cancel_step(execution_id, step_id, 'bulk', 'admin') FROM velt_steps"
            " WHERE status = 'waiting'").fetchall()
        self.assertEqual(again, [])


class BulkCancelInsideTransactionTest(DbTest):
    def test_bulk_cancel_inside_begin_commit_visits_each_row_once(self):
        define(self.conn, TWO_REVIEWS)
        self.conn.isolation_level = None
        self.conn.execute("BEGIN")
        for _ in range(50):
            dispatch(self.conn, "two-reviews")
        rows = self.conn.execute(
            "SELECT velt_cancel_step(execution_id, step_id, NULL, 'admin') FROM velt_steps"
            " WHERE status = 'waiting'").fetchall()
        self.conn.execute("COMMIT")
        self.assertEqual(len(rows), 100)
        (n,) = self.conn.execute("SELECT count(*) FROM velt_events WHERE type = 'step.cancelled'").fetchone()
        self.assertEqual(n, 100)
        self.assertEqual(seq_gaps(self.conn), [])

    def test_bulk_cancel_by_node_visits_each_row_once(self):
        define(self.conn, TWO_REVIEWS)
        ids = [dispatch(self.conn, "two-reviews") for _ in range(20)]
        rows = self.conn.execute(
            "SELECT velt_cancel_step(execution_id, step_id, NULL, 'admin') FROM velt_steps"
            " WHERE node_id = 'legal' AND status = 'waiting'").fetchall()
        self.assertEqual(len(rows), 20)
        statuses = self.conn.execute(
            "SELECT node_id, status, count(*) FROM velt_steps GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        self.assertEqual(statuses, [("brand", "waiting", 20), ("legal", "cancelled", 20)])
        self.assertEqual({r[0] for r in self.conn.execute("SELECT status FROM velt_executions")}, {"running"})
        self.assertEqual(len(ids), 20)


class QueryPlanTest(DbTest):
    def plan(self, sql, params=()):
        return [r[3] for r in self.conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]

    def test_steps_lookup_by_execution_id_is_pushed_down(self):
        plan = self.plan("SELECT * FROM velt_steps WHERE execution_id = ?", ("x",))
        self.assertTrue(any(re.search(r"velt_steps VIRTUAL TABLE INDEX \d+:.*execution_id", d) for d in plan), plan)

    def test_events_lookup_by_execution_id_is_pushed_down(self):
        plan = self.plan("SELECT * FROM velt_events WHERE execution_id = ? ORDER BY seq", ("x",))
        self.assertTrue(any(re.search(r"velt_events VIRTUAL TABLE INDEX \d+:.*execution_id", d) for d in plan), plan)

    def test_events_order_by_seq_is_consumed(self):
        plan = self.plan("SELECT * FROM velt_events WHERE execution_id = ? ORDER BY seq", ("x",))
        self.assertFalse(any("TEMP B-TREE" in d for d in plan), plan)

    def test_events_seq_range_is_pushed_down(self):
        plan = self.plan("SELECT * FROM velt_events WHERE execution_id = ? AND seq > ? ORDER BY seq", ("x", 3))
        self.assertTrue(any(re.search(r"VIRTUAL TABLE INDEX \d+:.*seq", d) for d in plan), plan)
        self.assertFalse(any("TEMP B-TREE" in d for d in plan), plan)

    def test_steps_lookup_by_status_is_pushed_down(self):
        plan = self.plan("SELECT * FROM velt_steps WHERE status = 'waiting'")
        self.assertTrue(any(re.search(r"VIRTUAL TABLE INDEX \d+:.*status", d) for d in plan), plan)

    def test_executions_lookup_by_execution_id_is_pushed_down(self):
        plan = self.plan("SELECT * FROM velt_executions WHERE execution_id = ?", ("x",))
        self.assertTrue(any(re.search(r"VIRTUAL TABLE INDEX \d+:.*execution_id", d) for d in plan), plan)

    def test_pushed_down_lookup_returns_only_matching_rows(self):
        define(self.conn, TWO_REVIEWS)
        a = dispatch(self.conn, "two-reviews")
        dispatch(self.conn, "two-reviews")
        rows = self.conn.execute("SELECT DISTINCT execution_id FROM velt_steps WHERE execution_id = ?",
                                 (a,)).fetchall()
        self.assertEqual(rows, [(a,)])
        seqs = [r[0] for r in self.conn.execute(
            "SELECT seq FROM velt_events WHERE execution_id = ? AND seq > 2 ORDER BY seq", (a,))]
        self.assertEqual(seqs, list(range(3, 8)))


# name -> SQL; each statement would touch at least one row.
WRITES = {
    "velt_steps": {
        "insert": "INSERT INTO velt_steps(execution_id, step_id, node_id, node_type, status)"
                  " VALUES ('e', 's', 'n', 'human', 'waiting')",
        "update": "UPDATE velt_steps SET status = 'cancelled'",
        "delete": "DELETE FROM velt_steps",
    },
    "velt_events": {
        "insert": "INSERT INTO velt_events(execution_id, seq, event_id, type) VALUES ('e', 99, 'evt_x', 'step.cancelled')",
        "update": "UPDATE velt_events SET reason = 'x'",
        "delete": "DELETE FROM velt_events",
    },
    "velt_executions": {
        "insert": "INSERT INTO velt_executions(execution_id, definition_id, status) VALUES ('e', 'd', 'running')",
        "update": "UPDATE velt_executions SET status = 'cancelled'",
        "delete": "DELETE FROM velt_executions",
    },
    "velt_definitions": {
        "insert": "INSERT INTO velt_definitions(definition_id, name, version, status) VALUES ('dd', 'n', 1, 'active')",
        "update": "UPDATE velt_definitions SET name = 'x'",
        "delete": "DELETE FROM velt_definitions",
    },
}


class ReadOnlyVtabTest(DbTest):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)
        define(self.conn, TWO_REVIEWS)
        dispatch(self.conn, "two-reviews")

    def state(self):
        return {t: self.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in WRITES}


def _write_fails(table, sql):
    def test(self):
        before = self.state()
        with self.assertRaises(sqlite3.DatabaseError) as cm:
            self.conn.execute(sql)
        msg = str(cm.exception)
        self.assertRegex(msg, r"velt\w*\(", f"the message must name the function to use instead: {msg!r}")
        self.conn.rollback()
        self.assertEqual(self.state(), before)
    return test


for _table, _stmts in WRITES.items():
    for _op, _sql in _stmts.items():
        _name = f"test_{_op}_into_{_table}_fails_naming_what_to_use"
        _fn = _write_fails(_table, _sql)
        _fn.__name__ = _name
        setattr(ReadOnlyVtabTest, _name, _fn)


if __name__ == "__main__":
    unittest.main()
