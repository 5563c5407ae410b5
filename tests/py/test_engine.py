"""The engine (SPEC 6.0-6.4, ext/engine.c) through executions/dispatch, and the
error contract (SPEC 4 "Errors", ext/error.c) as Python sees it.

Mock agents (__mock__) complete at once with {decision:"approve",
synthetic:true, agentId:"__mock__"}, so graphs of them run several levels
deep during dispatch: steps that finish at once fan out breadth first, each
fired edge spawns "<parent>__to__<node>", two fired edges from one step into
one node make one step, and a node entered from two steps gets one step per
edge. Worker agents (any other agentId) stay pending; human steps wait.
"""
import json
import sqlite3
import unittest

from velt_helpers import (EXTENSION, SQLITE_CONSTRAINT_FUNCTION, SQLITE_ERROR, SQLITE_READONLY, DbTest,
                          VeltAssertions, define, dispatch, events, execution_status, unsynced, velt, velt_api)


def mock(node_id):
    return {"nodeId": node_id, "type": "agent", "config": {"agentId": "__mock__", "url": "https://a.example.com"}}


def worker(node_id):
    return {"nodeId": node_id, "type": "agent", "config": {"agentId": "worker", "urlPath": "doc"}}


def human(node_id, config=None):
    return {"nodeId": node_id, "type": "human",
            "config": config or {"reviewers": [{"userId": "u1", "mandatory": True}]}}


def definition(definition_id, nodes, edges, **extra):
    return {"definitionId": definition_id, "name": definition_id, "nodes": nodes, "edges": edges, **extra}


def e(a, b, on=None):
    d = {"from": a, "to": b}
    if on:
        d["on"] = on
    return d


class EngineTest(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def run_def(self, d, **extra):
        define(self.conn, d)
        return dispatch(self.conn, d["definitionId"], **extra)

    def steps(self, exec_id):
        """[(node_id, step_id, status)] in creation order."""
        return self.conn.execute("SELECT node_id, step_id, status FROM velt_steps WHERE execution_id = ?"
                                 " ORDER BY rowid", (exec_id,)).fetchall()

    def root(self, exec_id):
        return self.steps(exec_id)[0][1]


class FanOutTest(EngineTest):
    def test_chain_of_mock_agents_runs_every_level_during_dispatch(self):
        x = self.run_def(definition("chain", [mock("a"), mock("b"), mock("c"), worker("d")],
                                    [e("a", "b"), e("b", "c"), e("c", "d")]))
        self.assertEqual([(n, s) for n, _, s in self.steps(x)],
                         [("a", "completed"), ("b", "completed"), ("c", "completed"), ("d", "pending")])

    def test_chained_step_ids_append_to_node_for_each_level(self):
        x = self.run_def(definition("chain", [mock("a"), mock("b"), mock("c"), worker("d")],
                                    [e("a", "b"), e("b", "c"), e("c", "d")]))
        root = self.root(x)
        self.assertRegex(root, r"^step_a_\d{13}_[a-z0-9]{6}$")
        self.assertEqual([sid for _, sid, _ in self.steps(x)],
                         [root, root + "__to__b", root + "__to__b__to__c", root + "__to__b__to__c__to__d"])

    def test_spawned_step_input_is_the_parent_output(self):
        x = self.run_def(definition("chain", [mock("a"), worker("b")], [e("a", "b")]))
        (inp,) = self.conn.execute("SELECT input FROM velt_steps WHERE execution_id = ? AND node_id = 'b'",
                                   (x,)).fetchone()
        self.assertEqual(json.loads(inp), {"decision": "approve", "synthetic": True, "agentId": "__mock__"})

    def test_root_step_has_no_input(self):
        x = self.run_def(definition("chain", [mock("a"), worker("b")], [e("a", "b")]))
        (inp,) = self.conn.execute("SELECT input FROM velt_steps WHERE execution_id = ? AND node_id = 'a'",
                                   (x,)).fetchone()
        self.assertIsNone(inp)

    def test_events_come_breadth_first(self):
        x = self.run_def(definition("bfs", [mock("a"), mock("b"), mock("c"), worker("d"), worker("e")],
                                    [e("a", "b"), e("a", "c"), e("b", "d"), e("c", "e")]))
        root = self.root(x)
        got = [(ev["type"], ev["step_id"]) for ev in events(self.conn, x)]
        b, c = root + "__to__b", root + "__to__c"
        self.assertEqual(got, [
            ("execution.dispatched", None),
            ("step.scheduled", root), ("step.started", root), ("step.completed", root),
            ("step.scheduled", b), ("step.started", b), ("step.completed", b),
            ("step.scheduled", c), ("step.started", c), ("step.completed", c),
            ("step.scheduled", b + "__to__d"),
            ("step.scheduled", c + "__to__e"),
        ])

    def test_mock_step_completed_event_data(self):
        x = self.run_def(definition("one", [mock("a")], []))
        done = [ev for ev in events(self.conn, x) if ev["type"] == "step.completed"]
        self.assertEqual(done[0]["data"], {"agentId": "__mock__", "synthetic": True, "decision": "approve"})

    def test_two_edges_from_one_step_into_one_node_make_one_step(self):
        x = self.run_def(definition("twice", [mock("a"), worker("b")],
                                    [e("a", "b"), e("a", "b", "approve"), e("a", "b", "always")]))
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a", "b"])

    def test_two_edges_from_one_step_into_one_node_schedule_it_once(self):
        x = self.run_def(definition("twice", [mock("a"), worker("b")], [e("a", "b"), e("a", "b", "approve")]))
        scheduled = [ev for ev in events(self.conn, x) if ev["type"] == "step.scheduled"]
        self.assertEqual(len(scheduled), 2)

    def test_node_entered_from_two_steps_gets_one_step_per_edge(self):
        x = self.run_def(definition("join", [mock("a"), mock("b"), worker("c")], [e("a", "c"), e("b", "c")]))
        steps = self.steps(x)
        ra = [sid for n, sid, _ in steps if n == "a"][0]
        rb = [sid for n, sid, _ in steps if n == "b"][0]
        self.assertEqual(sorted(sid for n, sid, _ in steps if n == "c"), sorted([ra + "__to__c", rb + "__to__c"]))

    def test_diamond_of_mocks_runs_the_join_node_twice(self):
        x = self.run_def(definition("diamond", [mock("a"), mock("b"), mock("c"), mock("d")],
                                    [e("a", "b"), e("a", "c"), e("b", "d"), e("c", "d")]))
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a", "b", "c", "d", "d"])
        self.assertEqual(execution_status(self.conn, x), "completed")

    def test_approve_edge_fires_from_a_mock(self):
        x = self.run_def(definition("roles", [mock("a"), worker("yes"), worker("no")],
                                    [e("a", "yes", "approve"), e("a", "no", "reject")]))
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a", "yes"])

    def test_custom_edge_sees_the_trigger_context(self):
        d = definition("ctx", [mock("a"), worker("big"), worker("small")],
                       [{"from": "a", "to": "big", "on": "custom",
                         "when": '{"op":"gte","args":[{"var":"execution.input.amount"},1000]}'},
                        {"from": "a", "to": "small", "on": "custom",
                         "when": '{"op":"lt","args":[{"var":"execution.input.amount"},1000]}'}])
        x = self.run_def(d, triggerContext={"amount": 1500})
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a", "big"])

    def test_all_mock_execution_completes_during_dispatch(self):
        x = self.run_def(definition("all-mock", [mock("a"), mock("b")], [e("a", "b")]))
        view = velt(self.conn, "executions/get", {"executionId": x})
        self.assertEqual(view["status"], "completed")
        self.assertIsNotNone(view["completedAt"])
        self.assertIsNone(view["cancelledAt"])
        self.assertIsNone(view["failureReason"])
        self.assertEqual(events(self.conn, x)[-1]["type"], "execution.completed")

    def test_execution_with_a_pending_step_stays_running(self):
        x = self.run_def(definition("pending", [mock("a"), worker("b")], [e("a", "b")]))
        self.assertEqual(execution_status(self.conn, x), "running")
        self.assertNotIn("execution.completed", [ev["type"] for ev in events(self.conn, x)])

    def test_mock_fan_out_into_human_step_waits(self):
        x = self.run_def(definition("to-human", [mock("a"), human("h"), worker("r")],
                                    [e("a", "h"), e("h", "r", "reject")]))
        self.assertEqual([(n, s) for n, _, s in self.steps(x)], [("a", "completed"), ("h", "waiting")])

    def test_worker_agent_notification_and_webhook_steps_stay_pending(self):
        d = definition("kinds", [mock("a"), worker("w"),
                                 {"nodeId": "n", "type": "notification",
                                  "config": {"channel": "email", "recipients": ["a@example.com"],
                                             "bodyTemplate": "b"}},
                                 {"nodeId": "h", "type": "webhook", "config": {"url": "https://h.example.com"}}],
                       [e("a", "w"), e("a", "n"), e("a", "h")])
        x = self.run_def(d)
        self.assertEqual([(n, s) for n, _, s in self.steps(x)],
                         [("a", "completed"), ("w", "pending"), ("n", "pending"), ("h", "pending")])
        types = self.conn.execute("SELECT node_type FROM velt_steps WHERE execution_id = ? ORDER BY rowid",
                                  (x,)).fetchall()
        self.assertEqual([t for (t,) in types], ["agent", "agent", "notification", "webhook"])

    def test_pending_step_has_only_scheduled_event(self):
        x = self.run_def(definition("pending", [worker("w")], []))
        self.assertEqual([ev["type"] for ev in events(self.conn, x)], ["execution.dispatched", "step.scheduled"])

    def test_cancelling_a_step_after_fan_out_spawns_nothing(self):
        x = self.run_def(definition("cancel", [mock("a"), worker("b"), worker("c")], [e("a", "b"), e("b", "c")]))
        b = [sid for n, sid, _ in self.steps(x) if n == "b"][0]
        velt(self.conn, "steps/cancel", {"executionId": x, "stepId": b, "actorId": "admin"})
        self.assertEqual([(n, s) for n, _, s in self.steps(x)], [("a", "completed"), ("b", "cancelled")])
        self.assertEqual(execution_status(self.conn, x), "completed")


class RootsTest(EngineTest):
    def test_nodes_without_incoming_edges_are_the_roots(self):
        x = self.run_def(definition("roots", [worker("a"), worker("b"), worker("c")], [e("a", "c")]))
        (data,) = [ev["data"] for ev in events(self.conn, x) if ev["type"] == "execution.dispatched"]
        self.assertEqual(data["rootStepIds"], [sid for n, sid, _ in self.steps(x)])
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a", "b"])

    def test_root_step_ids_follow_declaration_order(self):
        x = self.run_def(definition("roots", [worker("z"), worker("m"), worker("a")], []))
        (data,) = [ev["data"] for ev in events(self.conn, x) if ev["type"] == "execution.dispatched"]
        self.assertEqual([sid.split("_")[1] for sid in data["rootStepIds"]], ["z", "m", "a"])

    def test_node_entered_by_a_custom_edge_is_not_a_root(self):
        x = self.run_def(definition("roots", [worker("a"), worker("b")],
                                    [{"from": "a", "to": "b", "on": "custom", "when": "false"}]))
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a"])

    def test_node_entered_through_a_group_object_endpoint_is_not_a_root(self):
        x = self.run_def(definition("roots", [worker("a"), worker("b")],
                                    [{"from": {"kind": "node", "nodeId": "a"}, "to": {"kind": "node", "nodeId": "b"}}]))
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a"])

    def test_dispatched_event_names_definition_and_version(self):
        x = self.run_def(definition("roots", [worker("a")], []))
        ev = events(self.conn, x)[0]
        self.assertEqual(ev["type"], "execution.dispatched")
        self.assertEqual((ev["data"]["definitionId"], ev["data"]["definitionVersion"]), ("roots", 1))

    def test_definition_whose_every_node_is_on_a_cycle_is_refused_at_create(self):
        resp = velt_api(self.conn, "definitions/create", {"data": definition(
            "no-root", [worker("a"), worker("b")], [e("a", "b"), e("b", "a")])})
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        codes = [f["code"] for f in json.loads(err["message"][len("Definition linter failed: "):])]
        self.assertIn("cycle-detected", codes)
        self.assertIn("unreachable-node", codes)
        self.assertApiError(velt_api(self.conn, "executions/dispatch", {"data": {"definitionId": "no-root"}}),
                            "NOT_FOUND")


class HumanStepTest(EngineTest):
    def awaiting(self, config):
        x = self.run_def(definition("review", [human("h", config), worker("r")], [e("h", "r", "reject")]))
        (ev,) = [ev for ev in events(self.conn, x) if ev["type"] == "step.awaiting-approval"]
        return ev, self.root(x)

    def test_awaiting_approval_counts_reviewers_and_mandatory_ones(self):
        ev, sid = self.awaiting({"reviewers": [{"userId": "u1", "mandatory": True},
                                               {"userId": "u2", "mandatory": False},
                                               {"userId": "u3"}]})
        self.assertEqual(ev["data"], {"waitingForReviewers": 3, "mandatoryCount": 1, "resumeKey": "human:" + sid})

    def test_legacy_reviewer_ids_are_all_mandatory(self):
        ev, sid = self.awaiting({"reviewerIds": ["u1", "u2"]})
        self.assertEqual(ev["data"], {"waitingForReviewers": 2, "mandatoryCount": 2, "resumeKey": "human:" + sid})

    def test_human_step_events(self):
        x = self.run_def(definition("review", [human("h"), worker("r")], [e("h", "r", "reject")]))
        self.assertEqual([(ev["type"], ev["external"]) for ev in events(self.conn, x)],
                         [("execution.dispatched", 1), ("step.scheduled", 0), ("step.started", 0),
                          ("step.awaiting-approval", 1)])


class NotRunYetTest(EngineTest):
    """Definitions with groups or loops are stored but refused at dispatch."""

    GROUPS = definition("with-groups", [mock("s"), mock("m1"), mock("m2")],
                        [{"from": "s", "to": {"kind": "group", "groupId": "g"}}],
                        groups=[{"groupId": "g", "memberNodeIds": ["m1", "m2"], "expectedSteps": 2, "quorum": 1}])
    LOOPS = definition("with-loops", [worker("draft"), human("review"), mock("publish")],
                       [e("draft", "review"), e("review", "publish", "approve"),
                        {"from": "review", "to": "draft", "on": "reject", "loop": {"maxIterations": 3}}])

    def refuse(self, d, what):
        define(self.conn, d)
        msg = self.assertVeltRaises(
            "FAILED_PRECONDITION", "SELECT velt('executions/dispatch', ?)",
            (json.dumps({"definitionId": d["definitionId"]}),),
            message=f"FAILED_PRECONDITION: definition '{d['definitionId']}' uses {what}, which this version of "
                    "velt stores but does not run yet")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM velt_executions").fetchone()[0], 0)
        return msg

    def test_groups_are_refused_at_dispatch(self):
        self.refuse(self.GROUPS, "parallel groups")

    def test_loops_are_refused_at_dispatch(self):
        self.refuse(self.LOOPS, "loops")

    def test_refusal_is_a_failed_precondition_envelope(self):
        define(self.conn, self.LOOPS)
        err = self.assertApiError(velt_api(self.conn, "executions/dispatch",
                                           {"data": {"definitionId": "with-loops"}}), "FAILED_PRECONDITION")
        self.assertEqual(err["details"], {})
        self.assertTrue(err["message"].startswith("definition 'with-loops' uses loops"))

    def test_empty_groups_array_runs(self):
        d = definition("no-groups", [mock("a")], [], groups=[])
        x = self.run_def(d)
        self.assertEqual(execution_status(self.conn, x), "completed")


class ExecutionViewTest(EngineTest):
    def test_execution_view_has_the_documented_keys(self):
        x = self.run_def(definition("view", [mock("a"), worker("b")], [e("a", "b")]))
        view = velt(self.conn, "executions/get", {"executionId": x})
        self.assertEqual(set(view), {"executionId", "status", "startedAt", "completedAt", "cancelledAt",
                                     "definitionId", "definitionVersion", "correlationId", "idempotencyKey",
                                     "failureReason", "steps"})

    def test_step_views_have_the_documented_keys_in_creation_order(self):
        x = self.run_def(definition("view", [mock("a"), worker("b")], [e("a", "b")]))
        view = velt(self.conn, "executions/get", {"executionId": x})
        for s in view["steps"]:
            self.assertEqual(set(s), {"stepId", "nodeId", "nodeType", "status", "groupId", "startedAt",
                                      "completedAt", "output", "error"})
        self.assertEqual([s["nodeId"] for s in view["steps"]], ["a", "b"])

    def test_step_views_carry_status_times_and_output(self):
        self.conn.execute("SELECT velt_set_clock(1700000000000)")
        x = self.run_def(definition("view", [mock("a"), worker("b")], [e("a", "b")]))
        a, b = velt(self.conn, "executions/get", {"executionId": x})["steps"]
        self.assertEqual((a["status"], a["startedAt"], a["completedAt"], a["nodeType"], a["groupId"], a["error"]),
                         ("completed", 1700000000000, 1700000000000, "agent", None, None))
        self.assertEqual(a["output"], {"decision": "approve", "synthetic": True, "agentId": "__mock__"})
        self.assertEqual((b["status"], b["startedAt"], b["completedAt"], b["output"]), ("pending", None, None, {}))

    def test_execution_view_values(self):
        self.conn.execute("SELECT velt_set_clock(1700000000000)")
        x = self.run_def(definition("view", [worker("a")], []), idempotencyKey="k-1", correlationId="c-1")
        view = velt(self.conn, "executions/get", {"executionId": x})
        self.assertEqual({k: v for k, v in view.items() if k != "steps"}, {
            "executionId": x, "status": "running", "startedAt": 1700000000000, "completedAt": None,
            "cancelledAt": None, "definitionId": "view", "definitionVersion": 1, "correlationId": "c-1",
            "idempotencyKey": "k-1", "failureReason": None})

    def test_get_of_unknown_execution_is_not_found(self):
        define(self.conn, definition("view", [worker("a")], []))
        err = self.assertApiError(velt_api(self.conn, "executions/get", {"data": {"executionId": "exec_nope"}}),
                                  "NOT_FOUND")
        self.assertEqual(err["message"], "execution 'exec_nope' not found")


class StoredGraphTest(EngineTest):
    """The engine's own guards, against graphs the create path never stores
    but that an operator's plain SQL (or another writer) could put in the
    storage tables (SPEC 3: whatever writes the tables)."""

    def plant(self, definition_id, nodes, forward):
        """Point definition_id at a new version with these nodes and
        compiled forward edges."""
        compiled = {"forwardEdges": [{"from": a, "to": b, "role": "always", "when": None} for a, b in forward],
                    "loops": []}
        cur = self.conn.execute(
            "INSERT INTO _velt_definition_versions(definition_id, version, name, scope, nodes, edges, compiled,"
            " created_at) VALUES (?, 2, 'planted', '{\"level\":\"apiKey\"}', ?, '[]', ?, 0)",
            (definition_id, json.dumps(nodes), json.dumps(compiled)))
        self.conn.execute("UPDATE _velt_definitions SET version = 2, version_id = ? WHERE definition_id = ?",
                          (cur.lastrowid, definition_id))
        self.conn.commit()

    def setUp(self):
        super().setUp()
        define(self.conn, definition("stored", [worker("a")], []))

    def test_graph_without_a_root_is_refused_at_dispatch(self):
        self.plant("stored", [worker("a"), worker("b")], [("a", "b"), ("b", "a")])
        self.assertVeltRaises("FAILED_PRECONDITION", "SELECT velt('executions/dispatch', ?)",
                              (json.dumps({"definitionId": "stored"}),),
                              message="FAILED_PRECONDITION: definition 'stored' has no root nodes")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM velt_executions").fetchone()[0], 0)

    def test_edge_to_an_undeclared_node_fails_the_dispatch(self):
        self.plant("stored", [mock("a")], [("a", "ghost")])
        self.assertVeltRaises("FAILED_PRECONDITION", "SELECT velt('executions/dispatch', ?)",
                              (json.dumps({"definitionId": "stored"}),),
                              message="FAILED_PRECONDITION: edge to unknown node 'ghost'")
        self.assertEqual(self.conn.execute("SELECT count(*) FROM velt_steps").fetchone()[0], 0)

    def test_cycle_of_mock_agents_stops_at_the_step_id_limit(self):
        a, b = "a" * 64, "b" * 64  # long ids: fewer hops to the limit
        self.plant("stored", [mock("r"), mock(a), mock(b)], [("r", a), (a, b), (b, a)])
        msg = self.assertVeltRaises("FAILED_PRECONDITION", "SELECT velt('executions/dispatch', ?)",
                                    (json.dumps({"definitionId": "stored"}),))
        self.assertIn("passes 16384 characters", msg)
        self.assertEqual(self.conn.execute("SELECT count(*) FROM velt_events").fetchone()[0], 0)

    def end_with_a_stored_status(self, status):
        """Two pending steps; the first gets `status` through plain SQL (as a
        host's worker might record it), then the second is cancelled."""
        define(self.conn, definition("rollup", [worker("a"), worker("b")], []))
        x = dispatch(self.conn, "rollup")
        a, b = [sid for _, sid, _ in self.steps(x)]
        self.conn.execute("UPDATE _velt_steps SET status = ?, completed_at = 1 WHERE execution_id = ?"
                          " AND step_id = ?", (status, x, a))
        self.conn.commit()
        velt(self.conn, "steps/cancel", {"executionId": x, "stepId": b, "actorId": "admin"})
        return x, a

    def test_unhandled_failed_step_fails_the_execution(self):
        x, a = self.end_with_a_stored_status("failed")
        view = velt(self.conn, "executions/get", {"executionId": x})
        self.assertEqual(view["status"], "failed")
        self.assertEqual(view["failureReason"],
                         {"code": "step-failed", "message": f"step {a} failed and no edge handled it"})
        self.assertEqual(events(self.conn, x)[-1]["type"], "execution.failed")

    def test_unhandled_breached_step_fails_the_execution(self):
        x, a = self.end_with_a_stored_status("breached")
        view = velt(self.conn, "executions/get", {"executionId": x})
        self.assertEqual((view["status"], view["failureReason"]["code"]), ("failed", "step-breached"))

    def test_skipped_step_does_not_fail_the_execution(self):
        x, _ = self.end_with_a_stored_status("skipped")
        self.assertEqual(execution_status(self.conn, x), "completed")

    def test_pinned_version_is_the_one_in_force_at_dispatch(self):
        x = dispatch(self.conn, "stored")
        self.plant("stored", [worker("b")], [])
        y = dispatch(self.conn, "stored")
        versions = self.conn.execute("SELECT definition_version FROM velt_executions ORDER BY started_at, rowid"
                                     ).fetchall()
        self.assertEqual(sorted(v for (v,) in versions), [1, 2])
        self.assertEqual([n for n, _, _ in self.steps(x)], ["a"])
        self.assertEqual([n for n, _, _ in self.steps(y)], ["b"])


class ErrorContractTest(EngineTest):
    """SPEC 4 "Errors": each status's message, exception class, SQLite code and
    velt_api() envelope."""

    def setUp(self):
        super().setUp()
        define(self.conn, definition("errs", [human("h"), worker("r")], [e("h", "r", "reject")]))
        define(self.conn, NotRunYetTest.GROUPS)

    def raised(self, path, data):
        try:
            self.conn.execute("SELECT velt(?, ?)", (path, json.dumps(data))).fetchall()
        except sqlite3.Error as exc:
            return exc
        self.fail("expected an error")

    CASES = {
        "INVALID_ARGUMENT": ("definitions/get", {"definitionId": "X"}, sqlite3.OperationalError, SQLITE_ERROR),
        "NOT_FOUND": ("definitions/get", {"definitionId": "nope"}, sqlite3.OperationalError, SQLITE_ERROR),
        "FAILED_PRECONDITION": ("executions/dispatch", {"definitionId": "with-groups"}, sqlite3.IntegrityError,
                                SQLITE_CONSTRAINT_FUNCTION),
        "ALREADY_EXISTS": ("definitions/create",
                           definition("errs", [worker("a")], []), sqlite3.IntegrityError,
                           SQLITE_CONSTRAINT_FUNCTION),
    }

    def check_raised(self, status):
        path, data, cls, code = self.CASES[status]
        exc = self.raised(path, data)
        self.assertIs(type(exc), cls, f"{status}: {exc!r}")
        self.assertTrue(str(exc).startswith(status + ": "), str(exc))
        self.assertEqual(exc.sqlite_errorcode, code)
        self.assertEqual(exc.sqlite_errorname, {SQLITE_ERROR: "SQLITE_ERROR",
                                                SQLITE_CONSTRAINT_FUNCTION: "SQLITE_CONSTRAINT_FUNCTION"}[code])
        return exc

    def check_envelope(self, status):
        path, data, _, _ = self.CASES[status]
        resp = velt_api(self.conn, path, {"data": data})
        err = self.assertApiError(resp, status)
        exc = self.raised(path, data)
        self.assertEqual(str(exc), status + ": " + err["message"], "the envelope's message drops the prefix")
        return err

    def test_invalid_argument_raises_operational_error_code_1(self):
        self.check_raised("INVALID_ARGUMENT")

    def test_not_found_raises_operational_error_code_1(self):
        self.check_raised("NOT_FOUND")

    def test_failed_precondition_raises_integrity_error_code_1043(self):
        self.check_raised("FAILED_PRECONDITION")

    def test_already_exists_raises_integrity_error_code_1043(self):
        self.check_raised("ALREADY_EXISTS")

    def test_invalid_argument_envelope_has_issues(self):
        err = self.check_envelope("INVALID_ARGUMENT")
        self.assertEqual(err["details"]["issues"][0]["path"], ["definitionId"])

    def test_not_found_envelope_has_empty_details(self):
        self.assertEqual(self.check_envelope("NOT_FOUND")["details"], {})

    def test_failed_precondition_envelope_has_empty_details(self):
        self.assertEqual(self.check_envelope("FAILED_PRECONDITION")["details"], {})

    def test_already_exists_envelope_has_empty_details(self):
        self.assertEqual(self.check_envelope("ALREADY_EXISTS")["details"], {})

    def test_unknown_endpoint_is_not_found(self):
        exc = self.raised("definitions/rename", {})
        self.assertIsInstance(exc, sqlite3.OperationalError)
        self.assertEqual(str(exc), "NOT_FOUND: no endpoint 'definitions/rename'")
        self.assertEqual(exc.sqlite_errorcode, SQLITE_ERROR)

    def test_unknown_endpoint_envelope(self):
        err = self.assertApiError(velt_api(self.conn, "nope", {"data": {}}), "NOT_FOUND")
        self.assertEqual(err["message"], "no endpoint 'nope'")

    def test_full_path_is_accepted(self):
        view = velt(self.conn, "/v2/workflow/definitions/get", {"definitionId": "errs"})
        self.assertEqual(view["definitionId"], "errs")

    def test_envelope_body_must_have_only_data(self):
        err = self.assertApiError(velt_api(self.conn, "definitions/get",
                                           {"data": {"definitionId": "errs"}, "extra": 1}), "INVALID_ARGUMENT")
        self.assertEqual(err["message"], 'the request body must be an object with one key, "data"')

    def test_envelope_body_that_is_not_an_object(self):
        self.assertApiError(velt_api(self.conn, "definitions/get", "[1]"), "INVALID_ARGUMENT")

    def test_malformed_json_is_invalid_argument(self):
        self.assertVeltRaises("INVALID_ARGUMENT", "SELECT velt('definitions/get', '{\"definitionId\":')")

    def test_failed_call_inside_a_transaction_keeps_the_transaction(self):
        self.conn.execute("BEGIN")
        define(self.conn, definition("in-txn", [worker("a")], []))
        self.raised(*self.CASES["FAILED_PRECONDITION"][:2])
        self.conn.execute("COMMIT")
        self.assertEqual(velt(self.conn, "definitions/get", {"definitionId": "in-txn"})["version"], 1)

    def read_only(self):
        """A second connection to the same file, opened read-only, velt loaded."""
        ro = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        self.addCleanup(ro.close)
        ro.enable_load_extension(True)
        ro.load_extension(EXTENSION)
        return ro

    def test_sqlite_errors_keep_sqlites_code_through_velt(self):
        ro = self.read_only()
        try:
            ro.execute("SELECT velt('definitions/create', ?)",
                       (json.dumps(definition("ro-def", [worker("a")], [])),)).fetchall()
            self.fail("a write on a read-only database must fail")
        except sqlite3.OperationalError as exc:
            self.assertEqual(exc.sqlite_errorcode, SQLITE_READONLY)
            self.assertIn("readonly", str(exc))
            self.assertFalse(str(exc).startswith("INVALID_ARGUMENT"))

    def test_sqlite_errors_raise_through_velt_api_instead_of_an_envelope(self):
        ro = self.read_only()
        with self.assertRaises(sqlite3.OperationalError) as cm:
            ro.execute("SELECT velt_api('definitions/create', ?)",
                       (json.dumps({"data": definition("ro-def", [worker("a")], [])}),)).fetchall()
        self.assertEqual(cm.exception.sqlite_errorcode, SQLITE_READONLY)

    def test_reads_work_on_a_read_only_database(self):
        ro = self.read_only()
        (text,) = ro.execute("SELECT velt_api('definitions/get', ?)",
                             (json.dumps({"data": {"definitionId": "nope"}}),)).fetchone()
        self.assertEqual(json.loads(text)["error"]["status"], "NOT_FOUND")


if __name__ == "__main__":
    unittest.main()
