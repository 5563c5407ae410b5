"""Argument rules of SPEC 4 ("Strings") and 5.2 (strict requests) for Cancel
Step, through velt_cancel_step() and velt('steps/cancel') (and velt_api()).

Every bad call must be INVALID_ARGUMENT (sqlite3.OperationalError, message
"INVALID_ARGUMENT: ...") and leave the steps, executions and event count as
they were. Each call names a real, waiting step, so a call that slipped
through validation would cancel it and the snapshot would show it. Values at
a limit must pass.

The cases are tables; one test method is generated per case, named after it.
"""
import json
import sqlite3
import unittest

from velt_helpers import (TWO_REVIEWS, DbTest, define, dispatch, events, step_row, unsynced,
                          VeltAssertions)

EMOJI = "\U0001F600"  # 4 bytes in UTF-8, one character
E_ACUTE = "\u00e9"    # 2 bytes in UTF-8, one character


class BadInputBase(DbTest, VeltAssertions):
    def setUp(self):
        super().setUp()
        unsynced(self.conn)
        define(self.conn, TWO_REVIEWS)
        self.exec_id = dispatch(self.conn, "two-reviews")
        (self.step_id,) = self.conn.execute(
            "SELECT step_id FROM velt_steps WHERE execution_id = ? AND node_id = 'legal'",
            (self.exec_id,)).fetchone()

    def params(self, extra=None):
        return {"e": self.exec_id, "s": self.step_id, **(extra or {})}

    def expect_invalid(self, sql, params):
        before = self.snapshot()
        self.assertVeltRaises("INVALID_ARGUMENT", sql, params)
        self.assertEqual(self.snapshot(), before, "a rejected call must change nothing")

    def expect_cancelled(self, sql, params):
        (text,) = self.conn.execute(sql, params).fetchone()
        self.assertEqual(json.loads(text),
                         {"cancelled": True, "executionId": self.exec_id, "stepId": self.step_id})
        self.assertEqual(step_row(self.conn, self.exec_id, self.step_id)[0], "cancelled")
        return events(self.conn, self.exec_id)[-1]


def _add(cls, name, fn):
    fn.__name__ = name
    assert not hasattr(cls, name), name
    setattr(cls, name, fn)


# ---------------------------------------------------------------------------
# velt_cancel_step(execution_id, step_id, reason, actor_id)
# ---------------------------------------------------------------------------

# name -> (the four SQL argument expressions, extra named parameters)
FUNC_INVALID = {
    # NULL where a value is required
    "execution_id_null": ("NULL, :s, 'r', 'admin'", {}),
    "step_id_null": (":e, NULL, 'r', 'admin'", {}),
    "actor_id_null": (":e, :s, 'r', NULL", {}),
    # BLOB where text is expected (the same bytes as valid text)
    "execution_id_blob": ("CAST(:e AS BLOB), :s, 'r', 'admin'", {}),
    "step_id_blob": (":e, CAST(:s AS BLOB), 'r', 'admin'", {}),
    "reason_blob": (":e, :s, x'72', 'admin'", {}),
    "actor_id_blob": (":e, :s, 'r', CAST('admin' AS BLOB)", {}),
    # integer and real where text is expected
    "execution_id_integer": ("42, :s, 'r', 'admin'", {}),
    "step_id_integer": (":e, 42, 'r', 'admin'", {}),
    "reason_integer": (":e, :s, 42, 'admin'", {}),
    "actor_id_integer": (":e, :s, 'r', 42", {}),
    "execution_id_real": ("4.5, :s, 'r', 'admin'", {}),
    "step_id_real": (":e, 4.5, 'r', 'admin'", {}),
    "reason_real": (":e, :s, 4.5, 'admin'", {}),
    "actor_id_real": (":e, :s, 'r', 4.5", {}),
    # text that is not valid UTF-8
    "execution_id_invalid_utf8": (":e || CAST(x'ff' AS TEXT), :s, 'r', 'admin'", {}),
    "step_id_invalid_utf8": (":e, :s || CAST(x'ff' AS TEXT), 'r', 'admin'", {}),
    "actor_id_invalid_utf8": (":e, :s, 'r', 'adm' || CAST(x'ff' AS TEXT)", {}),
    "reason_invalid_utf8_byte_ff": (":e, :s, CAST(x'ff' AS TEXT), 'admin'", {}),
    "reason_invalid_utf8_lone_continuation": (":e, :s, CAST(x'4180' AS TEXT), 'admin'", {}),
    "reason_invalid_utf8_truncated_sequence": (":e, :s, CAST(x'41c3' AS TEXT), 'admin'", {}),
    "reason_invalid_utf8_overlong": (":e, :s, CAST(x'c0af' AS TEXT), 'admin'", {}),
    "reason_invalid_utf8_surrogate": (":e, :s, CAST(x'eda080' AS TEXT), 'admin'", {}),
    "reason_invalid_utf8_above_u10ffff": (":e, :s, CAST(x'f4908080' AS TEXT), 'admin'", {}),
    # text containing NUL
    "execution_id_with_nul": (":x, :s, 'r', 'admin'", {"x": "exec\x00id"}),
    "step_id_with_nul": (":e, :x, 'r', 'admin'", {"x": "step\x00id"}),
    "reason_with_nul": (":e, :s, :x, 'admin'", {"x": "a\x00b"}),
    "actor_id_with_nul": (":e, :s, 'r', :x", {"x": "admin\x00"}),
    # empty where 1.. characters are required
    "execution_id_empty": ("'', :s, 'r', 'admin'", {}),
    "step_id_empty": (":e, '', 'r', 'admin'", {}),
    "actor_id_empty": (":e, :s, 'r', ''", {}),
    # one past the limit, counted in characters
    "reason_501_ascii": (":e, :s, :x, 'admin'", {"x": "r" * 501}),
    "reason_501_two_byte_chars": (":e, :s, :x, 'admin'", {"x": E_ACUTE * 501}),
    "reason_501_emoji": (":e, :s, :x, 'admin'", {"x": EMOJI * 501}),
    "actor_id_257_ascii": (":e, :s, 'r', :x", {"x": "a" * 257}),
    "actor_id_257_two_byte_chars": (":e, :s, 'r', :x", {"x": E_ACUTE * 257}),
    "actor_id_257_emoji": (":e, :s, 'r', :x", {"x": EMOJI * 257}),
    "execution_id_201_ascii": (":x, :s, 'r', 'admin'", {"x": "e" * 201}),
    "execution_id_201_two_byte_chars": (":x, :s, 'r', 'admin'", {"x": E_ACUTE * 201}),
    "step_id_16385": (":e, :x, 'r', 'admin'", {"x": "s" * 16385}),
}

# At the limit: these pass validation and cancel the step.
FUNC_VALID = {
    "reason_500_ascii": ("r" * 500, "admin"),
    "reason_500_two_byte_chars": (E_ACUTE * 500, "admin"),
    "reason_500_emoji": (EMOJI * 500, "admin"),
    "reason_empty": ("", "admin"),
    "reason_null": (None, "admin"),
    "actor_id_256_ascii": ("r", "a" * 256),
    "actor_id_256_two_byte_chars": ("r", E_ACUTE * 256),
    "actor_id_256_emoji": ("r", EMOJI * 256),
    "actor_id_one_char": ("r", "a"),
}


class CancelStepFunctionBadInputTest(BadInputBase):
    """velt_cancel_step() with positional arguments."""

    def test_execution_id_200_chars_passes_validation(self):
        # No execution has such an id: NOT_FOUND shows validation let it through.
        self.assertVeltRaises("NOT_FOUND", "SELECT velt_cancel_step(?, ?, 'r', 'admin')",
                              ("e" * 200, self.step_id))

    def test_execution_id_200_two_byte_chars_passes_validation(self):
        self.assertVeltRaises("NOT_FOUND", "SELECT velt_cancel_step(?, ?, 'r', 'admin')",
                              (E_ACUTE * 200, self.step_id))

    def test_step_id_16384_chars_passes_validation(self):
        self.assertVeltRaises("NOT_FOUND", "SELECT velt_cancel_step(?, ?, 'r', 'admin')",
                              (self.exec_id, "s" * 16384))

    def test_reason_500_chars_is_stored_whole(self):
        last = self.expect_cancelled("SELECT velt_cancel_step(:e, :s, :r, 'admin')",
                                     self.params({"r": EMOJI * 500}))
        self.assertEqual(last["reason"], EMOJI * 500)
        self.assertEqual(last["data"]["reason"], EMOJI * 500)


def _func_invalid(args, extra):
    def test(self):
        self.expect_invalid(f"SELECT velt_cancel_step({args})", self.params(extra))
    return test


def _func_valid(reason, actor):
    def test(self):
        last = self.expect_cancelled("SELECT velt_cancel_step(:e, :s, :r, :a)",
                                     self.params({"r": reason, "a": actor}))
        self.assertEqual((last["type"], last["actor_id"], last["reason"]), ("step.cancelled", actor, reason))
    return test


for _name, (_args, _extra) in FUNC_INVALID.items():
    _add(CancelStepFunctionBadInputTest, f"test_{_name}_is_invalid_argument", _func_invalid(_args, _extra))
for _name, (_reason, _actor) in FUNC_VALID.items():
    _add(CancelStepFunctionBadInputTest, f"test_{_name}_is_accepted", _func_valid(_reason, _actor))


# ---------------------------------------------------------------------------
# velt('steps/cancel', data)
# ---------------------------------------------------------------------------

DROP = object()


def _data(**changes):
    """A request data object built from a valid one: DROP removes a key."""
    def build(e, s):
        d = {"executionId": e, "stepId": s, "reason": "r", "actorId": "admin"}
        for k, v in changes.items():
            if v is DROP:
                d.pop(k, None)
            else:
                d[k] = v
        return json.dumps(d)
    return build


def _raw(template):
    """Raw JSON text; {e} and {s} are replaced by the ids (JSON-escaped)."""
    def build(e, s):
        return template.replace("{e}", json.dumps(e)).replace("{s}", json.dumps(s))
    return build


# name -> builder(e, s) -> JSON text
JSON_INVALID = {
    "missing_execution_id": _data(executionId=DROP),
    "missing_step_id": _data(stepId=DROP),
    "missing_actor_id": _data(actorId=DROP),
    "null_execution_id": _data(executionId=None),
    "null_step_id": _data(stepId=None),
    "null_actor_id": _data(actorId=None),
    "explicit_null_reason": _data(reason=None),
    "empty_execution_id": _data(executionId=""),
    "empty_step_id": _data(stepId=""),
    "empty_actor_id": _data(actorId=""),
    "unknown_key": _data(comment="hello"),
    "unknown_key_with_null_value": _data(organizationId=None),
    "key_in_wrong_case": _data(actorId=DROP, ActorId="admin"),
    "reason_501_ascii": _data(reason="r" * 501),
    "reason_501_two_byte_chars": _data(reason=E_ACUTE * 501),
    "reason_501_emoji": _data(reason=EMOJI * 501),
    "actor_id_257_ascii": _data(actorId="a" * 257),
    "actor_id_257_two_byte_chars": _data(actorId=E_ACUTE * 257),
    "actor_id_257_emoji": _data(actorId=EMOJI * 257),
    "execution_id_201_chars": _data(executionId="e" * 201),
    "step_id_16385_chars": _data(stepId="s" * 16385),
    "reason_with_escaped_nul": _raw('{"executionId":{e},"stepId":{s},"reason":"a\\u0000b","actorId":"admin"}'),
    "actor_id_with_escaped_nul": _raw('{"executionId":{e},"stepId":{s},"actorId":"ad\\u0000min"}'),
    "duplicate_reason_key": _raw('{"executionId":{e},"stepId":{s},"reason":"a","reason":"b","actorId":"admin"}'),
    "duplicate_actor_id_key_same_value": _raw('{"executionId":{e},"stepId":{s},"actorId":"admin","actorId":"admin"}'),
    "duplicate_execution_id_key": _raw('{"executionId":"exec_other","executionId":{e},"stepId":{s},"actorId":"admin"}'),
    "malformed_empty_text": _raw(""),
    "malformed_only_whitespace": _raw("   "),
    "malformed_unclosed_object": _raw('{"executionId":{e},"stepId":{s},"actorId":"admin"'),
    "malformed_trailing_comma": _raw('{"executionId":{e},"stepId":{s},"actorId":"admin",}'),
    "malformed_single_quotes": _raw("{'executionId':{e},'stepId':{s},'actorId':'admin'}"),
    "malformed_unquoted_key": _raw('{executionId:{e},"stepId":{s},"actorId":"admin"}'),
    "malformed_trailing_garbage": _raw('{"executionId":{e},"stepId":{s},"actorId":"admin"} x'),
    "malformed_two_objects": _raw('{"executionId":{e},"stepId":{s},"actorId":"admin"}{}'),
    "data_is_an_array": _raw('[{"executionId":{e},"stepId":{s},"actorId":"admin"}]'),
    "data_is_a_string": _raw('"steps/cancel"'),
    "data_is_a_number": _raw("42"),
    "data_is_json_null": _raw("null"),
    "data_is_true": _raw("true"),
    "data_is_a_request_envelope": _raw('{"data":{"executionId":{e},"stepId":{s},"actorId":"admin"}}'),
}
for _field in ("executionId", "stepId", "reason", "actorId"):
    for _kind, _value in (("number", 42), ("boolean", True), ("array", ["x"]), ("object", {"x": 1})):
        _key = {"executionId": "execution_id", "stepId": "step_id", "reason": "reason",
                "actorId": "actor_id"}[_field]
        JSON_INVALID[f"{_key}_{_kind}"] = _data(**{_field: _value})

# name -> (SQL expression for the data argument, extra parameters); :j is the
# valid request as JSON text, :jr the same without its reason key.
JSON_SQL_INVALID = {
    "data_sql_null": ("NULL", {}),
    "data_blob": ("CAST(:j AS BLOB)", {}),
    "data_integer": ("42", {}),
    "data_real": ("4.5", {}),
    "data_invalid_utf8_in_reason": (
        "CAST(x'7b22726561736f6e223a22ff222c' AS TEXT) || substr(:jr, 2)", {}),   # {"reason":"\xff",
    "data_invalid_utf8_in_a_key": (
        "CAST(x'7b22ff223a312c' AS TEXT) || substr(:j, 2)", {}),                 # {"\xff":1,
    "data_with_raw_nul_byte": ("substr(:j, 1, length(:j) - 1) || ',\"x\":\"' || char(0) || '\"}'", {}),
}

JSON_VALID = {
    "reason_500_ascii": _data(reason="r" * 500),
    "reason_500_two_byte_chars": _data(reason=E_ACUTE * 500),
    "reason_500_emoji": _data(reason=EMOJI * 500),
    "reason_empty": _data(reason=""),
    "reason_omitted": _data(reason=DROP),
    "actor_id_256_ascii": _data(actorId="a" * 256),
    "actor_id_256_emoji": _data(actorId=EMOJI * 256),
    "keys_in_another_order": _raw('{"actorId":"admin","stepId":{s},"executionId":{e}}'),
    "whitespace_around_tokens": _raw('\n {\n  "executionId" : {e} ,\n  "stepId" : {s} ,\n  "actorId" : "admin"\n }\n'),
    "escaped_unicode_in_reason": _raw('{"executionId":{e},"stepId":{s},"reason":"\\u00e9\\ud83d\\ude00","actorId":"admin"}'),
}


class VeltStepsCancelBadInputTest(BadInputBase):
    """velt('steps/cancel', data) with a JSON data object."""

    def valid_json(self):
        return _data()(self.exec_id, self.step_id)

    def test_path_null_is_invalid_argument(self):
        self.expect_invalid("SELECT velt(NULL, :j)", self.params({"j": self.valid_json()}))

    def test_path_blob_is_invalid_argument(self):
        self.expect_invalid("SELECT velt(CAST('steps/cancel' AS BLOB), :j)",
                            self.params({"j": self.valid_json()}))

    def test_path_integer_is_invalid_argument(self):
        self.expect_invalid("SELECT velt(42, :j)", self.params({"j": self.valid_json()}))

    def test_execution_id_200_chars_passes_validation(self):
        data = _data(executionId="e" * 200)(self.exec_id, self.step_id)
        self.assertVeltRaises("NOT_FOUND", "SELECT velt('steps/cancel', ?)", (data,))

    def test_step_id_16384_chars_passes_validation(self):
        data = _data(stepId="s" * 16384)(self.exec_id, self.step_id)
        self.assertVeltRaises("NOT_FOUND", "SELECT velt('steps/cancel', ?)", (data,))

    def test_escaped_unicode_reason_is_stored_decoded(self):
        data = JSON_VALID["escaped_unicode_in_reason"](self.exec_id, self.step_id)
        last = self.expect_cancelled("SELECT velt('steps/cancel', :j)", self.params({"j": data}))
        self.assertEqual(last["reason"], E_ACUTE + EMOJI)


def _json_invalid(build):
    def test(self):
        self.expect_invalid("SELECT velt('steps/cancel', :j)",
                            self.params({"j": build(self.exec_id, self.step_id)}))
    return test


def _json_sql_invalid(expr, extra):
    def test(self):
        self.expect_invalid(f"SELECT velt('steps/cancel', {expr})",
                            self.params({"j": self.valid_json(), "jr": _data(reason=DROP)(self.exec_id, self.step_id),
                                         **extra}))
    return test


def _json_valid(build):
    def test(self):
        self.expect_cancelled("SELECT velt('steps/cancel', :j)",
                              self.params({"j": build(self.exec_id, self.step_id)}))
    return test


for _name, _build in JSON_INVALID.items():
    _add(VeltStepsCancelBadInputTest, f"test_{_name}_is_invalid_argument", _json_invalid(_build))
for _name, (_expr, _extra) in JSON_SQL_INVALID.items():
    _add(VeltStepsCancelBadInputTest, f"test_{_name}_is_invalid_argument", _json_sql_invalid(_expr, _extra))
for _name, _build in JSON_VALID.items():
    _add(VeltStepsCancelBadInputTest, f"test_{_name}_is_accepted", _json_valid(_build))


# ---------------------------------------------------------------------------
# velt_api('steps/cancel', request): API errors come back as envelopes
# ---------------------------------------------------------------------------

# name -> builder(e, s) -> whole request body text
API_INVALID = {
    "body_without_data_key": _raw('{"executionId":{e},"stepId":{s},"actorId":"admin"}'),
    "body_with_extra_top_level_key": _raw('{"data":{"executionId":{e},"stepId":{s},"actorId":"admin"},"x":1}'),
    "body_data_is_an_array": _raw('{"data":[]}'),
    "body_data_is_null": _raw('{"data":null}'),
    "body_malformed": _raw('{"data":{"executionId":{e}'),
    "body_is_an_array": _raw('[]'),
    "body_data_unknown_key": _raw('{"data":{"executionId":{e},"stepId":{s},"actorId":"admin","x":1}}'),
    "body_data_explicit_null_reason": _raw('{"data":{"executionId":{e},"stepId":{s},"actorId":"admin","reason":null}}'),
    "body_data_reason_501": lambda e, s: json.dumps({"data": {"executionId": e, "stepId": s,
                                                              "actorId": "admin", "reason": EMOJI * 501}}),
    "body_duplicate_data_key": _raw('{"data":{"executionId":{e},"stepId":{s},"actorId":"admin"},"data":{}}'),
}


class VeltApiStepsCancelBadInputTest(BadInputBase):
    """velt_api() reports request errors in the envelope without raising."""

    def test_body_sql_null_raises_invalid_argument(self):
        self.expect_invalid("SELECT velt_api('steps/cancel', NULL)", self.params())

    def test_body_blob_raises_invalid_argument(self):
        body = json.dumps({"data": {"executionId": self.exec_id, "stepId": self.step_id, "actorId": "admin"}})
        self.expect_invalid("SELECT velt_api('steps/cancel', CAST(:b AS BLOB))", self.params({"b": body}))

    def test_body_integer_raises_invalid_argument(self):
        self.expect_invalid("SELECT velt_api('steps/cancel', 42)", self.params())

    def test_schema_error_issue_names_the_path_of_the_field(self):
        body = json.dumps({"data": {"executionId": self.exec_id, "stepId": self.step_id,
                                    "actorId": "a" * 257}})
        (out,) = self.conn.execute("SELECT velt_api('steps/cancel', ?)", (body,)).fetchone()
        err = self.assertApiError(json.loads(out), "INVALID_ARGUMENT")
        self.assertEqual([i["path"] for i in err["details"]["issues"]], [["actorId"]])


def _api_invalid(build):
    def test(self):
        before = self.snapshot()
        try:
            (out,) = self.conn.execute("SELECT velt_api('steps/cancel', ?)",
                                       (build(self.exec_id, self.step_id),)).fetchone()
        except sqlite3.Error as e:
            self.fail(f"velt_api() must not raise for a bad request, raised {e!r}")
        self.assertApiError(json.loads(out), "INVALID_ARGUMENT")
        self.assertEqual(self.snapshot(), before)
    return test


for _name, _build in API_INVALID.items():
    _add(VeltApiStepsCancelBadInputTest, f"test_{_name}_is_an_invalid_argument_envelope", _api_invalid(_build))


if __name__ == "__main__":
    unittest.main()
