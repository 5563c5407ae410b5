"""Safety flags (SPEC 4), read-only databases (SPEC 2), the storage
invariants I1-I5 for any writer (SPEC 3), and the registered surface."""
import json
import os
import sqlite3
import unittest

from velt_helpers import (TWO_REVIEWS, cancel, connect, DbTest, define, dispatch, plain_connect,
                          step_row, storage_dump, unsynced, velt, TwoReviewsTest, step_of)


class SafetyFlagsTest(TwoReviewsTest):
    def setUp(self):
        super().setUp()
        self.conn.isolation_level = None

    def create_cancel_view(self):
        self.conn.execute(
            f"CREATE VIEW app_cancel AS SELECT velt_cancel_step('{self.exec_id}', '{self.legal}',"
            " 'from a view', 'admin') AS r")

    def create_velt_trigger(self):
        data = json.dumps({"executionId": self.exec_id, "stepId": self.legal, "actorId": "admin"})
        self.conn.execute("CREATE TABLE app_log(x)")
        self.conn.execute(
            "CREATE TRIGGER app_log_cancels AFTER INSERT ON app_log BEGIN"
            f" SELECT velt('steps/cancel', '{data}'); END")

    def expect_unsafe(self, sql, name):
        before = self.snapshot()
        with self.assertRaises(sqlite3.OperationalError) as cm:
            self.conn.execute(sql).fetchall()
        self.assertIn(f"unsafe use of {name}()", str(cm.exception))
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(step_row(self.conn, self.exec_id, self.legal)[0], "waiting")

    def test_view_calling_velt_cancel_step_fails_when_used(self):
        self.create_cancel_view()
        self.expect_unsafe("SELECT * FROM app_cancel", "velt_cancel_step")

    def test_view_calling_velt_cancel_step_fails_with_trusted_schema_off(self):
        self.conn.execute("PRAGMA trusted_schema = OFF")
        self.create_cancel_view()
        self.expect_unsafe("SELECT * FROM app_cancel", "velt_cancel_step")

    def test_trigger_calling_velt_fails_when_fired(self):
        self.create_velt_trigger()
        self.expect_unsafe("INSERT INTO app_log VALUES (1)", "velt")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM app_log").fetchone()[0], 0)

    def test_trigger_calling_velt_fails_with_trusted_schema_off(self):
        self.conn.execute("PRAGMA trusted_schema = OFF")
        self.create_velt_trigger()
        self.expect_unsafe("INSERT INTO app_log VALUES (1)", "velt")

    def test_view_calling_velt_api_fails_when_used(self):
        body = json.dumps({"data": {"executionId": self.exec_id, "stepId": self.legal, "actorId": "admin"}})
        self.conn.execute(f"CREATE VIEW app_api AS SELECT velt_api('steps/cancel', '{body}') AS r")
        self.expect_unsafe("SELECT * FROM app_api", "velt_api")

    def test_view_calling_velt_init_fails_when_used(self):
        self.conn.execute("CREATE VIEW app_init AS SELECT velt_init() AS r")
        self.expect_unsafe("SELECT * FROM app_init", "velt_init")

    def test_velt_version_works_inside_a_view(self):
        self.conn.execute("CREATE VIEW app_version AS SELECT velt_version() AS v")
        (v,) = self.conn.execute("SELECT v FROM app_version").fetchone()
        (direct,) = self.conn.execute("SELECT velt_version()").fetchone()
        self.assertEqual(v, direct)
        self.assertRegex(v, r"^\d+\.\d+\.\d+")

    def test_velt_version_works_inside_a_view_with_trusted_schema_off(self):
        self.conn.execute("PRAGMA trusted_schema = OFF")
        self.conn.execute("CREATE VIEW app_version AS SELECT velt_version() AS v")
        (v,) = self.conn.execute("SELECT v FROM app_version").fetchone()
        self.assertRegex(v, r"^\d+\.\d+\.\d+")

    def test_direct_call_still_works_after_unsafe_attempt(self):
        self.create_cancel_view()
        with self.assertRaises(sqlite3.OperationalError):
            self.conn.execute("SELECT * FROM app_cancel").fetchall()
        self.assertEqual(cancel(self.conn, self.exec_id, self.legal)["cancelled"], True)


class ReadOnlyDatabaseTest(TwoReviewsTest):
    def setUp(self):
        super().setUp()
        self.conn.close()
        self.ro = connect(f"file:{self.path}?mode=ro", uri=True)
        self.conn = self.ro  # DbTest.snapshot and tearDown use self.conn

    def test_velt_steps_reads_work(self):
        rows = self.ro.execute("SELECT node_id, status FROM velt_steps WHERE execution_id = ? ORDER BY 1",
                               (self.exec_id,)).fetchall()
        self.assertEqual(rows, [("brand", "waiting"), ("legal", "waiting")])

    def test_velt_executions_get_works(self):
        result = velt(self.ro, "executions/get", {"executionId": self.exec_id})
        self.assertEqual((result["executionId"], result["status"], len(result["steps"])),
                         (self.exec_id, "running", 2))

    def test_velt_cancel_step_fails_with_sqlite_readonly_error(self):
        with self.assertRaises(sqlite3.OperationalError) as cm:
            cancel(self.ro, self.exec_id, self.legal)
        self.assertIn("attempt to write a readonly database", str(cm.exception))
        if hasattr(cm.exception, "sqlite_errorcode"):
            self.assertEqual(cm.exception.sqlite_errorcode & 0xFF, 8, "SQLITE_READONLY")

    def test_velt_cancel_step_on_readonly_changes_nothing(self):
        before = self.snapshot()
        with self.assertRaises(sqlite3.OperationalError):
            cancel(self.ro, self.exec_id, self.legal)
        self.assertEqual(self.snapshot(), before)
        writer = connect(self.path)
        try:
            self.assertEqual(step_row(writer, self.exec_id, self.legal), ("waiting", None))
        finally:
            writer.close()

    def test_read_only_connection_can_read_after_failed_write(self):
        with self.assertRaises(sqlite3.OperationalError):
            cancel(self.ro, self.exec_id, self.legal)
        (n,) = self.ro.execute("SELECT count(*) FROM velt_events WHERE execution_id = ?", (self.exec_id,)).fetchone()
        self.assertGreater(n, 0)


class InvariantsMixin:
    """I1-I5 against plain SQL writes. The test classes below choose the
    writing connection: one with the extension loaded, or a plain one
    without it."""

    with_extension = True

    def setUp(self):
        super().setUp()
        unsynced(self.conn)
        define(self.conn, TWO_REVIEWS)
        self.live = dispatch(self.conn, "two-reviews")
        self.live_legal = step_of(self.conn, self.live, "legal")
        cancel(self.conn, self.live, self.live_legal, "done", "admin")
        self.conn.commit()
        self.writer = connect(self.path) if self.with_extension else plain_connect(self.path)
        self.writer.isolation_level = None

    def tearDown(self):
        self.writer.close()
        super().tearDown()

    def next_seq(self):
        (n,) = self.writer.execute("SELECT max(seq) + 1 FROM _velt_events WHERE execution_id = ?",
                                   (self.live,)).fetchone()
        return n

    def insert_event(self, seq, actor_id="admin", reason="why", event_id="evt_plain_sql"):
        self.writer.execute(
            "INSERT INTO _velt_events(execution_id, seq, event_id, type, step_id, timestamp, data, actor_id, reason)"
            " VALUES (?, ?, ?, 'step.cancelled', ?, 1731432000000, NULL, ?, ?)",
            (self.live, seq, event_id, self.live_legal, actor_id, reason))

    def expect_rejected(self, sql, params=()):
        before = storage_dump(self.writer)
        with self.assertRaises(sqlite3.DatabaseError):
            self.writer.execute(sql, params)
        self.assertFalse(self.writer.in_transaction)
        self.assertEqual(storage_dump(self.writer), before)

    # I1
    def test_i1_updating_a_terminal_steps_status_fails(self):
        self.expect_rejected("UPDATE _velt_steps SET status = 'waiting' WHERE execution_id = ? AND step_id = ?",
                             (self.live, self.live_legal))

    def test_i1_updating_a_terminal_steps_completed_at_fails(self):
        self.expect_rejected("UPDATE _velt_steps SET completed_at = 1 WHERE execution_id = ? AND step_id = ?",
                             (self.live, self.live_legal))

    def test_i1_updating_a_terminal_steps_output_fails(self):
        self.expect_rejected("UPDATE _velt_steps SET output = '{}' WHERE execution_id = ? AND step_id = ?",
                             (self.live, self.live_legal))

    # I2
    def test_i2_updating_an_event_fails(self):
        self.expect_rejected("UPDATE _velt_events SET reason = 'rewritten' WHERE execution_id = ? AND seq = 1",
                             (self.live,))

    def test_i2_deleting_an_event_of_a_live_execution_fails(self):
        self.expect_rejected("DELETE FROM _velt_events WHERE execution_id = ? AND seq = 1", (self.live,))

    def test_i2_deleting_the_last_event_of_a_live_execution_fails(self):
        self.expect_rejected("DELETE FROM _velt_events WHERE execution_id = ? AND seq = (SELECT max(seq)"
                             " FROM _velt_events WHERE execution_id = ?)", (self.live, self.live))

    # I3
    def test_i3_inserting_an_event_with_a_gap_in_seq_fails(self):
        before = storage_dump(self.writer)
        with self.assertRaises(sqlite3.DatabaseError):
            self.insert_event(self.next_seq() + 1)
        self.assertEqual(storage_dump(self.writer), before)

    def test_i3_inserting_an_event_with_a_duplicate_seq_fails(self):
        before = storage_dump(self.writer)
        with self.assertRaises(sqlite3.DatabaseError):
            self.insert_event(self.next_seq() - 1)
        self.assertEqual(storage_dump(self.writer), before)

    def test_i3_inserting_the_next_seq_succeeds(self):
        seq = self.next_seq()
        self.insert_event(seq)
        (n,) = self.writer.execute("SELECT count(*) FROM _velt_events WHERE execution_id = ? AND seq = ?",
                                   (self.live, seq)).fetchone()
        self.assertEqual(n, 1)

    # I4
    def test_i4_completing_an_execution_with_a_waiting_step_fails(self):
        self.expect_rejected("UPDATE _velt_executions SET status = 'completed' WHERE execution_id = ?",
                             (self.live,))

    def test_i4_cancelling_an_execution_with_a_waiting_step_fails(self):
        self.expect_rejected("UPDATE _velt_executions SET status = 'cancelled' WHERE execution_id = ?",
                             (self.live,))

    # I5
    def test_i5_event_with_257_char_actor_id_fails(self):
        before = storage_dump(self.writer)
        with self.assertRaises(sqlite3.DatabaseError):
            self.insert_event(self.next_seq(), actor_id="a" * 257)
        self.assertEqual(storage_dump(self.writer), before)

    def test_i5_step_cancelled_event_with_501_char_reason_fails(self):
        before = storage_dump(self.writer)
        with self.assertRaises(sqlite3.DatabaseError):
            self.insert_event(self.next_seq(), reason="r" * 501)
        self.assertEqual(storage_dump(self.writer), before)

    def test_i5_event_at_the_limits_is_accepted(self):
        self.insert_event(self.next_seq(), actor_id="\u00e9" * 256, reason="\U0001F600" * 500)
        (a, r) = self.writer.execute(
            "SELECT length(actor_id), length(reason) FROM _velt_events WHERE event_id = 'evt_plain_sql'").fetchone()
        self.assertEqual((a, r), (256, 500))

    def test_i5_multibyte_reason_of_501_characters_fails(self):
        before = storage_dump(self.writer)
        with self.assertRaises(sqlite3.DatabaseError):
            self.insert_event(self.next_seq(), reason="\u00e9" * 501)
        self.assertEqual(storage_dump(self.writer), before)


class InvariantsWithExtensionTest(InvariantsMixin, DbTest):
    with_extension = True


class InvariantsWithoutExtensionTest(InvariantsMixin, DbTest):
    with_extension = False

    def test_plain_connection_has_no_velt_functions(self):
        with self.assertRaises(sqlite3.OperationalError):
            self.writer.execute("SELECT velt_version()")


class RegisteredSurfaceTest(DbTest):
    def test_function_list_has_exactly_the_velt_functions(self):
        names = {r[0] for r in self.conn.execute(
            "SELECT DISTINCT name FROM pragma_function_list WHERE name LIKE 'velt%'")}
        self.assertEqual(names, {"velt", "velt_api", "velt_cancel_step", "velt_init", "velt_version",
                                 "velt_set_clock", "velt_now"})

    def test_module_list_has_the_four_virtual_tables(self):
        names = {r[0] for r in self.conn.execute("SELECT name FROM pragma_module_list WHERE name LIKE 'velt%'")}
        self.assertLessEqual({"velt_steps", "velt_events", "velt_executions", "velt_definitions"}, names)

    def test_side_effect_functions_are_direct_only_and_not_deterministic(self):
        # pragma_function_list.flags: 0x800 deterministic, 0x80000 direct-only,
        # 0x200000 innocuous (sqlite3.h SQLITE_DETERMINISTIC etc.).
        rows = dict(self.conn.execute(
            "SELECT name, max(flags) FROM pragma_function_list WHERE name IN"
            " ('velt', 'velt_api', 'velt_cancel_step', 'velt_init', 'velt_set_clock') GROUP BY name"))
        self.assertEqual(len(rows), 5, rows)
        for name, flags in rows.items():
            self.assertTrue(flags & 0x80000, f"{name} must be SQLITE_DIRECTONLY (flags {flags:#x})")
            self.assertFalse(flags & 0x800, f"{name} must not be SQLITE_DETERMINISTIC (flags {flags:#x})")
            self.assertFalse(flags & 0x200000, f"{name} must not be SQLITE_INNOCUOUS (flags {flags:#x})")

    def test_velt_version_is_innocuous_and_deterministic(self):
        (flags,) = self.conn.execute(
            "SELECT flags FROM pragma_function_list WHERE name = 'velt_version'").fetchone()
        self.assertTrue(flags & 0x200000, f"flags {flags:#x}")
        self.assertTrue(flags & 0x800, f"flags {flags:#x}")

    def test_velt_version_matches_the_version_file(self):
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        with open(os.path.join(root, "VERSION")) as f:
            expected = f.read().strip()
        self.assertEqual(self.conn.execute("SELECT velt_version()").fetchone()[0], expected)


if __name__ == "__main__":
    unittest.main()
