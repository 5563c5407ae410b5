"""Atomicity and the caller's transaction (SPEC 4 "Atomicity"), and what
loading and reading do to a file (SPEC 2 "Loading writes nothing", 3)."""
import json
import os
import sqlite3
import unittest

from velt_helpers import (ONE_REVIEW, TWO_REVIEWS, cancel, connect, DbTest, define, dispatch,
                          events, execution_status, plain_connect, step_row, unsynced, velt,
                          VeltAssertions, TwoReviewsTest, step_of)

VTABS = ("velt_steps", "velt_events", "velt_executions", "velt_definitions")


def step_cancelled_count(conn, execution_id):
    (n,) = conn.execute("SELECT count(*) FROM velt_events WHERE execution_id = ? AND type = 'step.cancelled'",
                        (execution_id,)).fetchone()
    return n


class CallerTransactionTest(TwoReviewsTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        self.conn.isolation_level = None  # explicit BEGIN/COMMIT below

    def test_cancel_inside_begin_rollback_leaves_nothing(self):
        before = self.snapshot()
        self.conn.execute("BEGIN")
        cancel(self.conn, self.exec_id, self.legal)
        self.assertEqual(step_row(self.conn, self.exec_id, self.legal)[0], "cancelled")
        self.conn.execute("ROLLBACK")
        self.assertEqual(step_row(self.conn, self.exec_id, self.legal), ("waiting", None))
        self.assertEqual(step_cancelled_count(self.conn, self.exec_id), 0)
        self.assertEqual(self.snapshot(), before)

    def test_cancel_of_last_step_inside_rollback_leaves_execution_running(self):
        self.conn.execute("BEGIN")
        cancel(self.conn, self.exec_id, self.legal)
        cancel(self.conn, self.exec_id, self.brand)
        self.assertEqual(execution_status(self.conn, self.exec_id), "completed")
        self.conn.execute("ROLLBACK")
        self.assertEqual(execution_status(self.conn, self.exec_id), "running")
        self.assertNotIn("execution.completed", [e["type"] for e in events(self.conn, self.exec_id)])

    def test_cancel_inside_begin_commit_persists(self):
        self.conn.execute("BEGIN")
        cancel(self.conn, self.exec_id, self.legal, "why", "admin_jane")
        self.conn.execute("COMMIT")
        other = connect(self.path)
        try:
            self.assertEqual(step_row(other, self.exec_id, self.legal)[0], "cancelled")
            last = events(other, self.exec_id)[-1]
            self.assertEqual((last["type"], last["actor_id"], last["reason"]),
                             ("step.cancelled", "admin_jane", "why"))
        finally:
            other.close()

    def test_cancel_is_invisible_to_another_connection_before_commit(self):
        other = connect(self.path)
        try:
            self.conn.execute("BEGIN")
            cancel(self.conn, self.exec_id, self.legal)
            self.assertEqual(step_row(other, self.exec_id, self.legal)[0], "waiting")
            self.conn.execute("COMMIT")
            self.assertEqual(step_row(other, self.exec_id, self.legal)[0], "cancelled")
        finally:
            other.close()

    def test_failed_call_leaves_the_transaction_usable(self):
        self.conn.execute("BEGIN")
        cancel(self.conn, self.exec_id, self.legal)
        with self.assertRaises(sqlite3.IntegrityError):
            cancel(self.conn, self.exec_id, self.legal)  # already cancelled
        self.assertTrue(self.conn.in_transaction, "the caller's transaction must still be open")
        self.conn.execute("CREATE TABLE app_note(x)")
        self.conn.execute("INSERT INTO app_note VALUES ('after the failure')")
        self.conn.execute("COMMIT")
        other = connect(self.path)
        try:
            self.assertEqual(step_row(other, self.exec_id, self.legal)[0], "cancelled")
            self.assertEqual(step_cancelled_count(other, self.exec_id), 1)
            self.assertEqual(other.execute("SELECT x FROM app_note").fetchall(), [("after the failure",)])
        finally:
            other.close()

    def test_failed_call_inside_transaction_keeps_earlier_and_later_work(self):
        self.conn.execute("BEGIN")
        cancel(self.conn, self.exec_id, self.legal)
        with self.assertRaises(sqlite3.OperationalError):
            cancel(self.conn, "exec_missing", self.brand)
        with self.assertRaises(sqlite3.OperationalError):
            cancel(self.conn, self.exec_id, self.brand, "x" * 501)
        cancel(self.conn, self.exec_id, self.brand)
        self.conn.execute("COMMIT")
        other = connect(self.path)
        try:
            self.assertEqual(step_row(other, self.exec_id, self.legal)[0], "cancelled")
            self.assertEqual(step_row(other, self.exec_id, self.brand)[0], "cancelled")
            self.assertEqual(step_cancelled_count(other, self.exec_id), 2)
            self.assertEqual(execution_status(other, self.exec_id), "completed")
        finally:
            other.close()

    def test_call_failing_midway_undoes_its_own_writes_inside_a_transaction(self):
        # A user trigger makes the roll-up's execution.completed insert fail,
        # after the step update and the step.cancelled event were written.
        self.conn.execute(
            "CREATE TRIGGER app_block_completion BEFORE INSERT ON _velt_events"
            " WHEN NEW.type = 'execution.completed'"
            " BEGIN SELECT RAISE(ABORT, 'blocked by the application'); END")
        cancel(self.conn, self.exec_id, self.legal)
        before = self.snapshot()
        self.conn.execute("BEGIN")
        with self.assertRaises(sqlite3.DatabaseError) as cm:
            cancel(self.conn, self.exec_id, self.brand)
        self.assertIn("blocked by the application", str(cm.exception))
        self.assertEqual(self.snapshot(), before)
        self.conn.execute("CREATE TABLE app_note(x)")
        self.conn.execute("COMMIT")
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(step_row(self.conn, self.exec_id, self.brand), ("waiting", None))

    def test_call_failing_midway_in_autocommit_leaves_nothing(self):
        self.conn.execute(
            "CREATE TRIGGER app_block_completion BEFORE INSERT ON _velt_events"
            " WHEN NEW.type = 'execution.completed'"
            " BEGIN SELECT RAISE(ABORT, 'blocked by the application'); END")
        cancel(self.conn, self.exec_id, self.legal)
        before = self.snapshot()
        with self.assertRaises(sqlite3.DatabaseError):
            cancel(self.conn, self.exec_id, self.brand)
        self.assertFalse(self.conn.in_transaction)
        self.assertEqual(self.snapshot(), before)

    def test_cancel_in_autocommit_is_visible_to_a_second_connection_at_once(self):
        other = connect(self.path)
        try:
            self.assertEqual(step_row(other, self.exec_id, self.legal)[0], "waiting")
            cancel(self.conn, self.exec_id, self.legal)
            self.assertFalse(self.conn.in_transaction)
            self.assertEqual(step_row(other, self.exec_id, self.legal)[0], "cancelled")
            self.assertEqual(step_cancelled_count(other, self.exec_id), 1)
        finally:
            other.close()

    def test_cancel_in_autocommit_is_visible_to_a_plain_connection(self):
        other = plain_connect(self.path)
        try:
            cancel(self.conn, self.exec_id, self.legal)
            (status,) = other.execute("SELECT status FROM _velt_steps WHERE execution_id = ? AND step_id = ?",
                                      (self.exec_id, self.legal)).fetchone()
            self.assertEqual(status, "cancelled")
        finally:
            other.close()

    def test_cancel_nests_inside_a_caller_savepoint(self):
        self.conn.execute("BEGIN")
        self.conn.execute("SAVEPOINT app")
        cancel(self.conn, self.exec_id, self.legal)
        self.conn.execute("ROLLBACK TO app")
        self.conn.execute("RELEASE app")
        cancel(self.conn, self.exec_id, self.brand)
        self.conn.execute("COMMIT")
        self.assertEqual(step_row(self.conn, self.exec_id, self.legal)[0], "waiting")
        self.assertEqual(step_row(self.conn, self.exec_id, self.brand)[0], "cancelled")

    def test_cancel_inside_begin_immediate_commit_persists(self):
        self.conn.execute("BEGIN IMMEDIATE")
        cancel(self.conn, self.exec_id, self.legal)
        self.conn.execute("COMMIT")
        other = plain_connect(self.path)
        try:
            (n,) = other.execute("SELECT count(*) FROM _velt_events WHERE type = 'step.cancelled'").fetchone()
            self.assertEqual(n, 1)
        finally:
            other.close()


class FileWithoutStorageTest(DbTest, VeltAssertions):
    """A database file without velt storage: loading and reading write nothing."""

    def master(self, conn=None):
        return (conn or self.conn).execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()

    def test_reading_each_virtual_table_returns_zero_rows(self):
        for vtab in VTABS:
            self.assertEqual(self.conn.execute(f"SELECT * FROM {vtab}").fetchall(), [], vtab)

    def test_reading_virtual_tables_creates_nothing(self):
        for vtab in VTABS:
            self.conn.execute(f"SELECT count(*) FROM {vtab}").fetchone()
        self.conn.execute("SELECT * FROM velt_steps WHERE execution_id = 'x'").fetchall()
        self.conn.execute("SELECT * FROM velt_events WHERE execution_id = 'x' ORDER BY seq").fetchall()
        self.assertEqual(self.master(), [])
        self.assertEqual(os.path.getsize(self.path), 0)

    def test_reading_virtual_tables_of_an_application_database_changes_nothing(self):
        self.conn.execute("CREATE TABLE app(x)")
        self.conn.execute("INSERT INTO app VALUES (1)")
        self.conn.commit()
        master = self.master()
        with open(self.path, "rb") as f:
            content = f.read()
        for vtab in VTABS:
            self.assertEqual(self.conn.execute(f"SELECT * FROM {vtab}").fetchall(), [], vtab)
        self.assertEqual(self.master(), master)
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), content)

    def test_read_endpoint_on_a_file_without_storage_creates_nothing(self):
        with self.assertRaises(sqlite3.OperationalError) as cm:
            velt(self.conn, "executions/get", {"executionId": "exec_nope"})
        self.assertTrue(str(cm.exception).startswith("NOT_FOUND: "), str(cm.exception))
        self.assertEqual(self.master(), [])

    def test_failed_cancel_on_a_fresh_file_leaves_no_storage(self):
        self.assertVeltRaises("NOT_FOUND", "SELECT velt_cancel_step('exec_nope', 'step_nope', NULL, 'admin')")
        self.assertEqual(self.master(), [])

    def test_loading_the_extension_writes_nothing(self):
        self.conn.close()
        plain = plain_connect(self.path)
        plain.execute("CREATE TABLE app(x)")
        plain.execute("INSERT INTO app VALUES (1)")
        plain.commit()
        master = self.master(plain)
        plain.close()
        with open(self.path, "rb") as f:
            content = f.read()
        mtime = os.stat(self.path).st_mtime_ns
        self.conn = connect(self.path)
        self.assertEqual(self.conn.execute("SELECT velt_version()").fetchone()[0].count("."), 2)
        self.assertEqual(self.master(), master)
        self.conn.close()
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), content)
        self.assertEqual(os.stat(self.path).st_mtime_ns, mtime)
        self.assertEqual(sorted(os.listdir(self.dir.name)), ["test.db"])
        self.conn = connect(self.path)

    def test_loading_the_extension_into_a_fresh_file_leaves_it_empty(self):
        self.conn.execute("SELECT velt_version(), velt_now()").fetchone()
        self.assertEqual(self.master(), [])
        self.assertEqual(os.path.getsize(self.path), 0)

    def test_velt_init_creates_the_storage_tables(self):
        (version,) = self.conn.execute("SELECT velt_init()").fetchone()
        self.assertIsInstance(version, int)
        self.assertGreaterEqual(version, 1)
        names = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.assertLessEqual({"_velt_meta", "_velt_definitions", "_velt_executions", "_velt_steps",
                              "_velt_events"}, names)
        self.assertTrue(all(n.startswith("_velt_") for n in names), names)

    def test_velt_init_twice_returns_the_same_version_and_changes_nothing(self):
        (v1,) = self.conn.execute("SELECT velt_init()").fetchone()
        master = self.master()
        (v2,) = self.conn.execute("SELECT velt_init()").fetchone()
        self.assertEqual(v1, v2)
        self.assertEqual(self.master(), master)

    def test_first_write_creates_storage_in_the_callers_transaction(self):
        self.conn.isolation_level = None
        self.conn.execute("BEGIN")
        define(self.conn, ONE_REVIEW)
        self.conn.execute("ROLLBACK")
        self.assertEqual(self.master(), [])

    def test_user_version_and_application_id_are_never_touched(self):
        self.conn.execute("PRAGMA user_version = 7")
        self.conn.execute("PRAGMA application_id = 1234")
        self.conn.execute("SELECT velt_init()")
        define(self.conn, ONE_REVIEW)
        ex = dispatch(self.conn, "one-review")
        cancel(self.conn, ex, step_of(self.conn, ex, "review"))
        self.assertEqual(self.conn.execute("PRAGMA user_version").fetchone()[0], 7)
        self.assertEqual(self.conn.execute("PRAGMA application_id").fetchone()[0], 1234)


if __name__ == "__main__":
    unittest.main()
