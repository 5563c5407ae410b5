"""Cancel Step: velt_cancel_step(execution_id, step_id, reason, actor_id) and
the same handler through velt('steps/cancel') and velt_api() (SPEC 5.1, 5.2,
4 "Errors", 6.1, 6.3, 6.4)."""
import json
import sqlite3
import unittest

from velt_helpers import (ONE_REVIEW, TWO_REVIEWS, cancel, DbTest, define, dispatch, events,
                          execution_status, seqs, step_row, unsynced, velt, velt_api,
                          VeltAssertions, TwoReviewsTest, step_of)

# A human step whose node has an `always` edge: if a cancel fanned out, the
# always edge would fire whatever the output (SPEC 6.3), so this catches it.
ALWAYS_EDGE = {
    "definitionId": "always-edge",
    "name": "Always edge",
    "nodes": [
        {"nodeId": "review", "type": "human",
         "config": {"reviewers": [{"userId": "u1", "mandatory": True}]}},
        {"nodeId": "other", "type": "human",
         "config": {"reviewers": [{"userId": "u2", "mandatory": True}]}},
        {"nodeId": "notify", "type": "notification",
         "config": {"channel": "email", "recipients": ["a@example.com"], "bodyTemplate": "done"}},
        {"nodeId": "rework", "type": "notification",
         "config": {"channel": "email", "recipients": ["a@example.com"], "bodyTemplate": "no"}},
    ],
    "edges": [
        {"from": "review", "to": "notify", "on": "always"},
        {"from": "review", "to": "rework", "on": "reject"},
        {"from": "other", "to": "rework", "on": "reject"},
    ],
}


class CancelStepTest(TwoReviewsTest, VeltAssertions):

    # ---- the result -------------------------------------------------------

    def test_success_result_is_exactly_cancelled_execution_id_step_id(self):
        result = cancel(self.conn, self.exec_id, self.legal, "Reviewer unavailable", "admin_jane")
        self.assertEqual(result, {"cancelled": True, "executionId": self.exec_id, "stepId": self.legal})

    def test_result_text_is_compact_json_in_key_order(self):
        (text,) = self.conn.execute("SELECT velt_cancel_step(?, ?, 'r', 'admin')",
                                    (self.exec_id, self.legal)).fetchone()
        self.assertEqual(text, json.dumps({"cancelled": True, "executionId": self.exec_id,
                                           "stepId": self.legal}, separators=(",", ":")))

    def test_result_works_with_arrow_operator(self):
        (v,) = self.conn.execute("SELECT velt_cancel_step(?, ?, 'r', 'admin') -> '$.cancelled'",
                                 (self.exec_id, self.legal)).fetchone()
        self.assertEqual(v, "true")

    def test_result_json_type_is_object(self):
        (t,) = self.conn.execute("SELECT json_type(velt_cancel_step(?, ?, 'r', 'admin'))",
                                 (self.exec_id, self.legal)).fetchone()
        self.assertEqual(t, "object")

    def test_result_carries_json_subtype(self):
        # Only a value with the JSON subtype is embedded as an object by
        # json_object(); plain text would be embedded as a JSON string.
        (text,) = self.conn.execute(
            "SELECT json_object('r', velt_cancel_step(?, ?, 'r', 'admin'))",
            (self.exec_id, self.legal)).fetchone()
        self.assertEqual(json.loads(text)["r"],
                         {"cancelled": True, "executionId": self.exec_id, "stepId": self.legal})

    def test_velt_result_carries_json_subtype(self):
        (text,) = self.conn.execute(
            "SELECT json_array(velt('steps/cancel', json_object('executionId', ?, 'stepId', ?,"
            " 'actorId', 'admin')))", (self.exec_id, self.legal)).fetchone()
        self.assertEqual(json.loads(text)[0],
                         {"cancelled": True, "executionId": self.exec_id, "stepId": self.legal})

    # ---- the step ---------------------------------------------------------

    def test_step_becomes_cancelled_with_completed_at_set(self):
        self.conn.execute("SELECT velt_set_clock(1731432000123)")
        cancel(self.conn, self.exec_id, self.legal)
        self.assertEqual(step_row(self.conn, self.exec_id, self.legal), ("cancelled", 1731432000123))

    def test_step_is_terminal_after_cancel(self):
        cancel(self.conn, self.exec_id, self.legal)
        (is_terminal,) = self.conn.execute(
            "SELECT is_terminal FROM velt_steps WHERE execution_id = ? AND step_id = ?",
            (self.exec_id, self.legal)).fetchone()
        self.assertEqual(is_terminal, 1)

    def test_sibling_step_stays_waiting(self):
        cancel(self.conn, self.exec_id, self.legal)
        self.assertEqual(step_row(self.conn, self.exec_id, self.brand), ("waiting", None))
        self.assertEqual(execution_status(self.conn, self.exec_id), "running")

    def test_no_downstream_step_is_created_for_the_reject_edge(self):
        cancel(self.conn, self.exec_id, self.legal)
        steps = [r[0] for r in self.conn.execute(
            "SELECT step_id FROM velt_steps WHERE execution_id = ? ORDER BY step_id", (self.exec_id,))]
        self.assertEqual(steps, sorted([self.legal, self.brand]))

    def test_no_downstream_step_is_created_for_an_always_edge(self):
        define(self.conn, ALWAYS_EDGE)
        ex = dispatch(self.conn, "always-edge")
        review = step_of(self.conn, ex, "review")
        cancel(self.conn, ex, review)
        nodes = sorted(r[0] for r in self.conn.execute(
            "SELECT node_id FROM velt_steps WHERE execution_id = ?", (ex,)))
        self.assertEqual(nodes, ["other", "review"])
        self.assertEqual(execution_status(self.conn, ex), "running")

    # ---- the event --------------------------------------------------------

    def test_step_cancelled_event_has_actor_and_reason_columns(self):
        cancel(self.conn, self.exec_id, self.legal, "Reviewer unavailable", "admin_jane")
        last = events(self.conn, self.exec_id)[-1]
        self.assertEqual((last["type"], last["step_id"], last["actor_id"], last["reason"], last["external"]),
                         ("step.cancelled", self.legal, "admin_jane", "Reviewer unavailable", 1))

    def test_step_cancelled_event_data_is_actor_id_and_reason(self):
        cancel(self.conn, self.exec_id, self.legal, "Reviewer unavailable", "admin_jane")
        last = events(self.conn, self.exec_id)[-1]
        self.assertEqual(last["data"], {"actorId": "admin_jane", "reason": "Reviewer unavailable"})

    def test_null_reason_gives_data_reason_null(self):
        cancel(self.conn, self.exec_id, self.legal, None, "admin_jane")
        last = events(self.conn, self.exec_id)[-1]
        self.assertEqual((last["type"], last["reason"]), ("step.cancelled", None))
        self.assertEqual(last["data"], {"actorId": "admin_jane", "reason": None})

    def test_empty_reason_is_kept_as_empty_string(self):
        cancel(self.conn, self.exec_id, self.legal, "", "admin_jane")
        last = events(self.conn, self.exec_id)[-1]
        self.assertEqual(last["data"], {"actorId": "admin_jane", "reason": ""})

    def test_exactly_one_event_is_appended_when_a_sibling_is_live(self):
        before = events(self.conn, self.exec_id)
        cancel(self.conn, self.exec_id, self.legal)
        after = events(self.conn, self.exec_id)
        self.assertEqual(after[:-1], before)
        self.assertEqual([e["type"] for e in after[len(before):]], ["step.cancelled"])

    def test_seq_is_contiguous_after_cancel(self):
        cancel(self.conn, self.exec_id, self.legal)
        cancel(self.conn, self.exec_id, self.brand)
        s = seqs(self.conn, self.exec_id)
        self.assertEqual(s, list(range(1, len(s) + 1)))
        self.assertGreaterEqual(len(s), 4)

    def test_cancel_event_timestamp_is_the_connection_clock(self):
        self.conn.execute("SELECT velt_set_clock(1731432999000)")
        cancel(self.conn, self.exec_id, self.legal)
        (ts,) = self.conn.execute(
            "SELECT timestamp FROM velt_events WHERE execution_id = ? AND type = 'step.cancelled'",
            (self.exec_id,)).fetchone()
        self.assertEqual(ts, 1731432999000)

    # ---- roll-up ----------------------------------------------------------

    def test_cancelling_the_last_live_step_completes_the_execution(self):
        define(self.conn, ONE_REVIEW)
        ex = dispatch(self.conn, "one-review")
        review = step_of(self.conn, ex, "review")
        cancel(self.conn, ex, review)
        self.assertEqual(execution_status(self.conn, ex), "completed")
        (completed_at,) = self.conn.execute(
            "SELECT completed_at FROM velt_executions WHERE execution_id = ?", (ex,)).fetchone()
        self.assertIsNotNone(completed_at)
        self.assertEqual([e["type"] for e in events(self.conn, ex)[-2:]],
                         ["step.cancelled", "execution.completed"])

    def test_cancelling_the_last_live_step_creates_no_step(self):
        define(self.conn, ONE_REVIEW)
        ex = dispatch(self.conn, "one-review")
        review = step_of(self.conn, ex, "review")
        cancel(self.conn, ex, review)
        (n,) = self.conn.execute("SELECT count(*) FROM velt_steps WHERE execution_id = ?", (ex,)).fetchone()
        self.assertEqual(n, 1)

    def test_cancelling_both_reviews_completes_two_reviews(self):
        cancel(self.conn, self.exec_id, self.legal)
        self.assertEqual(execution_status(self.conn, self.exec_id), "running")
        cancel(self.conn, self.exec_id, self.brand)
        self.assertEqual(execution_status(self.conn, self.exec_id), "completed")
        types = [e["type"] for e in events(self.conn, self.exec_id)]
        self.assertEqual(types.count("execution.completed"), 1)
        self.assertEqual(types[-1], "execution.completed")

    # ---- errors -----------------------------------------------------------

    def test_terminal_step_is_failed_precondition_naming_its_status(self):
        cancel(self.conn, self.exec_id, self.legal)
        self.assertVeltRaises(
            "FAILED_PRECONDITION", "SELECT velt_cancel_step(?, ?, 'again', 'admin')",
            (self.exec_id, self.legal),
            message=f"FAILED_PRECONDITION: step '{self.legal}' is already cancelled")

    def test_failed_precondition_changes_nothing(self):
        cancel(self.conn, self.exec_id, self.legal)
        before = self.snapshot()
        with self.assertRaises(sqlite3.IntegrityError):
            cancel(self.conn, self.exec_id, self.legal, "again", "someone-else")
        self.assertEqual(self.snapshot(), before)

    def test_unknown_execution_is_not_found(self):
        self.assertVeltRaises(
            "NOT_FOUND", "SELECT velt_cancel_step('exec_0000000000000_nothere', ?, NULL, 'admin')",
            (self.legal,), message="NOT_FOUND: execution 'exec_0000000000000_nothere' not found")

    def test_step_of_another_execution_is_not_found(self):
        other = dispatch(self.conn, "two-reviews")
        other_legal = step_of(self.conn, other, "legal")
        before = self.snapshot()
        self.assertVeltRaises(
            "NOT_FOUND", "SELECT velt_cancel_step(?, ?, NULL, 'admin')", (self.exec_id, other_legal),
            message=f"NOT_FOUND: step '?{other_legal}'? not found in execution '?{self.exec_id}'?")
        self.assertEqual(self.snapshot(), before)

    def test_unknown_step_is_not_found(self):
        self.assertVeltRaises(
            "NOT_FOUND", "SELECT velt_cancel_step(?, 'step_nope', NULL, 'admin')", (self.exec_id,),
            message=f"NOT_FOUND: step '?step_nope'? not found in execution '?{self.exec_id}'?")

    def test_terminal_step_asked_in_another_execution_is_not_found_not_failed_precondition(self):
        other = dispatch(self.conn, "two-reviews")
        cancel(self.conn, self.exec_id, self.legal)
        self.assertVeltRaises("NOT_FOUND", "SELECT velt_cancel_step(?, ?, NULL, 'admin')",
                              (other, self.legal))

    def test_bad_argument_wins_over_missing_execution(self):
        self.assertVeltRaises(
            "INVALID_ARGUMENT", "SELECT velt_cancel_step('exec_nope', 'step_nope', ?, 'admin')",
            ("x" * 501,))

    def test_empty_actor_wins_over_missing_execution(self):
        self.assertVeltRaises(
            "INVALID_ARGUMENT", "SELECT velt_cancel_step('exec_nope', 'step_nope', NULL, '')")

    def test_bad_argument_wins_over_terminal_step(self):
        cancel(self.conn, self.exec_id, self.legal)
        self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt_cancel_step(?, ?, NULL, NULL)",
                              (self.exec_id, self.legal))

    def test_missing_execution_wins_over_missing_step(self):
        self.assertVeltRaises(
            "NOT_FOUND", "SELECT velt_cancel_step('exec_nope', 'step_nope', NULL, 'admin')",
            message="NOT_FOUND: execution 'exec_nope' not found")

    # ---- one handler, three entries --------------------------------------

    def test_velt_steps_cancel_returns_the_same_result(self):
        result = velt(self.conn, "steps/cancel",
                      {"executionId": self.exec_id, "stepId": self.legal, "reason": "r", "actorId": "admin"})
        self.assertEqual(result, {"cancelled": True, "executionId": self.exec_id, "stepId": self.legal})
        self.assertEqual(step_row(self.conn, self.exec_id, self.legal)[0], "cancelled")

    def test_velt_accepts_the_full_endpoint_path(self):
        result = velt(self.conn, "/v2/workflow/steps/cancel",
                      {"executionId": self.exec_id, "stepId": self.legal, "actorId": "admin"})
        self.assertEqual(result, {"cancelled": True, "executionId": self.exec_id, "stepId": self.legal})

    def test_velt_without_reason_gives_data_reason_null(self):
        velt(self.conn, "steps/cancel", {"executionId": self.exec_id, "stepId": self.legal, "actorId": "a1"})
        self.assertEqual(events(self.conn, self.exec_id)[-1]["data"], {"actorId": "a1", "reason": None})

    def test_velt_api_returns_the_result_envelope(self):
        response = velt_api(self.conn, "steps/cancel", {"data": {
            "executionId": self.exec_id, "stepId": self.legal, "reason": "r", "actorId": "admin"}})
        self.assertEqual(response, {"result": {"cancelled": True, "executionId": self.exec_id,
                                               "stepId": self.legal}})
        self.assertEqual(step_row(self.conn, self.exec_id, self.legal)[0], "cancelled")

    def test_velt_api_failed_precondition_is_an_envelope_not_an_exception(self):
        cancel(self.conn, self.exec_id, self.legal)
        before = self.snapshot()
        response = velt_api(self.conn, "steps/cancel", {"data": {
            "executionId": self.exec_id, "stepId": self.legal, "actorId": "admin"}})
        err = self.assertApiError(response, "FAILED_PRECONDITION")
        self.assertIn(f"step '{self.legal}' is already cancelled", err["message"])
        self.assertEqual(self.snapshot(), before)

    def test_velt_api_not_found_is_an_envelope(self):
        response = velt_api(self.conn, "steps/cancel", {"data": {
            "executionId": "exec_nope", "stepId": self.legal, "actorId": "admin"}})
        err = self.assertApiError(response, "NOT_FOUND")
        self.assertIn("execution 'exec_nope' not found", err["message"])

    def test_velt_api_schema_error_has_details_issues(self):
        response = velt_api(self.conn, "steps/cancel", {"data": {"executionId": self.exec_id}})
        err = self.assertApiError(response, "INVALID_ARGUMENT")
        issues = err["details"].get("issues")
        self.assertIsInstance(issues, list)
        for issue in issues:
            self.assertTrue({"code", "path", "message"} <= set(issue), issue)
        self.assertIn(["stepId"], [i["path"] for i in issues])
        self.assertIn(["actorId"], [i["path"] for i in issues])

    def test_velt_raises_the_same_failed_precondition_as_velt_cancel_step(self):
        cancel(self.conn, self.exec_id, self.legal)
        data = json.dumps({"executionId": self.exec_id, "stepId": self.legal, "actorId": "admin"})
        self.assertVeltRaises("FAILED_PRECONDITION", "SELECT velt('steps/cancel', ?)", (data,),
                              message=f"FAILED_PRECONDITION: step '{self.legal}' is already cancelled")

    def test_three_entries_write_the_same_event(self):
        second = dispatch(self.conn, "two-reviews")
        third = dispatch(self.conn, "two-reviews")
        cancel(self.conn, self.exec_id, self.legal, "same", "admin")
        velt(self.conn, "steps/cancel", {"executionId": second, "stepId": step_of(self.conn, second, "legal"),
                                         "reason": "same", "actorId": "admin"})
        velt_api(self.conn, "steps/cancel", {"data": {"executionId": third,
                                                      "stepId": step_of(self.conn, third, "legal"),
                                                      "reason": "same", "actorId": "admin"}})
        shapes = []
        for ex in (self.exec_id, second, third):
            last = events(self.conn, ex)[-1]
            shapes.append((last["seq"], last["type"], last["actor_id"], last["reason"], last["data"]))
        self.assertEqual(shapes[0], shapes[1])
        self.assertEqual(shapes[0], shapes[2])


if __name__ == "__main__":
    unittest.main()
