#!/usr/bin/env python3
"""Writes the seed corpora tests/fuzz/corpus/<target>/ and the dictionary
tests/fuzz/velt.dict from the tests, so that the fuzzers start from every
request, definition and `when` expression the tests use.

    python3 tests/fuzz/make_seeds.py

Sources: tests/fixtures/upstream-examples.json (upstream's example bodies),
the velt()/velt_api()/velt_cancel_step() calls of tests/sql/*.sql (their
arguments evaluated by SQLite, with column references replaced by the
fuzzers' placeholders), the calls and tables of tests/py/*.py (definitions of
test_definitions.py, `when` cases of test_when.py, ...), and the field names
and enumerations of ext/*.c for the dictionary. Ids that the tests take from
the database become placeholders ($E an execution, $S a step, ...: see
fuzz_api.c). Re-run it after adding tests or endpoints; it rewrites the
corpus directories and the dictionary, nothing else. It only reads the
tests, it loads no extension.
"""
import ast
import glob
import hashlib
import json
import os
import re
import shutil
import sqlite3
import sys

sys.dont_write_bytecode = True  # leave tests/py as it is

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CORPUS = os.path.join(HERE, "corpus")


# ---- the endpoints, as the targets number them ------------------------------

def served_endpoints():
    """Paths of fuzz_endpoints.h (in its order) that ext/api.c's table serves:
    fuzz_api's byte 0 indexes this list."""
    with open(os.path.join(HERE, "fuzz_endpoints.h")) as f:
        known = re.findall(r'X\("([^"]+)"\)', f.read())
    with open(os.path.join(ROOT, "ext", "api.c")) as f:
        src = f.read()
    table = src[src.index("aEndpoint[] = {"):]
    table = table[:table.index("};")]
    served = set(re.findall(r'\{"([^"]+)",', table))
    return [p for p in known if p in served]


ENDPOINTS = served_endpoints()

# upstream doc page -> endpoint path ("get-execution-events" -> "executions/getEvents")
RESOURCE_WORDS = {"definition", "definitions", "execution", "executions", "step", "steps"}


def doc_to_path(slug):
    resource, page = slug.split("/")
    words = [w for w in page.split("-") if w not in RESOURCE_WORDS]
    return resource + "/" + words[0] + "".join(w.capitalize() for w in words[1:])


# ---- placeholders --------------------------------------------------------------

UPSTREAM_IDS = [
    (re.compile(r"exec_\d{13}_[a-z0-9]{8}"), "$E"),
    (re.compile(r"step_[A-Za-z0-9_.-]*\.\.\.[A-Za-z0-9_.-]*"), "$S"),
]


def placeholder_for(name):
    n = name.lower()
    if "step" in n or n in ("legal", "brand", "sid", "review", "live_legal", "s", "t"):
        return "$S"
    if "def" in n:
        return "$D"
    if "key" in n:
        return "$K"
    return "$E"


class Anything:
    """Stands for objects the tests take from the database (self.exec_id ...)."""

    def __init__(self, name="x"):
        self._name = name

    def __getattr__(self, name):
        return placeholder_for(name)

    def __call__(self, *a, **k):
        return placeholder_for(self._name)


class Namespace(dict):
    def __init__(self, module_globals):
        super().__init__()
        self.g = module_globals

    def __missing__(self, name):
        if name in self.g:
            return self.g[name]
        import builtins
        if hasattr(builtins, name):
            return getattr(builtins, name)
        if name in ("self", "cls"):
            return Anything()
        if name in ("step_of", "waiting_steps", "steps_of"):
            return Anything("step")
        return placeholder_for(name)


# ---- collected material ------------------------------------------------------------

api_data = []      # (path, data JSON text): velt(path, data)
api_bodies = []    # (path, body text): velt_api(path, body)
cancel_args = []   # (executionId, stepId, reason, actorId), None = NULL
definitions = []   # definitions/create data JSON text
whens = []         # (when text, triggerContext JSON text or None)


def jdump(v):
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def add_request(path, data, whole=False):
    if path.startswith("/v2/workflow/"):
        path = path[len("/v2/workflow/"):]
    text = data if isinstance(data, str) else jdump(data)
    if whole:
        api_bodies.append((path, text))
    else:
        api_data.append((path, text))
        if path == "definitions/create":
            definitions.append(text)


# ---- upstream examples --------------------------------------------------------------

def from_upstream():
    with open(os.path.join(ROOT, "tests", "fixtures", "upstream-examples.json")) as f:
        examples = json.load(f)["examples"]
    for ex in examples:
        if ex["kind"] != "request":
            continue
        body = jdump(ex["body"])
        for rx, tok in UPSTREAM_IDS:
            body = rx.sub(tok, body)
        path = doc_to_path(ex["endpoint"])
        add_request(path, body, whole=True)
        add_request(path, jdump(json.loads(body)["data"]))
    for ex in examples:  # node objects: a one-node definition around each
        if ex["kind"] == "object" and "nodeId" in ex["body"]:
            definitions.append(jdump({"definitionId": "one-node", "name": "One node",
                                      "nodes": [ex["body"]], "edges": []}))


# ---- tests/sql --------------------------------------------------------------------------

CALL = re.compile(r"\b(velt_api|velt_cancel_step|velt)\s*\(", re.I)


def split_call(src, start):
    """The top-level arguments of the call whose '(' is at start."""
    depth, i, args, cur = 0, start, [], start + 1
    while i < len(src):
        c = src[i]
        if c == "'":
            j = i + 1
            while j < len(src):
                if src[j] == "'" and src[j + 1:j + 2] == "'":
                    j += 2
                    continue
                if src[j] == "'":
                    break
                j += 1
            i = j
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(src[cur:i])
                return args
        elif c == "," and depth == 1:
            args.append(src[cur:i])
            cur = i + 1
        i += 1
    return None


def from_sql():
    db = sqlite3.connect(":memory:")
    cols = ("'$E' AS execution_id, '$S' AS step_id, 'two-reviews' AS definition_id, "
            "'{}' AS definition, 'run-1' AS idempotency_key")
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "sql", "*.sql")) +
                       glob.glob(os.path.join(ROOT, "tests", "sql", "fixtures", "*.sql")) +
                       glob.glob(os.path.join(ROOT, "sql", "examples", "*.sql"))):
        with open(path) as f:
            src = f.read()
        for m in CALL.finditer(src):
            args = split_call(src, m.end() - 1)
            if not args:
                continue
            values = []
            for a in args:
                try:
                    (v,) = db.execute(f"SELECT ({a}) FROM (SELECT {cols})").fetchone()
                except sqlite3.Error:
                    v = Ellipsis
                values.append(v)
            if Ellipsis in values:
                continue
            fn = m.group(1).lower()
            if fn == "velt_cancel_step" and len(values) == 4:
                cancel_args.append(tuple(None if v is None else str(v) for v in values))
            elif len(values) == 2 and isinstance(values[0], str) and isinstance(values[1], str):
                add_request(values[0], values[1], whole=(fn == "velt_api"))


# ---- tests/py -----------------------------------------------------------------------------

def import_test_module(name):
    sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
    try:
        return __import__(name)
    except Exception as e:  # a test file being written may not import
        print(f"make_seeds: skipping tests/py/{name}.py ({e.__class__.__name__}: {e})", file=sys.stderr)
        return None


# Functions an argument expression may call: the tests' pure builders of
# requests, never anything that touches files or databases.
PURE_CALLS = {"dict", "list", "tuple", "str", "int", "len", "range", "dumps", "deepcopy", "op",
              "V", "nots", "base", "group_base", "apply", "definition", "marketing_create_body",
              "when_of_length", "agent", "emails", "headers", "trig", "inbound", "schedule", "app",
              "webhook_config", "group", "with_trigger", "example", "step_of", "waiting_steps"}
PURE_NODES = (ast.Expression, ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Slice,
              ast.Index if hasattr(ast, "Index") else ast.Slice, ast.Load, ast.Dict, ast.List,
              ast.Tuple, ast.Set, ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop, ast.keyword,
              ast.Starred, ast.JoinedStr, ast.FormattedValue, ast.Call, ast.IfExp, ast.Compare,
              ast.cmpop, ast.BoolOp, ast.boolop)


def pure(expr):
    """Only literals, names, operators and calls of PURE_CALLS."""
    for n in ast.walk(expr):
        if not isinstance(n, PURE_NODES):
            return False
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name not in PURE_CALLS:
                return False
    return True


def seed_eval(expr, ns):
    if not pure(expr):
        raise ValueError("not a pure expression")
    return eval(compile(ast.Expression(expr), "<seed>", "eval"), {}, ns)


def from_py_calls(module_name, tree, src):
    mod = import_test_module(module_name)
    ns = Namespace(vars(mod) if mod else {})
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        fn, args = node.func.id, node.args
        try:
            vals = [seed_eval(a, ns) for a in args]
            kw = {k.arg: seed_eval(k.value, ns) for k in node.keywords if k.arg}
        except Exception:
            continue
        try:
            if fn in ("velt", "velt_api") and len(vals) == 3 and isinstance(vals[1], str):
                add_request(vals[1], vals[2], whole=(fn == "velt_api"))
            elif fn == "define" and len(vals) == 2 and isinstance(vals[1], dict):
                add_request("definitions/create", vals[1])
            elif fn == "dispatch" and len(vals) == 2 and isinstance(vals[1], str):
                add_request("executions/dispatch", {"definitionId": vals[1], **kw})
            elif fn == "cancel" and len(vals) >= 3:
                full = (vals[1:] + ["test", "admin"])[:4]
                if len(vals) < 5 and "actor_id" in kw:
                    full[3] = kw["actor_id"]
                if all(v is None or isinstance(v, str) for v in full):
                    cancel_args.append(tuple(full))
        except (TypeError, ValueError):
            continue


def from_py():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "py", "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            src = f.read()
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        from_py_calls(name, tree, src)
    helpers = import_test_module("velt_helpers")
    if helpers:
        for k, v in vars(helpers).items():
            if k.isupper() and isinstance(v, dict) and "definitionId" in v:
                add_request("definitions/create", v)
    td = import_test_module("test_definitions")
    if td and hasattr(td, "base"):
        import copy
        for table_name in ("VALID", "INVALID"):
            for name, case in getattr(td, table_name, {}).items():
                changes = case if table_name == "VALID" else case[0]
                try:
                    d = td.apply(td.group_base() if name.startswith("group_") else td.base(),
                                 copy.deepcopy(changes))
                    definitions.append(jdump(d))
                except Exception:
                    pass
    tu = import_test_module("test_urls")
    if tu and hasattr(tu, "base"):
        urls = [v for v in getattr(tu, "ACCEPTED", {}).values() if isinstance(v, str)]
        urls += [v[0] for v in getattr(tu, "REFUSED", {}).values() if isinstance(v, tuple)]
        for url in urls:
            try:
                definitions.append(jdump(tu.base(url=url)))
                definitions.append(jdump(tu.base(webhook_config=url)))
                if "://" in url:
                    definitions.append(jdump(tu.base(slack=url)))
            except Exception:
                pass
            add_request("executions/dispatch", {"definitionId": "$D", "webhookUrl": url,
                                                "webhookSecret": "s" * 16})
    tw = import_test_module("test_when")
    if tw and hasattr(tw, "CASES"):
        raw = getattr(tw, "Raw", str)
        for name, (expr, ctx, _fires) in tw.CASES.items():
            whens.append((jdump(expr), None if ctx is None else jdump(ctx)))
        for name, (expr, _text) in getattr(tw, "INVALID", {}).items():
            whens.append((expr if isinstance(expr, raw) else jdump(expr), None))


# ---- handwritten edges of the contract --------------------------------------------

def handwritten():
    for e, s, r, a in [
        ("$E", "$S", "Reviewer unavailable", "admin_jane"),
        ("$E", "$S", None, "admin_jane"),
        ("$E", "$S", "", "a"),
        ("$E", "$T", "again", "admin"),           # already cancelled
        ("$X", "$S", "x", "admin"),               # step of another execution
        ("$F", "$P", "r" * 500, "a" * 256),       # pending step, at the limits
        ("$F", "$P", "r" * 501, "a"),             # reason one too long
        ("$E", "$S", "\u00e9" * 500, "\u00df" * 256),  # limits in characters
        ("$E", "$S", "x", "a" * 257),
        ("exec_missing", "step", None, "admin"),
        ("", "$S", None, "admin"),
    ]:
        cancel_args.append((e, s, r, a))
    for path, data in [
        ("steps/cancel", {"executionId": "$E", "stepId": "$S", "actorId": "admin"}),
        ("steps/cancel", {"executionId": "$E", "stepId": "$T", "reason": "dup", "actorId": "admin"}),
        ("executions/cancel", {"executionId": "$E", "reason": "Campaign postponed"}),
        ("executions/cancel", {"executionId": "$X"}),
        ("executions/get", {"executionId": "$F"}),
        ("executions/getEvents", {"executionId": "$E", "sinceSeq": 3, "pageSize": 2}),
        ("executions/dispatch", {"definitionId": "$D", "idempotencyKey": "$K"}),
        ("executions/dispatch", {"definitionId": "workers", "idempotencyKey": "$K"}),
        ("executions/dispatch", {"definitionId": "$D", "webhookUrl": "https://hooks.acme.dev/x",
                                 "webhookSecret": "s" * 16, "triggerContext": {"a": [1, {"b": None}]}}),
        ("definitions/get", {"definitionId": "$D"}),
    ]:
        add_request(path, data)
        add_request(path, jdump({"data": data}), whole=True)
    for body in ['{"data":{"executionId":"e","executionId":"f"}}', '{"data":{}}', '{"data":[]}',
                 '{"data":{"executionId":"\\u0000"}}', '{"data":{"executionId":"\\ud800"}}',
                 '{"executionId":"$E"}', '{"data":{},"x":1}', '{"data":{"executionId":"$E"}} x']:
        add_request("steps/cancel", body, whole=True)
    for expr in ['{"op":"gt","args":[{"var":"execution.input.amount"},1000]}',
                 '{"op":"regex","args":[{"var":"execution.input.name"},"^ac(me)+$","i"]}',
                 '{"op":"and","args":[{"op":"includes","args":[{"var":"execution.input.tags"},"a"]},'
                 '{"op":"not","args":[{"op":"isEmpty","args":[{"var":"output.decision"}]}]}]}',
                 '{"op":"eq","args":[{"var":"step.nodeId"},"check"]}',
                 '{"op":"gte","args":[{"op":"length","args":[{"var":"execution.input.name"}]},4]}',
                 '{"op":"startsWith","args":[{"var":"step.stepId"},"step_"]}',
                 '{"op":"endsWith","args":[{"var":"output.decision"},"rove"]}',
                 '{"var":"execution.input.nested.x.2.y"}', 'true', '0', '""', 'null']:
        whens.append((expr, None))
        whens.append((expr, '{"amount":1,"name":"ACME","tags":[],"nested":{"x":[0,0,{"y":""}]}}'))


# ---- fuzz_ops sequences ------------------------------------------------------------------

# Operation numbers of fuzz_ops.c's aBaseOp (all of its endpoints are served).
CREATE, DISPATCH, DISPATCH2, CANCEL, CANCEL2, CANCEL_ALL, CANCEL_EXEC = range(7)
BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, ROLLBACK_TO, CLOCK, READ, VTAB_WRITE = range(7, 16)
DEFS = ["two-reviews", "one-review", "auto-publish", "all-mock", "workers",
        "marketing-copy-approval", "grouped", "looped"]


def ops_sequences():
    d = DEFS.index
    seqs = {
        # the golden cancel story: define, dispatch, cancel, cancel again, read
        "cancel_story": [CREATE, d("two-reviews"), 0, DISPATCH, 0, 0, 0, 0,
                         CANCEL, 0, 0, 2, 2, 0, CANCEL, 0, 0, 2, 2, 1, READ, 0, 1, READ, 0, 0],
        # cancel inside BEGIN ... ROLLBACK, then again for real
        "rollback": [CREATE, 0, 0, DISPATCH, 0, 0, 0, 0, BEGIN, 1, CANCEL, 0, 1, 2, 2, 2,
                     ROLLBACK, 0, CANCEL, 0, 1, 2, 2, 3, COMMIT, 0],
        # savepoints, including one named like velt's own
        "savepoints": [CREATE, 0, 0, DISPATCH, 0, 0, 0, 0, SAVEPOINT, 2, CANCEL, 0, 0, 3, 4, 0,
                       SAVEPOINT, 0, CANCEL_EXEC, 0, 2, 1, ROLLBACK_TO, 0, RELEASE, 2,
                       ROLLBACK_TO, 2, RELEASE, 0, READ, 0, 3],
        # idempotency: same key, then the key with another definition
        "idempotency": [CREATE, 0, 0, CREATE, 1, 1, DISPATCH, 0, 1, 0, 0, DISPATCH, 0, 1, 0, 1,
                        DISPATCH, 1, 1, 0, 0, DISPATCH, 1, 4, 0, 0, 0],
        # engine: mock agents, custom edges, pending workers, groups and loops refused
        "engine": [CREATE, 2, 0, CREATE, 3, 1, CREATE, 4, 0, CREATE, 6, 0, CREATE, 7, 0,
                   DISPATCH, 2, 0, 1, 0, DISPATCH, 2, 0, 2, 1, DISPATCH, 3, 0, 0, 0,
                   DISPATCH, 4, 0, 0, 0, DISPATCH, 6, 0, 0, 0, DISPATCH, 7, 0, 0, 0,
                   CANCEL_ALL, 1, 0, 2, 2, CANCEL_ALL, 0, 0, 2, 2, READ, 1, 5],
        # limits: reasons and actors at and past them, bad ids, through every entry
        "limits": [CREATE, 0, 0, DISPATCH, 0, 0, 0, 0,
                   CANCEL, 0, 0, 4, 0, 0, CANCEL, 0, 0, 6, 5, 1, CANCEL, 0, 0, 8, 2, 2,
                   CANCEL, 0, 0, 9, 7, 3, CANCEL, 0xF1, 0, 2, 2, 0, CANCEL, 0, 0xF2, 2, 2, 1,
                   CANCEL, 0, 0xE0, 2, 2, 0, CANCEL, 0, 0, 7, 6, 0, CANCEL_EXEC, 0, 4, 0],
        # writes to the virtual tables are refused, inside a transaction too
        "vtab_write": [CREATE, 0, 0, DISPATCH, 0, 0, 0, 0, VTAB_WRITE, 0, BEGIN, 0, VTAB_WRITE, 1,
                       VTAB_WRITE, 2, CANCEL, 0, 0, 2, 2, 0, VTAB_WRITE, 3, VTAB_WRITE, 4,
                       VTAB_WRITE, 5, COMMIT, 0, READ, 0, 3],
        # cancel execution twice, with clock moves and a vtab cancel in a transaction
        "cancel_exec": [CREATE, 4, 0, DISPATCH, 4, 0, 0, 0, CLOCK, 9, BEGIN, 0,
                        CANCEL_ALL, 1, 1, 0, 3, 1, COMMIT, 0, CANCEL_EXEC, 0, 2, 0, CLOCK, 1,
                        CANCEL_EXEC, 0, 2, 1, READ, 0, 0, READ, 0, 1],
    }
    return seqs


# ---- the dictionary ---------------------------------------------------------------------

def dictionary():
    words = set()
    for path in glob.glob(os.path.join(ROOT, "ext", "*.c")):
        with open(path) as f:
            src = f.read()
        words.update(re.findall(r'\{"([A-Za-z][A-Za-z0-9]*)", VK_', src))  # request fields
        for arr in re.findall(r"static const char \*const az\w+\[\] = \{([^}]*)\}", src):
            words.update(re.findall(r'"([^"\\]+)"', arr))  # enumerations
        words.update(re.findall(r'\{"([a-zA-Z]+)", \d+, \d+\}', src))  # when operators
    words.update(["pending", "running", "waiting", "completed", "failed", "skipped",
                  "cancelled", "breached", "__mock__", "data", "result", "error",
                  "output.decision", "output.synthetic", "execution.input.", "step.stepId",
                  "step.nodeId", "step.status", "step.retryCount", "op", "args", "var",
                  "https://", "http://", "https://127.0.0.1/", "https://[::1]/", "localhost",
                  "metadata.google.internal", ".internal", "0x7f.1", "2130706433", "@acme.dev",
                  "system:execution-cancel", "/v2/workflow/"])
    words.update(ENDPOINTS)
    entries = [f'"{w}"' for w in sorted(words) if w and all(32 <= ord(c) < 127 for c in w)]
    entries += ['"$E"', '"$S"', '"$T"', '"$X"', '"$F"', '"$P"', '"$D"', '"$K"',
                '"{\\"data\\":{"', '"\\\\u0000"', '"\\\\ud800"', '"\\x1f"', '"\\xc3\\xa9"',
                '"\\xf0\\x9f\\x98\\x80"', '"\\xc0\\xaf"', '"\\xed\\xa0\\x80"', '"null"', '"true"',
                '"false"', '"1e999"', '"-0"', '"9007199254740993"']
    with open(os.path.join(HERE, "velt.dict"), "w") as f:
        f.write("# libFuzzer dictionary for tests/fuzz/ (written by make_seeds.py): request\n"
                "# keys, enumerations, `when` operators, statuses, endpoint paths, fuzz_api's\n"
                "# placeholders, awkward JSON and UTF-8.\n")
        for e in entries:
            f.write(e + "\n")
    return len(entries)


# ---- writing ------------------------------------------------------------------------------

def write_corpus(target, inputs):
    out = os.path.join(CORPUS, target)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    seen = set()
    for data in inputs:
        h = hashlib.sha1(data).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        with open(os.path.join(out, h), "wb") as f:
            f.write(data)
    return len(seen)


def main():
    from_upstream()
    from_sql()
    from_py()
    handwritten()

    api = []
    for path, data in api_data:
        if path in ENDPOINTS:
            i = ENDPOINTS.index(path)
            api.append(bytes([i, 0x01, 0]) + data.encode())          # velt() vs velt_api()
            api.append(bytes([i, 0x03, 0]) + data.encode())          # + "/v2/workflow/" prefix
    for path, body in api_bodies:
        if path in ENDPOINTS:
            i = ENDPOINTS.index(path)
            api.append(bytes([i, 0x00, 0]) + body.encode())
            api.append(bytes([i, 0x06, 0]) + body.encode())          # prefix, mangled path
    i = ENDPOINTS.index("steps/cancel")
    for args in cancel_args:
        types = 0
        parts = []
        for k, v in enumerate(args):
            if v is None:
                types |= 1 << (2 * k)
                v = ""
            parts.append(v.encode())
        api.append(bytes([i, 0x40, types]) + b"\x1f".join(parts))
    api.append(bytes([i, 0x40, 0b10]) + b"12\x1f$S\x1fx\x1fa")          # integer executionId
    api.append(bytes([i, 0x40, 0b1100]) + b"$E\x1f$S\x1fx\x1fa")        # blob stepId

    defs = [b"D" + d.encode() for d in definitions]
    defs += [b"W" + w.encode() + (b"\x1f" + c.encode() if c else b"") for w, c in whens]

    ops = [bytes(s) for s in ops_sequences().values()]

    n = {"fuzz_api": write_corpus("fuzz_api", api),
         "fuzz_definition": write_corpus("fuzz_definition", defs),
         "fuzz_ops": write_corpus("fuzz_ops", ops)}
    nd = dictionary()
    for t, k in n.items():
        print(f"tests/fuzz/corpus/{t}: {k} seeds")
    print(f"tests/fuzz/velt.dict: {nd} entries")


if __name__ == "__main__":
    main()
