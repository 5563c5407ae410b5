"""The definition linter (reference 2.1 "Linter codes", ext/lint.c): rules over
the whole graph, run after the schema.

A linter failure is INVALID_ARGUMENT whose message is "Definition linter
failed: " followed by a JSON array of findings {code, message, nodeId?,
edgeIndex?, groupId?}, with empty error.details; through velt() it raises
sqlite3.OperationalError (SQLITE_ERROR). Every finding is reported at once,
in the linter's pass order. Nothing is stored.

One test per rule (each producing its finding), named after the code.
"""
import json
import sqlite3
import unittest

from velt_helpers import SQLITE_ERROR, DbTest, VeltAssertions, define, unsynced, velt_api

PREFIX = "Definition linter failed: "


def agent(node_id, **extra):
    return {"nodeId": node_id, "type": "agent",
            "config": {"agentId": "__mock__", "url": "https://a.example.com"}, **extra}


def human(node_id, **extra):
    return {"nodeId": node_id, "type": "human",
            "config": {"reviewers": [{"userId": "u1", "mandatory": True}]}, **extra}


def G(group_id="g"):
    return {"kind": "group", "groupId": group_id}


def grp(group_id, members, expected=None, quorum=1, policy=None, required=None):
    g = {"groupId": group_id, "memberNodeIds": members,
         "expectedSteps": len(members) if expected is None else expected, "quorum": quorum}
    if policy:
        g["onQuorumMet"] = policy
    if required is not None:
        g["requiredNodeIds"] = required
    return g


def loop(n=3):
    return {"maxIterations": n}


def definition(nodes, edges, groups=None):
    d = {"definitionId": "lint-case", "name": "Lint case", "nodes": nodes, "edges": edges}
    if groups is not None:
        d["groups"] = groups
    return d


# name -> (definition, expected findings as (code, {field: value}) in order)
CASES = {
    # ---- nodes
    "duplicate_node_id": (
        definition([agent("a"), agent("b"), agent("a")], [{"from": "a", "to": "b"}]),
        [("duplicate-node-id", {"nodeId": "a"})]),
    "node_missing_config": (
        definition([agent("a"), {"nodeId": "b", "type": "notification"}], [{"from": "a", "to": "b"}]),
        [("node-missing-config", {"nodeId": "b"})]),
    # ---- groups
    "group_duplicate_id": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": "a"}, {"from": "s", "to": "b"}],
                   [grp("g", ["a"]), grp("g", ["b"])]),
        [("group-duplicate-id", {"groupId": "g"})]),
    "group_member_missing": (
        definition([agent("s"), agent("a")], [{"from": "s", "to": G()}], [grp("g", ["a", "ghost"], expected=2)]),
        [("group-member-missing", {"groupId": "g", "nodeId": "ghost"})]),
    "group_member_duplicate": (
        definition([agent("s"), agent("a")], [{"from": "s", "to": G()}], [grp("g", ["a", "a"], expected=2)]),
        [("group-member-duplicate", {"groupId": "g", "nodeId": "a"})]),
    "group_node_in_multiple_groups": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G("g1")}, {"from": "s", "to": G("g2")}],
                   [grp("g1", ["a"]), grp("g2", ["b", "a"], expected=2)]),
        [("group-node-in-multiple-groups", {"groupId": "g2", "nodeId": "a"})]),
    "group_expected_steps_invalid": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G()}],
                   [grp("g", ["a", "b"], expected=3)]),
        [("group-expected-steps-invalid", {"groupId": "g"})]),
    "group_quorum_invalid": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G()}],
                   [grp("g", ["a", "b"], quorum=3)]),
        [("group-quorum-invalid", {"groupId": "g"})]),
    "group_cancelonquorum_requires_quorum_lt_expected": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G()}],
                   [grp("g", ["a", "b"], quorum=2, policy="cancelOnQuorum")]),
        [("group-cancelonquorum-requires-quorum-lt-expected", {"groupId": "g"})]),
    "group_required_not_in_members": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G()}, {"from": "s", "to": "b"}],
                   [grp("g", ["a"], required=["b"])]),
        [("group-required-not-in-members", {"groupId": "g", "nodeId": "b"})]),
    "group_required_exceeds_quorum": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G()}],
                   [grp("g", ["a", "b"], quorum=1, required=["a", "b"])]),
        [("group-required-exceeds-quorum", {"groupId": "g"})]),
    # ---- edges
    "dangling_edge_to_unknown_node": (
        definition([agent("a")], [{"from": "a", "to": "ghost"}]),
        [("dangling-edge", {"edgeIndex": 0})]),
    "dangling_edge_from_unknown_node": (
        definition([agent("a")], [{"from": {"kind": "node", "nodeId": "ghost"}, "to": "a"}]),
        [("dangling-edge", {"edgeIndex": 0})]),
    "dangling_edge_to_unknown_group": (
        definition([agent("a")], [{"from": "a", "to": G("nope")}]),
        [("dangling-edge", {"edgeIndex": 0})]),
    "edge_group_to_group_forbidden": (
        definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G("g1")}, {"from": G("g1"), "to": G("g2")}],
                   [grp("g1", ["a"]), grp("g2", ["b"])]),
        [("edge-group-to-group-forbidden", {"edgeIndex": 1, "groupId": "g1"})]),
    "edge_exhausted_requires_loop_sibling": (
        definition([agent("a"), agent("b")], [{"from": "a", "to": "b", "on": "exhausted"}]),
        [("edge-exhausted-requires-loop-sibling", {"edgeIndex": 0})]),
    "edge_exhausted_invalid_second_exit": (
        definition([agent("a"), human("b"), agent("c"), agent("d")],
                   [{"from": "a", "to": "b"}, {"from": "b", "to": "a", "on": "reject", "loop": loop()},
                    {"from": "b", "to": "c", "on": "exhausted"}, {"from": "b", "to": "d", "on": "exhausted"}]),
        [("edge-exhausted-invalid", {"edgeIndex": 3})]),
    "edge_exhausted_invalid_into_group": (
        definition([agent("a"), human("b"), agent("c")],
                   [{"from": "a", "to": "b"}, {"from": "b", "to": "a", "on": "reject", "loop": loop()},
                    {"from": "b", "to": G(), "on": "exhausted"}],
                   [grp("g", ["c"])]),
        [("edge-exhausted-invalid", {"edgeIndex": 2, "groupId": "g"})]),
    "edge_exhausted_with_a_plain_reject_sibling": (
        definition([agent("a"), human("b"), agent("c"), agent("d")],
                   [{"from": "a", "to": "b"}, {"from": "b", "to": "c", "on": "reject"},
                    {"from": "b", "to": "d", "on": "exhausted"}]),
        [("edge-exhausted-requires-loop-sibling", {"edgeIndex": 2})]),
    "dangling_loop_edge": (
        definition([agent("a"), human("b")],
                   [{"from": "a", "to": "b"}, {"from": "b", "to": "ghost", "on": "reject", "loop": loop()}]),
        [("dangling-edge", {"edgeIndex": 1})]),
    "group_duplicate_id_with_join_on_quorum": (
        definition([agent("s"), agent("a"), agent("b"), agent("c")],
                   [{"from": "s", "to": "a"}, {"from": "s", "to": "b"}, {"from": "a", "to": "c"}],
                   [grp("g", ["a", "b"], policy="joinOnQuorum"), grp("g", ["c"], policy="joinOnQuorum")]),
        [("group-duplicate-id", {"groupId": "g"}),
         ("group-joinonquorum-members-must-share-successors", {"groupId": "g", "nodeId": "b"})]),
    "edge_loop_target_must_be_node": (
        definition([agent("a"), agent("b")],
                   [{"from": G(), "to": "b"}, {"from": "b", "to": G(), "on": "reject", "loop": loop()}],
                   [grp("g", ["a"])]),
        [("edge-loop-target-must-be-node", {"edgeIndex": 1, "groupId": "g"})]),
    "group_from_loop_requires_joinonquorum": (
        definition([agent("a"), agent("b1"), agent("b2")],
                   [{"from": "a", "to": G()}, {"from": G(), "to": "a", "on": "reject", "loop": loop()}],
                   [grp("g", ["b1", "b2"], quorum=2)]),
        [("group-from-loop-requires-joinonquorum", {"edgeIndex": 1, "groupId": "g"})]),
    "group_from_reject_requires_loop": (
        definition([agent("a"), agent("b1"), agent("b2"), agent("c")],
                   [{"from": "a", "to": G()}, {"from": G(), "to": "c", "on": "reject"}],
                   [grp("g", ["b1", "b2"], quorum=1, policy="cancelOnQuorum")]),
        [("group-from-reject-requires-loop", {"edgeIndex": 1, "groupId": "g"})]),
    # ---- graph
    "cycle_detected": (
        definition([agent("r"), agent("a"), agent("b")],
                   [{"from": "r", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}]),
        [("cycle-detected", {"edgeIndex": 2})]),
    "cycle_detected_reject_edge_without_loop": (
        definition([agent("r"), agent("a"), human("b")],
                   [{"from": "r", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a", "on": "reject"}]),
        [("cycle-detected", {"edgeIndex": 2})]),
    "cycle_detected_self_edge": (
        definition([agent("r"), agent("a")], [{"from": "r", "to": "a"}, {"from": "a", "to": "a"}]),
        [("cycle-detected", {"edgeIndex": 1})]),
    "unreachable_node": (
        definition([agent("a"), agent("b"), agent("c")], [{"from": "a", "to": "b"}, {"from": "b", "to": "a"},
                                                        {"from": "b", "to": "c"}]),
        [("cycle-detected", {"edgeIndex": 1}), ("unreachable-node", {"nodeId": "a"}),
         ("unreachable-node", {"nodeId": "b"}), ("unreachable-node", {"nodeId": "c"})]),
    "edge_loop_target_not_ancestor": (
        definition([agent("a"), agent("b"), agent("c")],
                   [{"from": "a", "to": "b"}, {"from": "b", "to": "c", "on": "reject", "loop": loop()}]),
        [("edge-loop-target-not-ancestor", {"edgeIndex": 1, "nodeId": "b"})]),
    # ---- routes
    "human_node_requires_reject_path": (
        definition([human("review"), agent("publish")], [{"from": "review", "to": "publish", "on": "approve"}]),
        [("human-node-requires-reject-path", {"nodeId": "review"})]),
    "human_group_member_requires_reject_path": (
        definition([agent("s"), human("h1"), human("h2"), agent("out")],
                   [{"from": "s", "to": G()}, {"from": "h1", "to": "out", "on": "reject"}],
                   [grp("g", ["h1", "h2"])]),
        [("human-node-requires-reject-path", {"nodeId": "h2"})]),
    "missing_breach_edge": (
        definition([agent("a", slaMs=60000), agent("b")], [{"from": "a", "to": "b", "on": "approve"}]),
        [("missing-breach-edge", {"nodeId": "a"})]),
    "missing_breach_edge_with_only_reject_edges": (
        definition([human("a", slaMs=60000), agent("b")], [{"from": "a", "to": "b", "on": "reject"}]),
        [("missing-breach-edge", {"nodeId": "a"})]),
    "group_joinonquorum_members_must_share_successors": (
        definition([agent("s"), agent("m1"), agent("m2"), agent("x"), agent("y")],
                   [{"from": "s", "to": G()}, {"from": "m1", "to": "x"}, {"from": "m2", "to": "y"}],
                   [grp("g", ["m1", "m2"], policy="joinOnQuorum")]),
        [("group-joinonquorum-members-must-share-successors", {"groupId": "g", "nodeId": "m2"})]),
    # ---- loops (on an otherwise clean graph)
    "loop_node_in_multiple_loops": (
        definition([agent("a"), agent("b"), agent("c")],
                   [{"from": "a", "to": "b"}, {"from": "b", "to": "c"},
                    {"from": "c", "to": "a", "on": "reject", "loop": loop()},
                    {"from": "c", "to": "b", "on": "reject", "loop": loop()}]),
        [("loop-node-in-multiple-loops", {"nodeId": "b"}), ("loop-node-in-multiple-loops", {"nodeId": "c"})]),
    "loop_body_must_have_single_terminal": (
        definition([agent("a"), agent("b"), agent("c"), agent("d")],
                   [{"from": "a", "to": "b"}, {"from": "b", "to": "c"},
                    {"from": "c", "to": "a", "on": "reject", "loop": loop()}, {"from": "b", "to": "d"}]),
        [("loop-body-must-have-single-terminal", {"nodeId": "b", "edgeIndex": 2})]),
    "loop_group_bounded_quorum_must_equal_expected": (
        definition([agent("a"), agent("b1"), agent("b2")],
                   [{"from": "a", "to": G()}, {"from": G(), "to": "a", "on": "reject", "loop": loop()}],
                   [grp("g", ["b1", "b2"], quorum=1, policy="joinOnQuorum")]),
        [("loop-group-bounded-quorum-must-equal-expected", {"edgeIndex": 1, "groupId": "g"})]),
}


def _add(cls, name, fn):
    fn.__name__ = name
    assert not hasattr(cls, name), name
    setattr(cls, name, fn)


class LintBase(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def findings(self, d):
        """The findings of a refused definition (and the checks common to all)."""
        resp = velt_api(self.conn, "definitions/create", {"data": d})
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        self.assertTrue(err["message"].startswith(PREFIX), err["message"])
        self.assertEqual(err["details"], {}, "linter failures carry everything in the message")
        found = json.loads(err["message"][len(PREFIX):])
        self.assertIsInstance(found, list)
        for f in found:
            self.assertIsInstance(f["code"], str)
            self.assertIsInstance(f["message"], str)
            self.assertLessEqual(set(f), {"code", "message", "nodeId", "edgeIndex", "groupId"}, f)
        self.assertEqual(self.conn.execute("SELECT count(*) FROM velt_definitions").fetchone()[0], 0)
        return found


class LintRuleTest(LintBase):
    pass


def _make_case(d, expected):
    def test(self):
        found = self.findings(d)
        self.assertEqual([f["code"] for f in found], [code for code, _ in expected], found)
        for f, (code, fields) in zip(found, expected):
            for k, v in fields.items():
                self.assertEqual(f.get(k), v, f"{code}.{k} in {f}")
    return test


for _name, (_d, _expected) in CASES.items():
    _add(LintRuleTest, "test_" + _name, _make_case(_d, _expected))


class LintReportTest(LintBase):
    """How findings are reported."""

    def test_human_reject_path_message_is_upstreams_rule_text(self):
        (f,) = self.findings(CASES["human_node_requires_reject_path"][0])
        self.assertEqual(f["message"], 'every human node must have at least one outgoing edge with on="reject" '
                                       '(a forward reject route or a reject back-edge): review')

    def test_cycle_message_names_the_cycle(self):
        (f,) = self.findings(CASES["cycle_detected"][0])
        self.assertIn("a -> b -> a", f["message"])

    def test_reject_cycle_message_suggests_loop(self):
        (f,) = self.findings(CASES["cycle_detected_reject_edge_without_loop"][0])
        self.assertIn('without "loop"', f["message"])
        self.assertIn("a -> b -> a", f["message"])

    def test_dangling_edge_message_names_the_side_and_the_id(self):
        (f,) = self.findings(CASES["dangling_edge_to_unknown_node"][0])
        self.assertEqual(f["message"], "edges[0].to names node 'ghost', which is not declared")

    def test_dangling_group_edge_message_says_group(self):
        (f,) = self.findings(CASES["dangling_edge_to_unknown_group"][0])
        self.assertEqual(f["message"], "edges[0].to names group 'nope', which is not declared")

    def test_both_ends_dangling_are_two_findings(self):
        found = self.findings(definition([agent("a")], [{"from": "x", "to": "y"}]))
        self.assertEqual([(f["code"], f["edgeIndex"]) for f in found], [("dangling-edge", 0), ("dangling-edge", 0)])
        self.assertEqual([f["message"].split(" ")[0] for f in found], ["edges[0].from", "edges[0].to"])

    def test_several_rules_are_reported_together_in_pass_order(self):
        d = definition([human("review"), {"nodeId": "nocfg", "type": "agent"}, agent("review")],
                       [{"from": "review", "to": "ghost"}, {"from": "nocfg", "to": "review"}])
        found = self.findings(d)
        self.assertEqual([f["code"] for f in found],
                         ["duplicate-node-id", "node-missing-config", "dangling-edge",
                          "human-node-requires-reject-path"])

    def test_loop_rules_wait_for_an_otherwise_clean_graph(self):
        d = CASES["loop_body_must_have_single_terminal"][0]
        d = dict(d, nodes=d["nodes"] + [{"nodeId": "nocfg", "type": "agent"}])
        found = self.findings(d)
        self.assertEqual([f["code"] for f in found], ["node-missing-config"])

    def test_more_than_50_findings_are_capped_with_a_more_findings_note(self):
        nodes = [{"nodeId": f"n{i}", "type": "agent"} for i in range(60)]
        found = self.findings(definition(nodes, []))
        self.assertEqual(len(found), 51)
        self.assertEqual({f["code"] for f in found[:50]}, {"node-missing-config"})
        self.assertEqual(found[50], {"code": "more-findings", "message": "10 more findings not shown"})

    def test_exactly_50_findings_have_no_note(self):
        nodes = [{"nodeId": f"n{i}", "type": "agent"} for i in range(50)]
        found = self.findings(definition(nodes, []))
        self.assertEqual(len(found), 50)

    def test_linter_failure_through_velt_raises_operational_error(self):
        d = CASES["cycle_detected"][0]
        try:
            self.conn.execute("SELECT velt('definitions/create', ?)", (json.dumps(d),)).fetchall()
            self.fail("a linter failure must raise")
        except sqlite3.OperationalError as e:
            self.assertEqual(e.sqlite_errorcode, SQLITE_ERROR)
            msg = str(e)
        self.assertTrue(msg.startswith("INVALID_ARGUMENT: " + PREFIX), msg)
        self.assertEqual(json.loads(msg[len("INVALID_ARGUMENT: " + PREFIX):])[0]["code"], "cycle-detected")

    def test_linter_runs_after_the_schema(self):
        d = dict(CASES["cycle_detected"][0], name="")
        resp = velt_api(self.conn, "definitions/create", {"data": d})
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        self.assertEqual(err["details"]["issues"][0]["path"], ["name"])


class LintAcceptsTest(LintBase):
    """Graphs near each rule that the linter accepts."""

    def accept(self, d):
        view = define(self.conn, d)
        self.assertEqual(view["version"], 1)
        return view

    def test_leaf_node_with_sla_needs_no_breach_edge(self):
        self.accept(definition([agent("a"), agent("b", slaMs=1000)], [{"from": "a", "to": "b"}]))

    def test_node_with_sla_and_custom_edge_has_a_breach_edge(self):
        self.accept(definition([agent("a", slaMs=1000), agent("b")],
                               [{"from": "a", "to": "b", "on": "custom",
                                 "when": '{"op":"eq","args":[{"var":"step.status"},"breached"]}'}]))

    def test_human_with_reject_back_edge_has_a_reject_path(self):
        self.accept(definition([agent("a", **{"config": {"agentId": "w", "urlPath": "u"}}), human("b")],
                               [{"from": "a", "to": "b"}, {"from": "b", "to": "a", "on": "reject", "loop": loop()}]))

    def test_human_group_member_gets_its_reject_path_from_the_group(self):
        self.accept(definition([agent("s"), human("h1"), human("h2"), agent("out")],
                               [{"from": "s", "to": G()}, {"from": G(), "to": "out", "on": "reject"}],
                               [grp("g", ["h1", "h2"])]))

    def test_join_on_quorum_members_sharing_successors(self):
        self.accept(definition([agent("s"), agent("m1"), agent("m2"), agent("x")],
                               [{"from": "s", "to": G()}, {"from": "m1", "to": "x"}, {"from": "m2", "to": "x"}],
                               [grp("g", ["m1", "m2"], policy="joinOnQuorum")]))

    def test_join_on_quorum_group_of_one_member(self):
        self.accept(definition([agent("s"), agent("m1"), agent("x")],
                               [{"from": "s", "to": G()}, {"from": "m1", "to": "x"}],
                               [grp("g", ["m1"], policy="joinOnQuorum")]))

    def test_cancel_on_quorum_with_quorum_below_expected(self):
        self.accept(definition([agent("s"), agent("a"), agent("b")], [{"from": "s", "to": G()}],
                               [grp("g", ["a", "b"], quorum=1, policy="cancelOnQuorum", required=["a"])]))

    def test_diamond_is_not_a_cycle(self):
        self.accept(definition([agent("a"), agent("b"), agent("c"), agent("d")],
                               [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"from": "b", "to": "d"},
                                {"from": "c", "to": "d"}]))

    def test_duplicate_edges_are_allowed(self):
        self.accept(definition([agent("a"), agent("b")], [{"from": "a", "to": "b"}, {"from": "a", "to": "b"}]))

    def test_loop_with_exhausted_exit(self):
        self.accept(definition([agent("a"), human("b"), agent("c")],
                               [{"from": "a", "to": "b"}, {"from": "b", "to": "a", "on": "reject", "loop": loop()},
                                {"from": "b", "to": "c", "on": "exhausted"}]))

    def test_two_disjoint_loops(self):
        self.accept(definition([agent("a"), agent("b"), agent("c"), agent("d")],
                               [{"from": "a", "to": "b"}, {"from": "b", "to": "a", "on": "reject", "loop": loop()},
                                {"from": "b", "to": "c"}, {"from": "c", "to": "d"},
                                {"from": "d", "to": "c", "on": "reject", "loop": loop()}]))


if __name__ == "__main__":
    unittest.main()
