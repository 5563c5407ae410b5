#!/usr/bin/python3
"""Soak test: several processes hammer one WAL database for a while, then
every reported outcome is reconciled with the database (SPEC 3 invariants,
SPEC 4 "Atomicity" and "Concurrency", 6.5 cancel execution, 6.7 idempotency).

    /usr/bin/python3 tests/soak/soak.py [--seconds 60] [--workers 8] [--keep]

Each worker (this file run with --worker) opens its own connection with the
extension and a busy timeout, and until the deadline runs a random mix of
  - executions/dispatch (some with idempotency keys shared by all workers,
    so that workers race to create the same execution),
  - Cancel Step through velt_cancel_step, velt('steps/cancel') and
    velt_api('steps/cancel'), in autocommit mode, inside BEGIN IMMEDIATE,
    and inside a deferred BEGIN (where SQLITE_BUSY is allowed by the SPEC),
    on steps every worker sees, so that workers race for the same steps,
  - executions/cancel,
  - reads through velt_steps, velt_events, executions/get, executions/getEvents
    (checked on the spot for what one snapshot must show),
  - every half second, a sample of terminal steps.
Every call a worker reports as a success is logged with the JSON it returned,
every failure with its status (tests/soak logs are JSON lines, one file per
worker). Actor ids and reasons are unique per worker and call, so events can
be matched to the call that caused them.

At the end the logs are reconciled with the database, one check per rule
(RULES); the script prints a summary, "ok - rule" or "FAIL - rule: ..." per
rule, and ends with "N passed, N failed"; it exits 1 if any rule failed."""
import argparse
import collections
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "py"))
from velt_helpers import TWO_REVIEWS, connect  # noqa: E402

RULES = (
    "workers finished",
    "no unexpected failure",
    "no SQLITE_BUSY in autocommit or BEGIN IMMEDIATE calls",
    "every reported cancel has exactly one step.cancelled event",
    "every worker step.cancelled event is a reported cancel",
    "every reported execution cancel has its events",
    "every dispatch is reconciled",
    "idempotency keys made one execution each",
    "every event has its transition",
    "seq is contiguous in every execution",
    "no sampled terminal step changed",
    "no terminal execution has a live step",
    "reads saw consistent snapshots",
    "integrity_check is ok",
    "every kind of call succeeded",
)

STATUSES = ("INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "ALREADY_EXISTS", "PERMISSION_DENIED")
LIVE = ("pending", "running", "waiting")
TERMINAL_EXEC = ("completed", "failed", "cancelled")
EXTERNAL = {"execution.dispatched", "execution.completed", "execution.failed", "execution.cancelled",
            "step.awaiting-approval", "step.completed", "step.failed", "step.breached", "step.cancelled",
            "group.quorum-met", "loop.iteration-started", "loop.exhausted"}
SHARED_KEYS = 40
SEEDED_EXECUTIONS = 40


def classify(exc):
    """The failure status of a raised call: a Velt status, BUSY, or SQLITE:..."""
    msg = str(exc)
    m = re.match(r"^([A-Z_]+): ", msg)
    if m and m.group(1) in STATUSES:
        return m.group(1)
    code = getattr(exc, "sqlite_errorcode", None)
    if (code is not None and code & 0xFF in (5, 6)) or "database is locked" in msg or "busy" in msg.lower():
        return "BUSY"
    return "SQLITE: " + msg


# ---------------------------------------------------------------- worker side


class Worker:
    def __init__(self, index, db, log_path, until, seed):
        self.i = index
        self.until = until
        self.rng = random.Random(seed)
        self.conn = connect(db, timeout=60, isolation_level=None)  # timeout = busy timeout
        self.log = open(log_path, "w", buffering=1 << 16)
        self.n = 0
        self.mine = collections.deque(maxlen=10)  # my recent cancels, for sampling
        self.next_sample = time.time() + 0.5

    def write(self, entry):
        self.log.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def ok(self, op, mode, result, **extra):
        self.write({"op": op, "mode": mode, "ok": True, "result": result, **extra})

    def fail(self, op, mode, status, message, **extra):
        self.write({"op": op, "mode": mode, "ok": False, "status": status, "message": message[:300], **extra})

    def one(self, sql, params=()):
        (value,) = self.conn.execute(sql, params).fetchone()
        return value

    def run(self):
        ops = [(self.dispatch, 22), (self.cancel_auto, 25), (self.cancel_immediate, 8),
               (self.cancel_deferred, 5), (self.cancel_execution, 5), (self.read, 35)]
        funcs = [f for f, _ in ops]
        weights = [w for _, w in ops]
        while time.time() < self.until:
            self.n += 1
            self.rng.choices(funcs, weights)[0]()
            if time.time() >= self.next_sample:
                self.sample()
                self.next_sample = time.time() + 0.5
        self.write({"op": "done", "calls": self.n})
        self.log.close()
        self.conn.close()

    # -- writes -------------------------------------------------------------

    def dispatch(self):
        data = {"definitionId": "two-reviews"}
        if self.rng.random() < 0.3:
            data["idempotencyKey"] = f"shared-{self.rng.randrange(SHARED_KEYS)}"
        try:
            res = json.loads(self.one("SELECT velt('executions/dispatch', ?)", (json.dumps(data),)))
        except sqlite3.Error as e:
            return self.fail("dispatch", "auto", classify(e), str(e), key=data.get("idempotencyKey"))
        self.ok("dispatch", "auto", res, key=data.get("idempotencyKey"))

    def targets(self):
        return self.conn.execute(
            "SELECT execution_id, step_id FROM velt_steps WHERE status = 'waiting' LIMIT 16").fetchall()

    def cancel_call(self, e, s, actor, reason):
        """One Cancel Step through one of the three entry points; returns the
        result object or raises (velt_api's error envelopes are raised here as
        VeltApiError so that every path reports the same way)."""
        how = self.rng.random()
        if how < 0.5:
            return json.loads(self.one("SELECT velt_cancel_step(?, ?, ?, ?)", (e, s, reason, actor)))
        data = {"executionId": e, "stepId": s, "actorId": actor, "reason": reason}
        if how < 0.8:
            return json.loads(self.one("SELECT velt('steps/cancel', ?)", (json.dumps(data),)))
        env = json.loads(self.one("SELECT velt_api('steps/cancel', ?)", (json.dumps({"data": data}),)))
        if "error" in env:
            raise VeltApiError(env["error"])
        return env["result"]

    def cancel(self, mode, e, s):
        actor, reason = f"w{self.i}-c{self.n}", f"soak w{self.i} call {self.n}"
        try:
            res = self.cancel_call(e, s, actor, reason)
        except (sqlite3.Error, VeltApiError) as err:
            return False, (classify(err) if isinstance(err, sqlite3.Error) else err.status, str(err), actor)
        return True, (res, actor)

    def cancel_auto(self):
        rows = self.targets()
        if not rows:
            return self.dispatch()
        e, s = self.rng.choice(rows)
        ok, info = self.cancel("auto", e, s)
        self.report_cancel("auto", ok, info, e, s)

    def cancel_immediate(self):
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            return self.fail("begin", "immediate", classify(err), str(err))
        rows = self.targets()
        if not rows:
            self.conn.execute("COMMIT")
            return
        e, s = self.rng.choice(rows)
        ok, info = self.cancel("immediate", e, s)
        self.conn.execute("COMMIT")  # a failed call leaves the transaction usable
        self.report_cancel("immediate", ok, info, e, s)

    def cancel_deferred(self):
        self.conn.execute("BEGIN")
        try:
            rows = self.targets()
            if not rows:
                self.conn.execute("COMMIT")
                return
            e, s = self.rng.choice(rows)
            ok, info = self.cancel("deferred", e, s)
            if ok:
                self.conn.execute("COMMIT")
            else:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error as err:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            return self.fail("cancel", "deferred", classify(err), str(err))
        self.report_cancel("deferred", ok, info, e, s)

    def report_cancel(self, mode, ok, info, e, s):
        if ok:
            res, actor = info
            self.mine.append((e, s))
            self.ok("cancel", mode, res, execution_id=e, step_id=s, actor=actor)
        else:
            status, message, actor = info
            self.fail("cancel", mode, status, message, execution_id=e, step_id=s, actor=actor)

    def cancel_execution(self):
        rows = self.conn.execute("SELECT execution_id FROM velt_executions WHERE status = 'running' LIMIT 16").fetchall()
        if not rows:
            return
        e = self.rng.choice(rows)[0]
        reason = f"w{self.i}-x{self.n}"
        try:
            res = json.loads(self.one("SELECT velt('executions/cancel', ?)",
                                      (json.dumps({"executionId": e, "reason": reason}),)))
        except sqlite3.Error as err:
            return self.fail("xcancel", "auto", classify(err), str(err), execution_id=e, reason=reason)
        self.ok("xcancel", "auto", res, execution_id=e, reason=reason)

    # -- reads ----------------------------------------------------------------

    def read(self):
        rows = self.conn.execute("SELECT execution_id FROM velt_executions ORDER BY started_at DESC LIMIT 32").fetchall()
        if not rows:
            return
        e = self.rng.choice(rows)[0]
        kind = self.rng.choice(("steps", "events", "get", "getEvents"))
        try:
            if kind == "steps":
                res = self.conn.execute("SELECT step_id, status, is_terminal FROM velt_steps WHERE execution_id = ?"
                                        " ORDER BY step_id", (e,)).fetchall()
                anomaly = [r for r in res if (r[1] in LIVE) == bool(r[2])]
            elif kind == "events":
                res = [r[0] for r in self.conn.execute(
                    "SELECT seq FROM velt_events WHERE execution_id = ? ORDER BY seq", (e,))]
                anomaly = res != list(range(1, len(res) + 1)) or not res
            elif kind == "get":
                res = json.loads(self.one("SELECT velt('executions/get', ?)", (json.dumps({"executionId": e}),)))
                live = [st["stepId"] for st in res["steps"] if st["status"] in LIVE]
                anomaly = res["status"] in TERMINAL_EXEC and bool(live)
            else:
                res = json.loads(self.one("SELECT velt('executions/getEvents', ?)",
                                          (json.dumps({"executionId": e, "pageSize": 500}),)))
                seqs = [ev["seq"] for ev in res["events"]]
                anomaly = (seqs != sorted(set(seqs)) or any(ev["type"] not in EXTERNAL for ev in res["events"])
                           or (seqs and res["nextCursor"] < seqs[-1]))
        except sqlite3.Error as err:
            return self.fail("read", "auto", classify(err), str(err), kind=kind, execution_id=e)
        self.ok("read", "auto", res, kind=kind, execution_id=e, anomaly=bool(anomaly))

    def sample(self):
        """Terminal steps as they are now; at the end they must be the same."""
        cols = "execution_id, step_id, status, output, error, completed_at"
        try:
            rows = self.conn.execute(f"SELECT {cols} FROM velt_steps WHERE status = 'cancelled'"
                                     " LIMIT 10 OFFSET ?", (self.rng.randrange(0, 2000),)).fetchall() or \
                self.conn.execute(f"SELECT {cols} FROM velt_steps WHERE status = 'cancelled' LIMIT 10").fetchall()
            for e, s in list(self.mine):
                rows += self.conn.execute(f"SELECT {cols} FROM velt_steps WHERE execution_id = ? AND step_id = ?"
                                          " AND is_terminal = 1", (e, s)).fetchall()
        except sqlite3.Error as err:
            return self.fail("sample", "auto", classify(err), str(err))
        self.ok("sample", "auto", [list(r) for r in rows])


class VeltApiError(Exception):
    def __init__(self, error):
        super().__init__(f"{error.get('status')}: {error.get('message')}")
        self.status = error.get("status")


# ---------------------------------------------------------------- parent side


class Soak:
    def __init__(self, args):
        self.args = args
        self.dir = args.dir or tempfile.mkdtemp(prefix="velt-soak-")
        os.makedirs(self.dir, exist_ok=True)
        self.db = os.path.join(self.dir, "soak.db")
        self.results = []

    def setup(self):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.db + suffix):
                os.remove(self.db + suffix)
        conn = connect(self.db, isolation_level=None)
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        assert mode == "wal", mode
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT velt('definitions/create', ?)", (json.dumps(TWO_REVIEWS),)).fetchone()
        for _ in range(SEEDED_EXECUTIONS):
            conn.execute("SELECT velt('executions/dispatch', ?)", (json.dumps({"definitionId": "two-reviews"}),)).fetchone()
        conn.execute("COMMIT")
        self.seeded = {r[0] for r in conn.execute("SELECT execution_id FROM velt_executions")}
        conn.close()

    def run_workers(self):
        until = time.time() + 1.0 + self.args.seconds  # one second to start up
        seed = self.args.seed if self.args.seed is not None else random.SystemRandom().randrange(1 << 30)
        self.seed = seed
        procs = []
        for i in range(self.args.workers):
            log = os.path.join(self.dir, f"worker-{i}.jsonl")
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "--worker", str(i), "--db", self.db, "--log", log,
                 "--until", repr(until), "--seed", str(seed * 100 + i)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        self.exits = []
        for i, p in enumerate(procs):
            try:
                out, _ = p.communicate(timeout=self.args.seconds + 300)
            except subprocess.TimeoutExpired:
                p.kill()
                out, _ = p.communicate()
            self.exits.append((i, p.returncode, out.strip()[-1500:]))

    def load_logs(self):
        self.entries = []
        self.done = set()
        for i in range(self.args.workers):
            path = os.path.join(self.dir, f"worker-{i}.jsonl")
            if not os.path.exists(path):
                continue
            with open(path) as f:
                for line in f:
                    entry = json.loads(line)
                    entry["worker"] = i
                    if entry["op"] == "done":
                        self.done.add(i)
                    else:
                        self.entries.append(entry)

    def check(self, rule, problems):
        assert rule in RULES, rule
        problems = list(problems)
        self.results.append((rule, problems))

    def reconcile(self):
        conn = connect(self.db)
        q = conn.execute
        ok = [e for e in self.entries if e["ok"]]
        failed = [e for e in self.entries if not e["ok"]]

        # workers finished
        self.check("workers finished",
                   [f"worker {i} exited {rc}: {out}" for i, rc, out in self.exits if rc != 0]
                   + [f"worker {i} wrote no 'done' line" for i in range(self.args.workers) if i not in self.done])

        # no unexpected failure: lost cancel races are FAILED_PRECONDITION; a
        # deferred transaction may get BUSY (SPEC 4); BUSY elsewhere is the
        # next rule's; nothing else may fail.
        unexpected = [e for e in failed
                      if not ((e["op"] == "cancel" and e["status"] == "FAILED_PRECONDITION")
                              or e["status"] == "BUSY")]
        self.check("no unexpected failure", [f"{e['op']}/{e['mode']}: {e['status']}: {e['message']}"
                                             for e in unexpected[:10]])
        busy = [e for e in failed if e["status"] == "BUSY" and e["mode"] in ("auto", "immediate")]
        self.check("no SQLITE_BUSY in autocommit or BEGIN IMMEDIATE calls",
                   [f"{len(busy)} busy calls, e.g. {e['op']}/{e['mode']}: {e['message']}" for e in busy[:1]])

        # Cancel Step successes <-> step.cancelled events
        events = collections.defaultdict(list)
        for r in q("SELECT execution_id, step_id, actor_id, reason, seq FROM velt_events WHERE type = 'step.cancelled'"):
            events[(r[0], r[1], r[2])].append(r)
        cancels = [e for e in ok if e["op"] == "cancel"]
        problems = []
        for c in cancels:
            key = (c["execution_id"], c["step_id"], c["actor"])
            if c["result"] != {"cancelled": True, "executionId": c["execution_id"], "stepId": c["step_id"]}:
                problems.append(f"unexpected result {c['result']}")
            if len(events.get(key, ())) != 1:
                problems.append(f"{key}: {len(events.get(key, ()))} step.cancelled events")
        self.check("every reported cancel has exactly one step.cancelled event", problems[:10])
        reported = {(c["execution_id"], c["step_id"], c["actor"]) for c in cancels}
        worker_events = [k for k in events if re.match(r"^w\d+-c\d+$", k[2] or "")]
        self.check("every worker step.cancelled event is a reported cancel",
                   [f"{k}: no reported success" for k in worker_events if k not in reported][:10]
                   + ([f"{len(worker_events)} worker events for {len(reported)} reported cancels"]
                      if len(worker_events) != len(reported) else []))

        # executions/cancel successes <-> execution.cancelled and system step.cancelled events
        xc = collections.defaultdict(list)
        for r in q("SELECT execution_id, reason FROM velt_events WHERE type = 'execution.cancelled'"):
            xc[r[0]].append(r[1])
        status = dict(q("SELECT execution_id, status FROM velt_executions"))
        problems = []
        xcancels = [e for e in ok if e["op"] == "xcancel"]
        true_reasons = {}
        for x in xcancels:
            e, res = x["execution_id"], x["result"]
            if res.get("cancelled") is True:
                true_reasons[e] = x["reason"]
                if xc.get(e) != [x["reason"]]:
                    problems.append(f"{e}: reported cancelled with reason {x['reason']}, events {xc.get(e)}")
                if status.get(e) != "cancelled":
                    problems.append(f"{e}: reported cancelled, status {status.get(e)}")
            elif res.get("cancelled") is False:
                if status.get(e) not in TERMINAL_EXEC or x["reason"] in (xc.get(e) or []):
                    problems.append(f"{e}: cancelled:false but status {status.get(e)}, events {xc.get(e)}")
            else:
                problems.append(f"{e}: unexpected result {res}")
        for e, reasons in xc.items():
            if true_reasons.get(e) not in reasons:
                problems.append(f"{e}: execution.cancelled without a reported cancel")
        for (e, s, actor), rows in events.items():
            if actor == "system:execution-cancel" and any(r[3] != true_reasons.get(e) for r in rows):
                problems.append(f"{e}/{s}: system step.cancelled with reason {rows[0][3]}, "
                                f"reported {true_reasons.get(e)}")
        self.check("every reported execution cancel has its events", problems[:10])

        # dispatch
        dispatches = [e for e in ok if e["op"] == "dispatch"]
        created = [d["result"]["executionId"] for d in dispatches if d["result"].get("deduplicated") is False]
        problems = []
        if len(created) != len(set(created)):
            problems.append("the same executionId reported as created twice")
        all_execs = set(status)
        if set(created) | self.seeded != all_execs:
            problems.append(f"{len(all_execs - set(created) - self.seeded)} executions nobody reported, "
                            f"{len(set(created) - all_execs)} reported executions missing")
        first = dict(q("SELECT execution_id, type FROM velt_events WHERE seq = 1"))
        dispatched = collections.Counter(r[0] for r in q(
            "SELECT execution_id FROM velt_events WHERE type = 'execution.dispatched'"))
        for e in all_execs:
            if first.get(e) != "execution.dispatched" or dispatched[e] != 1:
                problems.append(f"{e}: seq 1 is {first.get(e)}, {dispatched[e]} execution.dispatched")
        self.check("every dispatch is reconciled", problems[:10])

        # idempotency keys shared by the workers
        problems = []
        by_key = collections.defaultdict(list)
        for r in q("SELECT idempotency_key, execution_id FROM velt_executions WHERE idempotency_key LIKE 'shared-%'"):
            by_key[r[0]].append(r[1])
        suppressed = collections.Counter(r[0] for r in q(
            "SELECT execution_id FROM velt_events WHERE type = 'idempotency.suppressed'"))
        keyed = collections.defaultdict(lambda: {"created": [], "dedup": []})
        for d in dispatches:
            if d.get("key"):
                keyed[d["key"]]["created" if not d["result"]["deduplicated"] else "dedup"].append(
                    d["result"]["executionId"])
        for key, k in keyed.items():
            if len(by_key.get(key, ())) != 1 or len(k["created"]) != 1:
                problems.append(f"{key}: executions {by_key.get(key)}, reported created {k['created']}")
                continue
            (e,) = by_key[key]
            if set(k["dedup"]) - {e}:
                problems.append(f"{key}: dedup returned {set(k['dedup'])}, not {e}")
            if suppressed[e] != len(k["dedup"]):
                problems.append(f"{key}: {len(k['dedup'])} dedups reported, {suppressed[e]} idempotency.suppressed")
        self.check("idempotency keys made one execution each", problems[:10])

        # every event has its transition (and every transition its event)
        problems = [f"step.cancelled {r}: step is {r[2]}" for r in q(
            "SELECT e.execution_id, e.step_id, s.status FROM velt_events e LEFT JOIN velt_steps s"
            " ON s.execution_id = e.execution_id AND s.step_id = e.step_id"
            " WHERE e.type = 'step.cancelled' AND s.status IS NOT 'cancelled'")]
        problems += [f"cancelled step {r[:2]} has {r[2]} step.cancelled events" for r in q(
            "SELECT s.execution_id, s.step_id, count(e.seq) FROM velt_steps s LEFT JOIN velt_events e"
            " ON e.execution_id = s.execution_id AND e.step_id = s.step_id AND e.type = 'step.cancelled'"
            " WHERE s.status = 'cancelled' GROUP BY 1, 2 HAVING count(e.seq) <> 1")]
        terminal_events = collections.defaultdict(list)
        for x, t in q("SELECT execution_id, type FROM velt_events WHERE type IN"
                      " ('execution.completed', 'execution.cancelled', 'execution.failed')"):
            terminal_events[x].append(t)
        for e, st in status.items():
            want = [f"execution.{st}"] if st in TERMINAL_EXEC else []
            if sorted(terminal_events.get(e, [])) != want:
                problems.append(f"{e} is {st}, terminal events {terminal_events.get(e, [])}")
        self.check("every event has its transition", problems[:10])

        self.check("seq is contiguous in every execution", [str(r) for r in q(
            "SELECT execution_id, min(seq), max(seq), count(*) FROM velt_events GROUP BY execution_id"
            " HAVING min(seq) <> 1 OR max(seq) <> count(*)")][:10])

        # I1 on the samples
        final = {(r[0], r[1]): list(r) for r in q(
            "SELECT execution_id, step_id, status, output, error, completed_at FROM velt_steps")}
        problems = []
        nsampled = 0
        for s in (e for e in ok if e["op"] == "sample"):
            for row in s["result"]:
                nsampled += 1
                if final.get((row[0], row[1])) != row:
                    problems.append(f"{row} became {final.get((row[0], row[1]))}")
        self.sampled = nsampled
        self.check("no sampled terminal step changed", problems[:10])

        self.check("no terminal execution has a live step", [str(r) for r in q(
            "SELECT x.execution_id, x.status, s.step_id, s.status FROM velt_executions x JOIN velt_steps s"
            " ON s.execution_id = x.execution_id WHERE x.status IN ('completed', 'failed', 'cancelled')"
            " AND s.status IN ('pending', 'running', 'waiting')")][:10]
            + [f"{r[0]} is running with no live step" for r in q(
                "SELECT execution_id FROM velt_executions x WHERE status = 'running' AND NOT EXISTS"
                " (SELECT 1 FROM velt_steps s WHERE s.execution_id = x.execution_id"
                " AND s.status IN ('pending', 'running', 'waiting'))")][:10])

        self.check("reads saw consistent snapshots",
                   [f"{e['kind']} of {e['execution_id']}: {str(e['result'])[:300]}"
                    for e in ok if e["op"] == "read" and e["anomaly"]][:10])

        self.check("integrity_check is ok",
                   [r[0] for r in q("PRAGMA integrity_check") if r[0] != "ok"][:10])

        kinds = collections.Counter((e["op"], e["mode"]) for e in ok)
        need = [("dispatch", "auto"), ("cancel", "auto"), ("cancel", "immediate"), ("xcancel", "auto"),
                ("read", "auto"), ("sample", "auto")]
        self.check("every kind of call succeeded", [f"no successful {op}/{mode}" for op, mode in need
                                                    if not kinds[(op, mode)]])
        self.counts = {
            "executions": len(status),
            "executions by status": dict(collections.Counter(status.values())),
            "events": q("SELECT count(*) FROM velt_events").fetchone()[0],
        }
        conn.close()

    def summary(self):
        ok = collections.Counter(f"{e['op']}/{e['mode']}" for e in self.entries if e["ok"])
        bad = collections.Counter(f"{e['op']}/{e['mode']} {e['status']}" for e in self.entries if not e["ok"])
        total = sum(ok.values()) + sum(bad.values())
        print(f"soak: {self.args.workers} workers, {self.args.seconds} s, seed {self.seed}")
        print(f"database and logs: {self.dir} (kept when a rule fails, or with --keep)")
        print(f"calls: {total} ({total / max(self.args.seconds, 1):.0f}/s)")
        for k, v in sorted(ok.items()):
            print(f"  ok    {k:24} {v}")
        for k, v in sorted(bad.items()):
            print(f"  fail  {k:24} {v}")
        print(f"sampled terminal steps: {self.sampled}")
        for k, v in self.counts.items():
            print(f"{k}: {v}")
        passed = failed = 0
        for rule, problems in self.results:
            if problems:
                failed += 1
                print(f"FAIL - {rule}")
                for p in problems:
                    print(f"    {p}")
            else:
                passed += 1
                print(f"ok - {rule}")
        print(f"{passed} passed, {failed} failed")
        return failed

    def main(self):
        self.setup()
        self.run_workers()
        self.load_logs()
        self.reconcile()
        failed = self.summary()
        if not (failed or self.args.keep or self.args.dir):
            shutil.rmtree(self.dir, ignore_errors=True)
        return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--dir", help="where the database and logs go (default: a new temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the database and logs")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--log", help=argparse.SUPPRESS)
    ap.add_argument("--until", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        Worker(args.worker, args.db, args.log, args.until, args.seed).run()
        return 0
    return Soak(args).main()


if __name__ == "__main__":
    sys.exit(main())
