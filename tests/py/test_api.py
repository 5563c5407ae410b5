"""velt_api() against upstream's documented examples (SPEC 5.2), and the
endpoint semantics around Cancel Step: getEvents paging (6.6), cancel
execution (6.5), dispatch idempotency (6.7), definitions (ALREADY_EXISTS,
linter), the clock and id formats (4)."""
import json
import os
import re
import sqlite3
import time
import unittest

from velt_helpers import (ONE_REVIEW, TWO_REVIEWS, cancel, DbTest, define, dispatch, events,
                          execution_status, step_row, unsynced, velt, velt_api, VeltAssertions, TwoReviewsTest, step_of)

EXAMPLES_PATH = os.environ.get(
    "VELT_UPSTREAM_EXAMPLES",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "upstream-examples.json"))

# upstream doc page -> our endpoint path
ENDPOINTS = {
    "definitions/create-definition": "definitions/create",
    "definitions/get-definition": "definitions/get",
    "executions/dispatch-execution": "executions/dispatch",
    "executions/get-execution": "executions/get",
    "executions/cancel-execution": "executions/cancel",
    "executions/get-execution-events": "executions/getEvents",
    "steps/cancel-step": "steps/cancel",
}

# The external event types of upstream's event reference (getEvents returns only these).
EXTERNAL_TYPES = {
    "execution.dispatched", "execution.completed", "execution.failed", "execution.cancelled",
    "step.awaiting-approval", "step.completed", "step.failed", "step.breached", "step.cancelled",
    "group.quorum-met", "loop.iteration-started", "loop.exhausted",
}


def load_examples():
    try:
        with open(EXAMPLES_PATH) as f:
            return json.load(f)["examples"]
    except OSError:
        return None


EXAMPLES = load_examples()


def example(endpoint, kind, title=None):
    for ex in EXAMPLES or ():
        if ex["endpoint"] == endpoint and ex["kind"] == kind and (title is None or ex["title"] == title):
            return ex["body"]
    raise LookupError((endpoint, kind, title))


def marketing_create_body():
    return example("definitions/create-definition", "request", "Create a marketing-copy approval workflow")


@unittest.skipIf(EXAMPLES is None, f"{EXAMPLES_PATH} is not readable")
class UpstreamExamplesTest(DbTest, VeltAssertions):
    """Each example request is accepted: never INVALID_ARGUMENT."""

    def create_marketing(self):
        response = velt_api(self.conn, "definitions/create", marketing_create_body())
        self.assertIn("result", response, response)
        return response["result"]

    def documented_keys(self, endpoint):
        return set(example(endpoint, "response", "Success Response")["result"])

    # ---- documented success shapes ----------------------------------------

    def test_definitions_create_result_has_the_documented_keys(self):
        result = self.create_marketing()
        self.assertEqual(set(result), self.documented_keys("definitions/create-definition"))

    def test_definitions_create_result_echoes_the_graph(self):
        result = self.create_marketing()
        body = marketing_create_body()["data"]
        self.assertEqual((result["definitionId"], result["version"], result["status"]),
                         ("marketing-copy-approval", 1, "active"))
        self.assertEqual(result["nodes"], body["nodes"])
        self.assertEqual(result["edges"], body["edges"])

    def test_definitions_create_compiles_edges_as_documented(self):
        result = self.create_marketing()
        documented = example("definitions/create-definition", "response", "Success Response")["result"]
        self.assertEqual(result["compiled"], documented["compiled"])
        self.assertEqual(result["scope"], documented["scope"])

    def test_definitions_get_result_has_the_documented_keys(self):
        self.create_marketing()
        response = velt_api(self.conn, "definitions/get", {"data": {"definitionId": "marketing-copy-approval"}})
        self.assertEqual(set(response["result"]), self.documented_keys("definitions/get-definition"))

    def test_executions_dispatch_result_has_the_documented_keys(self):
        self.create_marketing()
        response = velt_api(self.conn, "executions/dispatch", {"data": {"definitionId": "marketing-copy-approval"}})
        self.assertEqual(set(response["result"]), self.documented_keys("executions/dispatch-execution"))
        self.assertIs(response["result"]["deduplicated"], False)

    def test_executions_get_result_has_the_documented_keys(self):
        self.create_marketing()
        ex = dispatch(self.conn, "marketing-copy-approval")
        response = velt_api(self.conn, "executions/get", {"data": {"executionId": ex}})
        self.assertEqual(set(response["result"]), self.documented_keys("executions/get-execution"))

    def test_executions_get_steps_have_the_documented_keys(self):
        self.create_marketing()
        ex = dispatch(self.conn, "marketing-copy-approval")
        steps = velt(self.conn, "executions/get", {"executionId": ex})["steps"]
        documented = example("executions/get-execution", "response", "Success Response")["result"]["steps"][0]
        self.assertEqual(len(steps), 1)
        self.assertEqual(set(steps[0]), set(documented))

    def test_executions_cancel_result_has_the_documented_keys(self):
        self.create_marketing()
        ex = dispatch(self.conn, "marketing-copy-approval")
        response = velt_api(self.conn, "executions/cancel", {"data": {"executionId": ex, "reason": "r"}})
        self.assertEqual(set(response["result"]), self.documented_keys("executions/cancel-execution"))

    def test_executions_get_events_result_has_the_documented_keys(self):
        self.create_marketing()
        ex = dispatch(self.conn, "marketing-copy-approval")
        response = velt_api(self.conn, "executions/getEvents", {"data": {"executionId": ex}})
        self.assertEqual(set(response["result"]), self.documented_keys("executions/get-execution-events"))

    def test_executions_get_events_events_have_the_documented_keys(self):
        self.create_marketing()
        ex = dispatch(self.conn, "marketing-copy-approval")
        result = velt(self.conn, "executions/getEvents", {"executionId": ex})
        documented = example("executions/get-execution-events", "response", "Success Response")["result"]["events"][0]
        self.assertTrue(result["events"])
        for event in result["events"]:
            self.assertEqual(set(event), set(documented), event)

    def test_steps_cancel_result_has_the_documented_keys(self):
        self.create_marketing()
        ex = dispatch(self.conn, "marketing-copy-approval")
        sid = step_of(self.conn, ex, "agent-draft")
        response = velt_api(self.conn, "steps/cancel",
                            {"data": {"executionId": ex, "stepId": sid, "reason": "r", "actorId": "admin_jane"}})
        self.assertEqual(set(response["result"]), self.documented_keys("steps/cancel-step"))

    def test_failure_envelope_has_the_documented_keys_plus_details(self):
        response = velt_api(self.conn, "definitions/get", {"data": {"definitionId": "no-such-definition"}})
        documented = example("definitions/get-definition", "response", "Failure Response")
        self.assertEqual(set(response), set(documented))
        self.assertLessEqual(set(documented["error"]), set(response["error"]))
        self.assertEqual(response["error"]["status"], "NOT_FOUND")


def _example_test(endpoint, body, index):
    path = ENDPOINTS[endpoint]

    def test(self):
        if body != marketing_create_body():
            self.create_marketing()
        response = velt_api(self.conn, path, body)
        if "error" in response:
            self.assertIn(response["error"]["status"], ("NOT_FOUND", "FAILED_PRECONDITION"),
                          f"example {index} of {endpoint} was refused: {response}")
        else:
            self.assertEqual(set(response), {"result"}, response)
        if endpoint in ("definitions/create-definition", "definitions/get-definition",
                        "executions/dispatch-execution"):
            # Nothing in these examples names a missing object: they succeed.
            self.assertIn("result", response, response)
    return test


if EXAMPLES is not None:
    _counts = {}
    for _ex in EXAMPLES:
        if _ex["kind"] != "request" or _ex["endpoint"] not in ENDPOINTS:
            continue
        _counts[_ex["endpoint"]] = _counts.get(_ex["endpoint"], 0) + 1
        _slug = re.sub(r"[^a-z0-9]+", "_", _ex["title"].lower()).strip("_")
        _name = f"test_example_{ENDPOINTS[_ex['endpoint']].replace('/', '_')}_{_slug}_is_accepted"
        _fn = _example_test(_ex["endpoint"], _ex["body"], _counts[_ex["endpoint"]])
        _fn.__name__ = _name
        setattr(UpstreamExamplesTest, _name, _fn)


class GetEventsTest(DbTest, VeltAssertions):
    """SPEC 6.6: external events only, seq > sinceSeq, oldest first, at most
    pageSize; nextCursor is the highest seq looked at; hasMore says whether an
    external event lies beyond it."""

    def setUp(self):
        super().setUp()
        unsynced(self.conn)
        define(self.conn, TWO_REVIEWS)
        self.exec_id = dispatch(self.conn, "two-reviews")
        cancel(self.conn, self.exec_id, step_of(self.conn, self.exec_id, "legal"), "one", "admin")
        cancel(self.conn, self.exec_id, step_of(self.conn, self.exec_id, "brand"), None, "admin")
        self.all = events(self.conn, self.exec_id)
        self.external = [e for e in self.all if e["type"] in EXTERNAL_TYPES]
        self.max_seq = self.all[-1]["seq"]

    def get(self, **data):
        return velt(self.conn, "executions/getEvents", {"executionId": self.exec_id, **data})

    def test_setup_has_internal_events_between_external_ones(self):
        types = {e["type"] for e in self.all}
        self.assertIn("step.scheduled", types)
        self.assertLess(len(self.external), len(self.all))

    def test_default_page_returns_every_external_event_oldest_first(self):
        result = self.get()
        self.assertEqual([e["seq"] for e in result["events"]], [e["seq"] for e in self.external])
        self.assertEqual([e["type"] for e in result["events"]], [e["type"] for e in self.external])

    def test_internal_events_are_excluded(self):
        types = {e["type"] for e in self.get()["events"]}
        self.assertFalse(types & {"step.scheduled", "step.started"}, types)
        self.assertLessEqual(types, EXTERNAL_TYPES)

    def test_external_column_matches_the_external_types(self):
        for e in self.all:
            self.assertEqual(e["external"], 1 if e["type"] in EXTERNAL_TYPES else 0, e)

    def test_last_page_cursor_is_the_highest_seq_and_has_more_is_false(self):
        result = self.get()
        self.assertEqual((result["nextCursor"], result["hasMore"]), (self.max_seq, False))

    def test_since_seq_returns_only_later_events(self):
        since = self.external[1]["seq"]
        result = self.get(sinceSeq=since)
        self.assertEqual([e["seq"] for e in result["events"]],
                         [e["seq"] for e in self.external if e["seq"] > since])

    def test_since_seq_at_the_end_returns_nothing(self):
        result = self.get(sinceSeq=self.max_seq)
        self.assertEqual((result["events"], result["nextCursor"], result["hasMore"]), ([], self.max_seq, False))

    def test_page_size_limits_the_page_and_sets_has_more(self):
        result = self.get(pageSize=2)
        self.assertEqual([e["seq"] for e in result["events"]], [e["seq"] for e in self.external[:2]])
        self.assertIs(result["hasMore"], True)
        # the highest seq looked at: at least the last returned, before the next external one
        self.assertGreaterEqual(result["nextCursor"], self.external[1]["seq"])
        self.assertLess(result["nextCursor"], self.external[2]["seq"])

    def test_paging_with_next_cursor_visits_each_external_event_once(self):
        seen, since, pages = [], 0, 0
        while True:
            result = self.get(sinceSeq=since, pageSize=2)
            pages += 1
            self.assertLessEqual(len(result["events"]), 2)
            seen += [e["seq"] for e in result["events"]]
            self.assertGreaterEqual(result["nextCursor"], since)
            since = result["nextCursor"]
            if not result["hasMore"]:
                break
            self.assertLess(pages, 20, "paging does not end")
        self.assertEqual(seen, [e["seq"] for e in self.external])

    def test_step_cancelled_event_view(self):
        cancelled = [e for e in self.get()["events"] if e["type"] == "step.cancelled"]
        self.assertEqual([e["data"] for e in cancelled],
                         [{"actorId": "admin", "reason": "one"}, {"actorId": "admin", "reason": None}])
        self.assertTrue(all(e["stepId"] and e["eventId"].startswith("evt_") for e in cancelled))

    def test_events_carry_the_execution_correlation_id(self):
        corr = velt(self.conn, "executions/get", {"executionId": self.exec_id})["correlationId"]
        self.assertEqual({e["correlationId"] for e in self.get()["events"]}, {corr})

    def test_execution_dispatched_data(self):
        first = self.get()["events"][0]
        self.assertEqual(first["type"], "execution.dispatched")
        self.assertEqual((first["seq"], first["data"]["definitionId"], first["data"]["definitionVersion"]),
                         (1, "two-reviews", 1))
        self.assertEqual(sorted(first["data"]["rootStepIds"]),
                         sorted(r[0] for r in self.conn.execute(
                             "SELECT step_id FROM velt_steps WHERE execution_id = ?", (self.exec_id,))))

    def test_page_size_0_is_invalid_argument(self):
        self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt('executions/getEvents', ?)",
                              (json.dumps({"executionId": self.exec_id, "pageSize": 0}),))

    def test_page_size_501_is_invalid_argument(self):
        self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt('executions/getEvents', ?)",
                              (json.dumps({"executionId": self.exec_id, "pageSize": 501}),))

    def test_page_size_500_is_accepted(self):
        self.assertEqual(len(self.get(pageSize=500)["events"]), len(self.external))

    def test_unknown_execution_is_not_found(self):
        self.assertVeltRaises("NOT_FOUND", "SELECT velt('executions/getEvents', ?)",
                              (json.dumps({"executionId": "exec_nope"}),))


class CancelExecutionTest(TwoReviewsTest, VeltAssertions):

    def test_cancel_live_execution_returns_cancelled_true(self):
        result = velt(self.conn, "executions/cancel", {"executionId": self.exec_id, "reason": "postponed"})
        self.assertEqual(result, {"cancelled": True, "executionId": self.exec_id})

    def test_cancel_live_execution_cancels_every_live_step(self):
        velt(self.conn, "executions/cancel", {"executionId": self.exec_id, "reason": "postponed"})
        rows = self.conn.execute("SELECT status, completed_at IS NOT NULL FROM velt_steps WHERE execution_id = ?",
                                 (self.exec_id,)).fetchall()
        self.assertEqual(rows, [("cancelled", 1), ("cancelled", 1)])
        self.assertEqual(execution_status(self.conn, self.exec_id), "cancelled")

    def test_cancel_live_execution_sets_cancelled_at(self):
        self.conn.execute("SELECT velt_set_clock(1731432005000)")
        velt(self.conn, "executions/cancel", {"executionId": self.exec_id})
        row = self.conn.execute("SELECT cancelled_at FROM velt_executions WHERE execution_id = ?",
                                (self.exec_id,)).fetchone()
        self.assertEqual(row, (1731432005000,))

    def test_cancel_live_execution_events(self):
        before = len(events(self.conn, self.exec_id))
        velt(self.conn, "executions/cancel", {"executionId": self.exec_id, "reason": "postponed"})
        new = events(self.conn, self.exec_id)[before:]
        self.assertEqual([e["type"] for e in new], ["step.cancelled", "step.cancelled", "execution.cancelled"])
        self.assertEqual({e["step_id"] for e in new[:2]}, {self.legal, self.brand})
        for e in new[:2]:
            self.assertEqual((e["actor_id"], e["reason"], e["data"]),
                             ("system:execution-cancel", "postponed",
                              {"actorId": "system:execution-cancel", "reason": "postponed"}))
        self.assertEqual(new[2]["data"], {"reason": "postponed"})

    def test_cancel_live_execution_fires_no_edge(self):
        velt(self.conn, "executions/cancel", {"executionId": self.exec_id})
        (n,) = self.conn.execute("SELECT count(*) FROM velt_steps WHERE execution_id = ?", (self.exec_id,)).fetchone()
        self.assertEqual(n, 2)

    def test_cancel_terminal_execution_is_a_no_op(self):
        velt(self.conn, "executions/cancel", {"executionId": self.exec_id})
        before = self.snapshot()
        result = velt(self.conn, "executions/cancel", {"executionId": self.exec_id, "reason": "again"})
        self.assertEqual(result, {"cancelled": False, "executionId": self.exec_id})
        self.assertEqual(self.snapshot(), before)

    def test_cancel_completed_execution_is_a_no_op(self):
        cancel(self.conn, self.exec_id, self.legal)
        cancel(self.conn, self.exec_id, self.brand)
        before = self.snapshot()
        result = velt(self.conn, "executions/cancel", {"executionId": self.exec_id})
        self.assertEqual(result, {"cancelled": False, "executionId": self.exec_id})
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(execution_status(self.conn, self.exec_id), "completed")

    def test_cancel_step_after_execution_cancel_is_failed_precondition(self):
        velt(self.conn, "executions/cancel", {"executionId": self.exec_id})
        self.assertVeltRaises("FAILED_PRECONDITION", "SELECT velt_cancel_step(?, ?, NULL, 'admin')",
                              (self.exec_id, self.legal),
                              message=f"FAILED_PRECONDITION: step '{self.legal}' is already cancelled")

    def test_cancel_unknown_execution_is_not_found(self):
        self.assertVeltRaises("NOT_FOUND", "SELECT velt('executions/cancel', ?)",
                              (json.dumps({"executionId": "exec_nope"}),))

    def test_cancel_execution_reason_501_is_invalid_argument(self):
        before = self.snapshot()
        self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt('executions/cancel', ?)",
                              (json.dumps({"executionId": self.exec_id, "reason": "r" * 501}),))
        self.assertEqual(self.snapshot(), before)


class DispatchIdempotencyTest(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)
        define(self.conn, TWO_REVIEWS)
        define(self.conn, ONE_REVIEW)

    def counts(self):
        return tuple(self.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("velt_executions", "velt_steps"))

    def test_same_key_returns_the_same_execution_deduplicated(self):
        first = velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        second = velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        self.assertIs(first["deduplicated"], False)
        self.assertEqual(second, {"executionId": first["executionId"], "correlationId": first["correlationId"],
                                  "deduplicated": True})

    def test_same_key_creates_nothing(self):
        velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        before = self.counts()
        velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        self.assertEqual(self.counts(), before)

    def test_same_key_appends_idempotency_suppressed_to_the_original(self):
        first = velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        last = events(self.conn, first["executionId"])[-1]
        self.assertEqual((last["type"], last["external"]), ("idempotency.suppressed", 0))

    def test_same_key_with_another_definition_is_failed_precondition(self):
        velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        before = self.snapshot()
        self.assertVeltRaises("FAILED_PRECONDITION", "SELECT velt('executions/dispatch', ?)",
                              (json.dumps({"definitionId": "one-review", "idempotencyKey": "k-1"}),))
        self.assertEqual(self.snapshot(), before)

    def test_dispatch_unknown_definition_is_not_found(self):
        self.assertVeltRaises("NOT_FOUND", "SELECT velt('executions/dispatch', ?)",
                              (json.dumps({"definitionId": "no-such-definition"}),))

    def test_different_keys_create_different_executions(self):
        a = velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-1"})
        b = velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "idempotencyKey": "k-2"})
        self.assertNotEqual(a["executionId"], b["executionId"])

    def test_correlation_id_is_kept_or_generated(self):
        given = velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews", "correlationId": "corr_mine"})
        made = velt(self.conn, "executions/dispatch", {"definitionId": "two-reviews"})
        self.assertEqual(given["correlationId"], "corr_mine")
        self.assertTrue(made["correlationId"].startswith("corr_"), made)


class DefinitionsTest(DbTest, VeltAssertions):
    def test_duplicate_create_is_already_exists(self):
        define(self.conn, TWO_REVIEWS)
        self.assertVeltRaises("ALREADY_EXISTS", "SELECT velt('definitions/create', ?)", (json.dumps(TWO_REVIEWS),))

    def test_duplicate_create_through_velt_api_is_an_already_exists_envelope(self):
        define(self.conn, TWO_REVIEWS)
        self.assertApiError(velt_api(self.conn, "definitions/create", {"data": TWO_REVIEWS}), "ALREADY_EXISTS")

    def test_duplicate_create_leaves_the_first_definition(self):
        define(self.conn, TWO_REVIEWS)
        changed = dict(TWO_REVIEWS, name="Renamed")
        with self.assertRaises(sqlite3.IntegrityError):
            define(self.conn, changed)
        self.assertEqual(velt(self.conn, "definitions/get", {"definitionId": "two-reviews"})["name"], "Two reviews")

    def human_without_reject_edge(self):
        return {
            "definitionId": "no-reject-path",
            "name": "No reject path",
            "nodes": [
                {"nodeId": "review", "type": "human",
                 "config": {"reviewers": [{"userId": "u1", "mandatory": True}]}},
                {"nodeId": "publish", "type": "agent", "config": {"agentId": "__mock__", "url": "https://x.example"}},
            ],
            "edges": [{"from": "review", "to": "publish", "on": "approve"}],
        }

    def test_human_node_without_reject_edge_fails_the_linter(self):
        response = velt_api(self.conn, "definitions/create", {"data": self.human_without_reject_edge()})
        err = self.assertApiError(response, "INVALID_ARGUMENT")
        self.assertTrue(err["message"].startswith("Definition linter failed:"), err["message"])
        self.assertIn("review", err["message"])

    def test_linter_failure_raises_invalid_argument_through_velt(self):
        msg = self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt('definitions/create', ?)",
                                    (json.dumps(self.human_without_reject_edge()),))
        self.assertTrue(msg.startswith("INVALID_ARGUMENT: Definition linter failed:"), msg)

    def test_linter_failure_stores_nothing(self):
        define(self.conn, TWO_REVIEWS)
        velt_api(self.conn, "definitions/create", {"data": self.human_without_reject_edge()})
        names = [r[0] for r in self.conn.execute("SELECT definition_id FROM velt_definitions")]
        self.assertEqual(names, ["two-reviews"])

    def test_get_unknown_definition_is_not_found(self):
        self.assertVeltRaises("NOT_FOUND", "SELECT velt('definitions/get', ?)",
                              (json.dumps({"definitionId": "no-such-definition"}),))


class ClockAndIdsTest(DbTest):
    CLOCK = 1731432000000

    def test_set_clock_fixes_started_at(self):
        define(self.conn, TWO_REVIEWS)
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK,))
        ex = dispatch(self.conn, "two-reviews")
        self.assertEqual(velt(self.conn, "executions/get", {"executionId": ex})["startedAt"], self.CLOCK)

    def test_set_clock_fixes_velt_now(self):
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK,))
        self.assertEqual(self.conn.execute("SELECT velt_now()").fetchone()[0], self.CLOCK)

    def test_set_clock_null_returns_to_the_real_clock(self):
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK,))
        self.conn.execute("SELECT velt_set_clock(NULL)")
        now = self.conn.execute("SELECT velt_now()").fetchone()[0]
        self.assertLess(abs(now - time.time() * 1000), 60_000)

    def test_set_clock_fixes_definition_timestamps(self):
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK,))
        result = define(self.conn, TWO_REVIEWS)
        self.assertEqual((result["createdAt"], result["updatedAt"]), (self.CLOCK, self.CLOCK))

    def test_set_clock_fixes_event_timestamps(self):
        define(self.conn, TWO_REVIEWS)
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK,))
        ex = dispatch(self.conn, "two-reviews")
        stamps = {r[0] for r in self.conn.execute("SELECT timestamp FROM velt_events WHERE execution_id = ?", (ex,))}
        self.assertEqual(stamps, {self.CLOCK})

    def test_execution_id_format(self):
        define(self.conn, TWO_REVIEWS)
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK,))
        ex = dispatch(self.conn, "two-reviews")
        self.assertRegex(ex, rf"^exec_{self.CLOCK}_[a-z0-9]{{8}}$")

    def test_root_step_id_format(self):
        define(self.conn, TWO_REVIEWS)
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK,))
        ex = dispatch(self.conn, "two-reviews")
        self.assertRegex(step_of(self.conn, ex, "legal"), rf"^step_legal_{self.CLOCK}_[a-z0-9]{{6}}$")

    def test_cancel_step_completed_at_uses_the_clock(self):
        define(self.conn, ONE_REVIEW)
        ex = dispatch(self.conn, "one-review")
        self.conn.execute("SELECT velt_set_clock(?)", (self.CLOCK + 5,))
        sid = step_of(self.conn, ex, "review")
        cancel(self.conn, ex, sid)
        self.assertEqual(step_row(self.conn, ex, sid), ("cancelled", self.CLOCK + 5))
        self.assertEqual(velt(self.conn, "executions/get", {"executionId": ex})["completedAt"], self.CLOCK + 5)


if __name__ == "__main__":
    unittest.main()
