"""`when` expressions of custom edges (reference 2.1 "Edges and when", SPEC
6.3, ext/when.c), evaluated for real.

Each case creates a definition whose root is a __mock__ agent "src" (it
completes at once with output {decision:"approve", synthetic:true,
agentId:"__mock__"}) with one custom edge to a worker agent "t", dispatches
it with the case's triggerContext (execution.input) and checks whether the
step "<src step>__to__t" exists. The context a `when` sees is {output,
step:{stepId,nodeId,status,retryCount}, execution:{input}}.

Invalid ASTs are refused at create with INVALID_ARGUMENT at
edges[0].when: unknown operators, wrong arity, var roots other than output,
step and execution, non-literal or uncompilable regex patterns, and
JavaScript-only regex syntax (README: `regex` is POSIX extended). A literal
`null` expression is falsy like any other. One test per case.
"""
import json
import unittest

from velt_helpers import DbTest, VeltAssertions, define, dispatch, unsynced, velt, velt_api

V = lambda path: {"var": path}  # noqa: E731


def op(name, *args):
    return {"op": name, "args": list(args)}


class Raw(str):
    """`when` text written as is (not a JSON-encoded AST)."""


def definition(when, definition_id="when-case"):
    return {
        "definitionId": definition_id, "name": "When case",
        "nodes": [
            {"nodeId": "src", "type": "agent", "config": {"agentId": "__mock__", "url": "https://a.example.com"}},
            {"nodeId": "t", "type": "agent", "config": {"agentId": "worker", "urlPath": "doc"}},
        ],
        "edges": [{"from": "src", "to": "t", "on": "custom",
                   "when": when if isinstance(when, Raw) else json.dumps(when)}],
    }


def nots(n, leaf=True):
    ast = leaf
    for _ in range(n):
        ast = op("not", ast)
    return ast


DECISION = V("output.decision")
INPUT = {"amount": 1200, "zero": 0, "neg": -3.5, "name": "Purchase Order", "empty": "", "none": None,
         "flag": True, "off": False, "items": ["a", "b", "c"], "nums": [1, 2, 3], "noItems": [],
         "obj": {"a": {"b": {"c": "deep"}}}, "emptyObj": {}, "accent": "h\u00e9llo", "emoji": "\U0001F600x",
         "mixed": [1, "1", None, {"k": 1}]}

# name -> (ast, triggerContext or None for none, fires?)
CASES = {
    # ---- eq / ne / neq
    "eq_output_decision_approve": (op("eq", DECISION, "approve"), None, True),
    "eq_output_decision_reject": (op("eq", DECISION, "reject"), None, False),
    "eq_boolean_output": (op("eq", V("output.synthetic"), True), None, True),
    "eq_boolean_vs_string": (op("eq", V("output.synthetic"), "true"), None, False),
    "eq_integer_and_float": (op("eq", V("execution.input.amount"), 1200.0), INPUT, True),
    "eq_number_vs_numeric_string": (op("eq", V("execution.input.amount"), "1200"), INPUT, False),
    "eq_missing_and_null": (op("eq", V("output.nothing"), None), None, True),
    "eq_null_and_null": (op("eq", V("execution.input.none"), None), INPUT, True),
    "eq_null_and_missing": (op("eq", V("execution.input.none"), V("output.nothing")), INPUT, True),
    "eq_null_and_string": (op("eq", V("execution.input.none"), "x"), INPUT, False),
    "eq_missing_and_empty_string": (op("eq", V("output.nothing"), ""), None, False),
    "eq_string_case_sensitive": (op("eq", DECISION, "Approve"), None, False),
    "eq_array_value_to_var_array": (op("eq", V("execution.input.items"), V("execution.input.items")), INPUT, True),
    "eq_object_values": (op("eq", V("execution.input.obj.a"), V("execution.input.obj.a")), INPUT, True),
    "eq_two_literals": (op("eq", 1, 1), None, True),
    "eq_string_and_missing": (op("eq", DECISION, V("output.nothing")), None, False),
    "ne_differs": (op("ne", DECISION, "reject"), None, True),
    "ne_equal": (op("ne", DECISION, "approve"), None, False),
    "ne_missing_and_null": (op("ne", V("output.nothing"), None), None, False),
    "neq_differs": (op("neq", DECISION, "reject"), None, True),
    "neq_equal": (op("neq", DECISION, "approve"), None, False),
    # ---- comparisons: two numbers or two strings, otherwise false
    "gt_number_true": (op("gt", V("execution.input.amount"), 1000), INPUT, True),
    "gt_number_false": (op("gt", V("execution.input.amount"), 5000), INPUT, False),
    "gt_equal_numbers": (op("gt", V("execution.input.amount"), 1200), INPUT, False),
    "gt_negative_fraction": (op("gt", V("execution.input.neg"), -4), INPUT, True),
    "gte_equal_numbers": (op("gte", V("execution.input.amount"), 1200), INPUT, True),
    "gte_smaller": (op("gte", V("execution.input.amount"), 1201), INPUT, False),
    "lt_number_true": (op("lt", V("execution.input.zero"), 1), INPUT, True),
    "lt_equal_numbers": (op("lt", 2, 2), None, False),
    "lte_equal_numbers": (op("lte", 2, 2), None, True),
    "lte_larger": (op("lte", 3, 2), None, False),
    "gt_strings": (op("gt", "b", "a"), None, True),
    "lt_strings": (op("lt", "apple", "banana"), None, True),
    "gte_equal_strings": (op("gte", DECISION, "approve"), None, True),
    "lt_strings_false": (op("lt", "b", "a"), None, False),
    "gt_number_vs_string": (op("gt", V("execution.input.amount"), "1000"), INPUT, False),
    "gt_string_vs_number": (op("gt", DECISION, 1), None, False),
    "lte_number_vs_string": (op("lte", V("execution.input.amount"), "99999"), INPUT, False),
    "gt_missing_vs_number": (op("gt", V("output.nothing"), 0), None, False),
    "lt_missing_vs_number": (op("lt", V("output.nothing"), 0), None, False),
    "gte_booleans": (op("gte", True, True), None, False),
    # ---- and / or / not
    "and_all_true": (op("and", op("eq", DECISION, "approve"), V("output.synthetic")), None, True),
    "and_one_false": (op("and", op("eq", DECISION, "approve"), V("output.nothing")), None, False),
    "and_single_true": (op("and", True), None, True),
    "and_single_false": (op("and", 0), None, False),
    "and_64_args": (op("and", *[True] * 64), None, True),
    "and_short_circuits_on_first_false": (op("and", False, op("regex", V("output.decision"), "x")), None, False),
    "or_one_true": (op("or", op("eq", DECISION, "reject"), op("eq", DECISION, "approve")), None, True),
    "or_none_true": (op("or", op("eq", DECISION, "reject"), V("output.nothing"), 0, ""), None, False),
    "or_single": (op("or", "x"), None, True),
    "not_false": (op("not", False), None, True),
    "not_true": (op("not", V("output.synthetic")), None, False),
    "not_missing": (op("not", V("output.nothing")), None, True),
    "not_nonempty_string": (op("not", "x"), None, False),
    # ---- includes: substring or array element
    "includes_substring": (op("includes", V("execution.input.name"), "Order"), INPUT, True),
    "includes_substring_missing": (op("includes", V("execution.input.name"), "order"), INPUT, False),
    "includes_empty_substring": (op("includes", DECISION, ""), None, True),
    "includes_array_element": (op("includes", V("execution.input.items"), "b"), INPUT, True),
    "includes_array_element_missing": (op("includes", V("execution.input.items"), "z"), INPUT, False),
    "includes_array_number": (op("includes", V("execution.input.nums"), 2), INPUT, True),
    "includes_array_number_vs_string": (op("includes", V("execution.input.nums"), "2"), INPUT, False),
    "includes_array_null_element": (op("includes", V("execution.input.mixed"), None), INPUT, True),
    "includes_in_empty_array": (op("includes", V("execution.input.noItems"), "a"), INPUT, False),
    "includes_on_number": (op("includes", V("execution.input.amount"), "1"), INPUT, False),
    "includes_string_with_number_needle": (op("includes", V("execution.input.name"), 1), INPUT, False),
    "includes_on_missing": (op("includes", V("output.nothing"), "a"), None, False),
    # ---- startsWith / endsWith
    "starts_with_true": (op("startsWith", V("execution.input.name"), "Purchase"), INPUT, True),
    "starts_with_false": (op("startsWith", V("execution.input.name"), "Order"), INPUT, False),
    "starts_with_longer_prefix": (op("startsWith", DECISION, "approved!"), None, False),
    "starts_with_empty": (op("startsWith", DECISION, ""), None, True),
    "starts_with_non_string": (op("startsWith", V("execution.input.amount"), "1"), INPUT, False),
    "ends_with_true": (op("endsWith", V("execution.input.name"), "Order"), INPUT, True),
    "ends_with_false": (op("endsWith", V("execution.input.name"), "Purchase"), INPUT, False),
    "ends_with_longer_suffix": (op("endsWith", DECISION, "preapprove"), None, False),
    "ends_with_whole_string": (op("endsWith", DECISION, "approve"), None, True),
    "ends_with_non_string_suffix": (op("endsWith", DECISION, 1), None, False),
    # ---- length (characters of a string, items of an array, 0 otherwise)
    "length_of_string": (op("eq", op("length", DECISION), 7), None, True),
    "length_counts_characters_not_bytes": (op("eq", op("length", V("execution.input.accent")), 5), INPUT, True),
    "length_counts_emoji_as_one": (op("eq", op("length", V("execution.input.emoji")), 2), INPUT, True),
    "length_of_array": (op("eq", op("length", V("execution.input.items")), 3), INPUT, True),
    "length_of_number_is_0": (op("eq", op("length", V("execution.input.amount")), 0), INPUT, True),
    "length_of_object_is_0": (op("eq", op("length", V("execution.input.obj")), 0), INPUT, True),
    "length_of_missing_is_0": (op("eq", op("length", V("output.nothing")), 0), None, True),
    "length_compared": (op("gt", op("length", V("execution.input.items")), 2), INPUT, True),
    "length_of_empty_string_is_falsy": (op("length", V("execution.input.empty")), INPUT, False),
    "length_of_nonempty_array_is_truthy": (op("length", V("execution.input.items")), INPUT, True),
    # ---- isEmpty
    "is_empty_missing": (op("isEmpty", V("output.nothing")), None, True),
    "is_empty_null": (op("isEmpty", V("execution.input.none")), INPUT, True),
    "is_empty_empty_string": (op("isEmpty", V("execution.input.empty")), INPUT, True),
    "is_empty_empty_array": (op("isEmpty", V("execution.input.noItems")), INPUT, True),
    "is_empty_empty_object": (op("isEmpty", V("execution.input.emptyObj")), INPUT, True),
    "is_empty_string": (op("isEmpty", DECISION), None, False),
    "is_empty_array": (op("isEmpty", V("execution.input.items")), INPUT, False),
    "is_empty_object": (op("isEmpty", V("execution.input.obj")), INPUT, False),
    "is_empty_zero_is_not_empty": (op("isEmpty", V("execution.input.zero")), INPUT, False),
    "is_empty_false_is_not_empty": (op("isEmpty", V("execution.input.off")), INPUT, False),
    # ---- regex (POSIX extended), flags "i"
    "regex_matches": (op("regex", V("execution.input.name"), "^Purchase [A-Z][a-z]+$"), INPUT, True),
    "regex_does_not_match": (op("regex", V("execution.input.name"), "^Order"), INPUT, False),
    "regex_unanchored_search": (op("regex", DECISION, "pro"), None, True),
    "regex_is_case_sensitive_without_flags": (op("regex", DECISION, "^APPROVE$"), None, False),
    "regex_i_flag_ignores_case": (op("regex", DECISION, "^APPROVE$", "i"), None, True),
    "regex_flags_without_i": (op("regex", DECISION, "^APPROVE$", "g"), None, False),
    "regex_flags_containing_i": (op("regex", DECISION, "^APPROVE$", "gi"), None, True),
    "regex_alternation_and_classes": (op("regex", V("execution.input.name"), "(Sale|Purchase) [[:alpha:]]+"),
                                      INPUT, True),
    "regex_on_number": (op("regex", V("execution.input.amount"), "12"), INPUT, False),
    "regex_escaped_dot_is_a_literal_dot": (op("regex", DECISION, "^appr\\.?ove$"), None, True),
    "regex_escaped_dot_does_not_match_other_characters": (op("regex", V("execution.input.name"), "Purchase\\.Order"),
                                                          INPUT, False),
    "regex_on_missing": (op("regex", V("output.nothing"), ".*"), None, False),
    "regex_flags_from_var": (op("regex", DECISION, "^APPROVE$", V("execution.input.flags")), {"flags": "i"}, True),
    # ---- var paths: output, step, execution.input
    "var_output_boolean": (V("output.synthetic"), None, True),
    "var_output_agent_id": (op("eq", V("output.agentId"), "__mock__"), None, True),
    "var_output_whole_object": (V("output"), None, True),
    "var_step_node_id": (op("eq", V("step.nodeId"), "src"), None, True),
    "var_step_status": (op("eq", V("step.status"), "completed"), None, True),
    "var_step_retry_count": (op("eq", V("step.retryCount"), 0), None, True),
    "var_step_id": (op("startsWith", V("step.stepId"), "step_src_"), None, True),
    "var_execution_input_number": (op("gt", V("execution.input.amount"), 100), INPUT, True),
    "var_execution_input_nested": (op("eq", V("execution.input.obj.a.b.c"), "deep"), INPUT, True),
    "var_execution_input_array_index": (op("eq", V("execution.input.items.1"), "b"), INPUT, True),
    "var_execution_input_array_index_0": (op("eq", V("execution.input.items.0"), "a"), INPUT, True),
    "var_execution_input_array_index_past_end": (op("isEmpty", V("execution.input.items.5")), INPUT, True),
    "var_execution_input_array_non_numeric_index": (op("isEmpty", V("execution.input.items.x")), INPUT, True),
    "var_execution_input_array_index_with_suffix": (op("isEmpty", V("execution.input.items.1x")), INPUT, True),
    "var_empty_segment_in_array_path": (op("isEmpty", V("execution.input.items..1")), INPUT, True),
    "var_into_nested_array_object": (op("eq", V("execution.input.mixed.3.k"), 1), INPUT, True),
    "var_through_a_scalar_is_missing": (op("isEmpty", V("execution.input.amount.x")), INPUT, True),
    "var_missing_key_is_missing": (op("isEmpty", V("execution.input.nope.deeper")), INPUT, True),
    "var_execution_input_without_trigger_context_is_null": (op("eq", V("execution.input"), None), None, True),
    "var_execution_input_field_without_trigger_context": (op("isEmpty", V("execution.input.amount")), None, True),
    "var_execution_input_is_the_trigger_context": (op("eq", V("execution.input.flag"), True), INPUT, True),
    "var_key_longer_than_255_is_missing": (op("isEmpty", V("execution.input." + "k" * 300)),
                                           {"k" * 300: "v"}, True),
    "var_key_with_unicode": (op("eq", V("execution.input.cl\u00e9"), 1), {"cl\u00e9": 1}, True),
    # ---- truthiness (JavaScript): false, 0, "", null, missing are false
    "truthy_literal_true": (True, None, True),
    "truthy_literal_false": (False, None, False),
    "truthy_literal_one": (1, None, True),
    "truthy_literal_zero": (0, None, False),
    "truthy_literal_fraction": (0.5, None, True),
    "truthy_literal_string": ("x", None, True),
    "truthy_literal_empty_string": ("", None, False),
    "truthy_literal_null": (None, None, False),
    "truthy_var_zero": (V("execution.input.zero"), INPUT, False),
    "truthy_var_negative": (V("execution.input.neg"), INPUT, True),
    "truthy_var_empty_array": (V("execution.input.noItems"), INPUT, True),
    "truthy_var_empty_object": (V("execution.input.emptyObj"), INPUT, True),
    "truthy_var_missing": (V("output.nothing"), None, False),
    "truthy_var_null": (V("execution.input.none"), INPUT, False),
    "truthy_var_false": (V("execution.input.off"), INPUT, False),
    # ---- nesting
    "nested_32_deep_is_evaluated": (nots(32), None, True),
    "nested_31_deep_is_evaluated": (nots(31), None, False),
    "nested_operators": (op("and", op("or", op("gt", V("execution.input.amount"), 5000),
                                          op("includes", V("execution.input.items"), "c")),
                                    op("not", op("isEmpty", V("execution.input.name")))), INPUT, True),
}

# Refused at create: name -> (when text, text the issue message contains)
INVALID = {
    "unknown_operator": (op("xor", True, False), "unknown operator 'xor'"),
    "operator_name_case": (op("EQ", 1, 1), "unknown operator 'EQ'"),
    "eq_with_one_argument": (op("eq", 1), "operator 'eq' takes 2 to 2 arguments"),
    "eq_with_three_arguments": (op("eq", 1, 1, 1), "operator 'eq' takes 2 to 2 arguments"),
    "gt_with_one_argument": (op("gt", 1), "operator 'gt' takes 2 to 2 arguments"),
    "and_without_arguments": (op("and"), "operator 'and' takes 1 to 64 arguments"),
    "and_with_65_arguments": (op("and", *[True] * 65), "operator 'and' takes 1 to 64 arguments"),
    "or_without_arguments": (op("or"), "operator 'or' takes 1 to 64 arguments"),
    "not_with_two_arguments": (op("not", True, False), "operator 'not' takes 1 to 1 arguments"),
    "length_without_arguments": (op("length"), "operator 'length' takes 1 to 1 arguments"),
    "is_empty_with_two_arguments": (op("isEmpty", 1, 2), "operator 'isEmpty' takes 1 to 1 arguments"),
    "includes_with_one_argument": (op("includes", "a"), "operator 'includes' takes 2 to 2 arguments"),
    "regex_with_one_argument": (op("regex", "a"), "operator 'regex' takes 2 to 3 arguments"),
    "regex_with_four_arguments": (op("regex", "a", "a", "i", "x"), "operator 'regex' takes 2 to 3 arguments"),
    "regex_uncompilable_pattern": (op("regex", DECISION, "(unclosed"), "regex pattern '(unclosed' does not compile"),
    "regex_javascript_inline_flag": (op("regex", DECISION, "(?i)approve"), "does not compile"),
    "regex_bad_repetition": (op("regex", DECISION, "+a"), "does not compile"),
    "regex_javascript_non_capturing_group": (op("regex", DECISION, "(?:app)rove"), "does not compile"),
    "regex_javascript_lookahead": (op("regex", DECISION, "app(?=rove)"), "does not compile"),
    "regex_javascript_unicode_property": (op("regex", DECISION, "\\p{L}+"), "does not compile"),
    # JavaScript-only syntax is refused at create (ext/when.c); POSIX has no
    # \d, which would otherwise silently match the letter "d".
    "regex_javascript_digit_class": (op("regex", DECISION, "^\\d+$"), "regex pattern"),
    "regex_javascript_word_class": (op("regex", DECISION, "^\\w+$"), "regex pattern"),
    "regex_javascript_backreference": (op("regex", DECISION, "(p)\\1"), "regex pattern"),
    "regex_javascript_lazy_quantifier": (op("regex", DECISION, "ap+?rove"), "regex pattern"),
    "regex_uncompilable_with_i_flag": (op("regex", DECISION, "[z-a]", "i"), "does not compile"),
    "regex_pattern_from_var": (op("regex", DECISION, V("execution.input.pattern")), "regex needs a literal pattern"),
    "regex_pattern_number": (op("regex", DECISION, 1), "regex needs a literal pattern"),
    "var_root_input": (V("input.amount"), "var 'input.amount' must start with output, step or execution"),
    "var_root_unknown": (V("trigger.x"), "must start with output, step or execution"),
    "var_empty": (V(""), "must start with output, step or execution"),
    "var_not_string": ({"var": 1}, 'a var node is {"var": "root.path"}'),
    "var_with_extra_key": ({"var": "output.x", "default": 1}, 'a var node is {"var": "root.path"}'),
    "operator_node_without_args": ({"op": "not"}, 'an operator node is {"op": NAME, "args": [...]}'),
    "operator_node_args_not_array": ({"op": "not", "args": True}, 'an operator node is'),
    "operator_node_op_not_string": ({"op": 1, "args": [1]}, 'an operator node is'),
    "operator_node_with_extra_key": ({"op": "not", "args": [True], "x": 1}, 'an operator node is'),
    "object_literal": ({"a": 1}, 'an operator node is'),
    "top_level_array": ([1, 2], "arrays are not expressions"),
    "array_argument": (op("includes", V("output.decision"), ["a"]), "arrays are not expressions"),
    "nested_33_deep": (nots(33), "is nested too deeply"),
    "error_deep_inside_and": (op("and", True, op("or", False, op("nope", 1))), "unknown operator 'nope'"),
    "invalid_json": (Raw('{"op":"eq",'), "must be a JSON-AST string"),
    "trailing_characters": (Raw('true false'), "must be a JSON-AST string"),
    "duplicate_keys": (Raw('{"op":"not","op":"not","args":[true]}'), "must be a JSON-AST string"),
    "infix_string": (Raw("output.decision == 'approve'"), "must be a JSON-AST string"),
}

# Var roots are output, step or execution (SPEC 6.3: the context is
# {output, step, execution}); a path whose first segment only starts with
# one of those names is another root.
BAD_ROOT_PREFIXES = {
    "var_root_outputs": "outputs.decision",
    "var_root_output_suffix": "outputx",
    "var_root_steps": "steps.nodeId",
    "var_root_execution_input_glued": "executionInput.amount",
}


def _add(cls, name, fn):
    fn.__name__ = name
    assert not hasattr(cls, name), name
    setattr(cls, name, fn)


class WhenTest(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)

    def fires(self, ast, context):
        define(self.conn, definition(ast))
        extra = {} if context is None else {"triggerContext": context}
        exec_id = dispatch(self.conn, "when-case", **extra)
        nodes = [r[0] for r in self.conn.execute(
            "SELECT node_id FROM velt_steps WHERE execution_id = ? ORDER BY rowid", (exec_id,))]
        self.assertEqual(nodes[0], "src")
        if len(nodes) == 1:
            return False
        self.assertEqual(nodes, ["src", "t"])
        (src, t) = [r[0] for r in self.conn.execute(
            "SELECT step_id FROM velt_steps WHERE execution_id = ? ORDER BY rowid", (exec_id,))]
        self.assertEqual(t, src + "__to__t")
        return True

    def refused(self, when, text):
        """when: an AST (encoded here) or Raw text."""
        resp = velt_api(self.conn, "definitions/create", {"data": definition(when)})
        err = self.assertApiError(resp, "INVALID_ARGUMENT")
        issue = err["details"]["issues"][0]
        self.assertEqual(issue["path"], ["edges", 0, "when"], err)
        self.assertEqual(issue["code"], "custom")
        self.assertIn(text, issue["message"])
        return issue


def _make_case(ast, context, expected):
    def test(self):
        self.assertEqual(self.fires(ast, context), expected)
    return test


def _make_invalid(when, text):
    def test(self):
        self.refused(when, text)
    return test


def _make_bad_root(path):
    def test(self):
        self.refused({"var": path}, "must start with output, step or execution")
    return test


class WhenEvalTest(WhenTest):
    pass


class WhenRefusedTest(WhenTest):
    def test_compiled_when_is_the_parsed_ast(self):
        ast = op("and", op("gt", V("execution.input.amount"), 1000), op("regex", DECISION, "^a", "i"))
        view = define(self.conn, definition(ast))
        self.assertEqual(view["compiled"]["forwardEdges"][0]["when"], ast)
        self.assertEqual(view["compiled"]["forwardEdges"][0]["role"], "custom")

    def test_false_custom_edge_leaves_the_execution_completed(self):
        define(self.conn, definition(False))
        exec_id = dispatch(self.conn, "when-case")
        view = velt(self.conn, "executions/get", {"executionId": exec_id})
        self.assertEqual(view["status"], "completed")
        self.assertEqual([s["nodeId"] for s in view["steps"]], ["src"])

    def test_true_custom_edge_passes_the_output_as_input(self):
        define(self.conn, definition(True))
        exec_id = dispatch(self.conn, "when-case")
        (inp,) = self.conn.execute("SELECT input FROM velt_steps WHERE execution_id = ? AND node_id = 't'",
                                   (exec_id,)).fetchone()
        self.assertEqual(json.loads(inp), {"decision": "approve", "synthetic": True, "agentId": "__mock__"})

    def test_custom_and_approve_edges_to_one_node_make_one_step(self):
        d = definition(True)
        d["edges"].append({"from": "src", "to": "t", "on": "approve"})
        define(self.conn, d)
        exec_id = dispatch(self.conn, "when-case")
        n = self.conn.execute("SELECT count(*) FROM velt_steps WHERE execution_id = ? AND node_id = 't'",
                              (exec_id,)).fetchone()[0]
        self.assertEqual(n, 1)

    def test_same_definition_fires_per_execution_input(self):
        define(self.conn, definition(op("gt", V("execution.input.amount"), 1000)))
        big = dispatch(self.conn, "when-case", triggerContext={"amount": 5000})
        small = dispatch(self.conn, "when-case", triggerContext={"amount": 5})
        count = lambda e: self.conn.execute(  # noqa: E731
            "SELECT count(*) FROM velt_steps WHERE execution_id = ?", (e,)).fetchone()[0]
        self.assertEqual((count(big), count(small)), (2, 1))


for _name, (_ast, _ctx, _expected) in CASES.items():
    _add(WhenEvalTest, "test_" + _name, _make_case(_ast, _ctx, _expected))

for _name, (_when, _text) in INVALID.items():
    _add(WhenRefusedTest, "test_refuses_" + _name, _make_invalid(_when, _text))

for _name, _path in BAD_ROOT_PREFIXES.items():
    _add(WhenRefusedTest, "test_refuses_" + _name, _make_bad_root(_path))


if __name__ == "__main__":
    unittest.main()
