"""Crash consistency (SPEC 3 invariants I1-I5, SPEC 4 "Atomicity"): a writer
process runs a stream of writing calls on a database file and is killed with
SIGKILL at a random moment, over and over, on the same file; after every kill
the parent opens the file and checks that SQLite recovered it (integrity_check)
and that everything the contract promises still holds. Half of the kills run
in WAL mode, half in rollback-journal mode (journal_mode=DELETE), both with
synchronous=FULL.

The writer (WRITER below, run with -c through the same /usr/bin/python3) mixes
executions/dispatch (some with an idempotency key, some repeating one),
velt_cancel_step / velt('steps/cancel') / velt_api('steps/cancel'),
executions/cancel, and a deliberately failing second cancel (FAILED_PRECONDITION),
some in autocommit mode and some in BEGIN IMMEDIATE ... COMMIT (or ROLLBACK)
groups. It prints "B" before each autocommit call, "G" before each group and
"C <acks>" after each commit, so the parent knows which kills landed inside a
write and which writes were acknowledged (those must survive the kill).

VELT_CRASH_KILLS (default 100) sets the kills per journal mode, VELT_CRASH_SEED
the random seed (printed in every failure message, to replay a run)."""
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

from velt_helpers import EXTENSION, TWO_REVIEWS, connect, define, dispatch

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
KILLS_PER_MODE = int(os.environ.get("VELT_CRASH_KILLS", "100"))
SEED = int(os.environ.get("VELT_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
MIN_DELAY, MAX_DELAY = 0.002, 0.100  # seconds between "ready" and SIGKILL

LIVE = "('pending', 'running', 'waiting')"
TERMINAL_STEP = "('completed', 'failed', 'skipped', 'cancelled', 'breached')"
TERMINAL_EXEC = "('completed', 'failed', 'cancelled')"

# The writer: its own connection with the extension, synchronous=FULL, then a
# stream of writing calls until it is killed. Kept free of heavy imports so it
# is ready within a few tens of milliseconds.
WRITER = r'''
import json, random, sqlite3, sys
path, ext, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = random.Random(seed)
conn = sqlite3.connect(path, timeout=30, isolation_level=None)
conn.enable_load_extension(True)
conn.load_extension(ext)
conn.enable_load_extension(False)
conn.execute("PRAGMA synchronous = FULL")
out = sys.stdout

def say(s):
    out.write(s + "\n")
    out.flush()

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 _-:\u00e9\u20ac\U0001F600"

def text(n):
    return "".join(rng.choice(ALPHABET) for _ in range(n))

def actor(n):
    # unique per writer and call; 1-256 characters, sometimes exactly 256
    head = "w%d-%d-" % (seed, n)
    size = rng.choice([len(head), len(head) + 1, 40, 256, rng.randint(len(head), 256)])
    return head + text(size - len(head))

def reason():
    r = rng.random()
    if r < 0.2:
        return None
    return text(rng.choice([0, 1, 500, rng.randint(0, 500)]))

def load_state():
    waiting = [tuple(r) for r in conn.execute(
        "SELECT execution_id, step_id FROM _velt_steps WHERE status = 'waiting'")]
    done = [tuple(r) for r in conn.execute(
        "SELECT execution_id, step_id FROM _velt_steps WHERE status = 'cancelled' LIMIT 64")]
    return waiting, done

waiting, done = load_state()
keys = []
say("ready")

def op(n, acks):
    global waiting
    r = rng.random()
    if r < 0.30 or len(waiting) < 4:
        data = {"definitionId": "two-reviews"}
        if keys and rng.random() < 0.1:
            data["idempotencyKey"] = rng.choice(keys)
        elif rng.random() < 0.3:
            data["idempotencyKey"] = "k%d-%d" % (seed, n)
            keys.append(data["idempotencyKey"])
        (res,) = conn.execute("SELECT velt('executions/dispatch', ?)", (json.dumps(data),)).fetchone()
        res = json.loads(res)
        if not res["deduplicated"]:
            e = res["executionId"]
            waiting += [(e, s) for (s,) in conn.execute(
                "SELECT step_id FROM _velt_steps WHERE execution_id = ? AND status = 'waiting'", (e,))]
            acks.append(["d", e])
    elif r < 0.80:
        e, s = waiting.pop(rng.randrange(len(waiting)))
        a, why = actor(n), reason()
        how = rng.random()
        if how < 0.6:
            (res,) = conn.execute("SELECT velt_cancel_step(?, ?, ?, ?)", (e, s, why, a)).fetchone()
            res = json.loads(res)
        else:
            data = {"executionId": e, "stepId": s, "actorId": a}
            if why is not None:
                data["reason"] = why
            if how < 0.8:
                (res,) = conn.execute("SELECT velt('steps/cancel', ?)", (json.dumps(data),)).fetchone()
                res = json.loads(res)
            else:
                (res,) = conn.execute("SELECT velt_api('steps/cancel', ?)",
                                      (json.dumps({"data": data}),)).fetchone()
                res = json.loads(res)["result"]
        assert res == {"cancelled": True, "executionId": e, "stepId": s}, res
        done.append((e, s))
        acks.append(["c", e, s, a])
    elif r < 0.90:
        e = rng.choice(waiting)[0]
        data = {"executionId": e}
        why = reason()
        if why is not None:
            data["reason"] = why
        (res,) = conn.execute("SELECT velt('executions/cancel', ?)", (json.dumps(data),)).fetchone()
        res = json.loads(res)
        assert res == {"cancelled": True, "executionId": e}, res
        done.extend(p for p in waiting if p[0] == e)
        waiting = [p for p in waiting if p[0] != e]
        acks.append(["x", e])
    elif done:
        e, s = rng.choice(done)
        try:
            conn.execute("SELECT velt_cancel_step(?, ?, 'again', ?)", (e, s, actor(n))).fetchone()
        except sqlite3.IntegrityError as err:
            assert str(err).startswith("FAILED_PRECONDITION: "), err
        else:
            raise AssertionError("a second cancel of %s succeeded" % s)

n = 0
while True:
    acks = []
    if rng.random() < 0.35:
        say("G")
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(rng.randint(2, 6)):
            n += 1
            op(n, acks)
        if rng.random() < 0.1:
            conn.execute("ROLLBACK")
            waiting, done = load_state()
            say("R")
        else:
            conn.execute("COMMIT")
            say("C " + json.dumps(acks))
    else:
        say("B")
        n += 1
        op(n, acks)
        say("C " + json.dumps(acks))
'''

CHECKS = ("integrity", "journal_mode", "i1_terminal_steps_unchanged", "i2_events_unchanged",
          "i3_seq_contiguous", "i4_no_live_step_in_terminal_execution", "i5_lengths",
          "cancelled_step_has_one_event", "cancel_event_has_cancelled_step",
          "execution_events_match_status", "running_execution_has_live_step", "acks_survive")


def wait_ready(proc, timeout=30.0):
    """Reads the writer's first line ("ready"); returns it ('' on EOF/timeout)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


class CrashCampaign:
    """Runs the kill loop on one database file and records, per check, every
    violation seen after any kill."""

    def __init__(self, directory, journal_mode, kills, seed):
        self.path = os.path.join(directory, f"crash-{journal_mode}.db")
        self.shadow = os.path.join(directory, f"shadow-{journal_mode}.db")
        self.journal_mode = journal_mode
        self.kills = kills
        self.rng = random.Random(seed)
        self.seed = seed
        self.violations = {c: [] for c in CHECKS}
        self.writer_failures = []
        self.kills_done = 0
        self.in_flight = {"B": 0, "G": 0}  # kills inside an autocommit call / a group
        self.hot_journals = 0
        self.acks_total = 0
        self.elapsed = 0.0
        self.counts = {}

    def setup(self):
        conn = connect(self.path)
        (mode,) = conn.execute(f"PRAGMA journal_mode = {self.journal_mode}").fetchone()
        assert mode == self.journal_mode, mode
        conn.execute("PRAGMA synchronous = FULL")
        define(conn, TWO_REVIEWS)
        conn.commit()
        for _ in range(8):
            dispatch(conn, "two-reviews")
        conn.commit()
        conn.close()
        sh = sqlite3.connect(self.shadow)
        sh.executescript("""
            CREATE TABLE term(execution_id, step_id, status, output, error, completed_at,
                              PRIMARY KEY (execution_id, step_id));
            CREATE TABLE ev(execution_id, seq, event_id, type, step_id, timestamp, data,
                            actor_id, reason, PRIMARY KEY (execution_id, seq));""")
        sh.close()

    def run(self):
        self.setup()
        start = time.monotonic()
        for i in range(self.kills):
            self.one_kill(i)
        self.elapsed = time.monotonic() - start

    def one_kill(self, i):
        proc = subprocess.Popen([PYTHON, "-c", WRITER, self.path, EXTENSION, str(self.rng.randrange(1 << 30))],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = wait_ready(proc)
        if first.strip() == "ready":
            time.sleep(self.rng.uniform(MIN_DELAY, MAX_DELAY))
        alive = proc.poll() is None
        if alive:
            os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=60)
        if first.strip() != "ready" or not alive:
            self.writer_failures.append(f"kill {i}: writer exited by itself (rc {proc.returncode}), "
                                        f"first line {first!r}, stderr: {err.strip()[-2000:]}")
        elif proc.returncode != -signal.SIGKILL:
            self.writer_failures.append(f"kill {i}: writer ended with rc {proc.returncode}")
        self.kills_done += 1
        lines = out.splitlines()
        if lines and lines[-1] in self.in_flight:
            self.in_flight[lines[-1]] += 1
        acks = []
        for line in lines:
            if line.startswith("C "):
                acks.extend(json.loads(line[2:]))
        self.acks_total += len(acks)
        journal = self.path + "-journal"
        if os.path.exists(journal) and os.path.getsize(journal) > 0:
            self.hot_journals += 1
        self.check(i, acks)

    def violation(self, check, i, what):
        if len(self.violations[check]) < 20:
            self.violations[check].append(f"after kill {i}: {what}")

    def check(self, i, acks):
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = FULL")
            self._check(conn, i, acks)
        finally:
            conn.close()

    def _check(self, conn, i, acks):
        q = conn.execute
        rows = [r[0] for r in q("PRAGMA integrity_check")]
        if rows != ["ok"]:
            self.violation("integrity", i, rows[:5])
        (mode,) = q("PRAGMA journal_mode").fetchone()
        if mode != self.journal_mode:
            self.violation("journal_mode", i, mode)
        q("ATTACH ? AS shadow", (self.shadow,))
        q("BEGIN")  # one snapshot of main for every check below

        # I1: every terminal step seen after an earlier kill is still there, unchanged.
        for r in q("SELECT t.execution_id, t.step_id, t.status, s.status, t.completed_at, s.completed_at"
                   " FROM shadow.term t LEFT JOIN main._velt_steps s USING (execution_id, step_id)"
                   " WHERE s.step_id IS NULL OR s.status IS NOT t.status OR s.output IS NOT t.output"
                   " OR s.error IS NOT t.error OR s.completed_at IS NOT t.completed_at"):
            self.violation("i1_terminal_steps_unchanged", i, r)
        q("INSERT OR IGNORE INTO shadow.term SELECT execution_id, step_id, status, output, error, completed_at"
          f" FROM main._velt_steps WHERE status IN {TERMINAL_STEP}")

        # I2: every event seen after an earlier kill is still there, unchanged.
        for r in q("SELECT t.execution_id, t.seq, t.type FROM shadow.ev t"
                   " LEFT JOIN main._velt_events e USING (execution_id, seq)"
                   " WHERE e.seq IS NULL OR e.event_id IS NOT t.event_id OR e.type IS NOT t.type"
                   " OR e.step_id IS NOT t.step_id OR e.timestamp IS NOT t.timestamp OR e.data IS NOT t.data"
                   " OR e.actor_id IS NOT t.actor_id OR e.reason IS NOT t.reason"):
            self.violation("i2_events_unchanged", i, r)
        q("INSERT OR IGNORE INTO shadow.ev SELECT execution_id, seq, event_id, type, step_id, timestamp,"
          " data, actor_id, reason FROM main._velt_events")

        # I2/I3: seq is exactly 1..max per execution, and every execution has its events.
        for r in q("SELECT execution_id, min(seq), max(seq), count(*), count(DISTINCT seq)"
                   " FROM main._velt_events GROUP BY execution_id"
                   " HAVING min(seq) <> 1 OR max(seq) <> count(*) OR count(DISTINCT seq) <> count(*)"):
            self.violation("i3_seq_contiguous", i, r)
        for r in q("SELECT execution_id FROM main._velt_executions x WHERE NOT EXISTS"
                   " (SELECT 1 FROM main._velt_events e WHERE e.execution_id = x.execution_id)"):
            self.violation("i3_seq_contiguous", i, ("execution without events",) + tuple(r))
        for r in q("SELECT DISTINCT execution_id FROM main._velt_events e WHERE NOT EXISTS"
                   " (SELECT 1 FROM main._velt_executions x WHERE x.execution_id = e.execution_id)"):
            self.violation("i3_seq_contiguous", i, ("events without execution",) + tuple(r))

        # I4
        for r in q("SELECT x.execution_id, x.status, s.step_id, s.status FROM main._velt_executions x"
                   " JOIN main._velt_steps s ON s.execution_id = x.execution_id"
                   f" WHERE x.status IN {TERMINAL_EXEC} AND s.status IN {LIVE}"):
            self.violation("i4_no_live_step_in_terminal_execution", i, r)

        # I5
        for r in q("SELECT execution_id, seq, type, length(actor_id), length(reason) FROM main._velt_events"
                   " WHERE (actor_id IS NOT NULL AND length(actor_id) NOT BETWEEN 1 AND 256)"
                   " OR (type IN ('step.cancelled', 'execution.cancelled') AND length(reason) > 500)"
                   " OR (type = 'step.cancelled' AND actor_id IS NULL)"):
            self.violation("i5_lengths", i, r)

        # Atomicity of Cancel Step: the transition and its event commit together.
        for r in q("SELECT s.execution_id, s.step_id, count(e.seq) FROM main._velt_steps s"
                   " LEFT JOIN main._velt_events e ON e.execution_id = s.execution_id"
                   " AND e.step_id = s.step_id AND e.type = 'step.cancelled'"
                   " WHERE s.status = 'cancelled' GROUP BY s.execution_id, s.step_id HAVING count(e.seq) <> 1"):
            self.violation("cancelled_step_has_one_event", i, r)
        for r in q("SELECT e.execution_id, e.seq, e.step_id, s.status FROM main._velt_events e"
                   " LEFT JOIN main._velt_steps s ON s.execution_id = e.execution_id AND s.step_id = e.step_id"
                   " WHERE e.type = 'step.cancelled' AND s.status IS NOT 'cancelled'"):
            self.violation("cancel_event_has_cancelled_step", i, r)

        # Dispatch, roll-up and execution cancel are atomic too: one
        # execution.dispatched at seq 1, and the terminal event matches the status.
        for r in q("""SELECT x.execution_id, x.status,
                         (SELECT count(*) FROM main._velt_events e WHERE e.execution_id = x.execution_id
                            AND e.type = 'execution.dispatched') AS dispatched,
                         (SELECT type FROM main._velt_events e WHERE e.execution_id = x.execution_id
                            AND e.seq = 1) AS first,
                         (SELECT count(*) FROM main._velt_events e WHERE e.execution_id = x.execution_id
                            AND e.type = 'execution.completed') AS completed,
                         (SELECT count(*) FROM main._velt_events e WHERE e.execution_id = x.execution_id
                            AND e.type = 'execution.cancelled') AS cancelled,
                         (SELECT count(*) FROM main._velt_events e WHERE e.execution_id = x.execution_id
                            AND e.type = 'execution.failed') AS failed
                       FROM main._velt_executions x"""):
            e, status, dispatched, first, completed, cancelled, failed = r
            want = {"completed": (1, 0, 0), "cancelled": (0, 1, 0), "failed": (0, 0, 1)}.get(status, (0, 0, 0))
            if dispatched != 1 or first != "execution.dispatched" or (completed, cancelled, failed) != want:
                self.violation("execution_events_match_status", i, r)
        for r in q("SELECT execution_id FROM main._velt_executions x WHERE status = 'running' AND NOT EXISTS"
                   f" (SELECT 1 FROM main._velt_steps s WHERE s.execution_id = x.execution_id AND s.status IN {LIVE})"):
            self.violation("running_execution_has_live_step", i, r)

        # Durability: what the writer saw committed before the kill is there.
        for ack in acks:
            if ack[0] == "d":
                ok = q("SELECT count(*) FROM main._velt_executions WHERE execution_id = ?", (ack[1],)).fetchone()[0] == 1
            elif ack[0] == "c":
                ok = q("SELECT count(*) FROM main._velt_steps s JOIN main._velt_events e"
                       " ON e.execution_id = s.execution_id AND e.step_id = s.step_id"
                       " WHERE s.execution_id = ? AND s.step_id = ? AND s.status = 'cancelled'"
                       " AND e.type = 'step.cancelled' AND e.actor_id = ?", tuple(ack[1:])).fetchone()[0] == 1
            else:
                ok = q("SELECT status FROM main._velt_executions WHERE execution_id = ?",
                       (ack[1],)).fetchone() == ("cancelled",)
            if not ok:
                self.violation("acks_survive", i, ack)
        self.counts = dict(q("SELECT 'executions', count(*) FROM main._velt_executions UNION ALL"
                             " SELECT 'events', count(*) FROM main._velt_events UNION ALL"
                             " SELECT 'cancelled steps', count(*) FROM main._velt_steps WHERE status = 'cancelled'"))
        q("COMMIT")
        q("DETACH shadow")


class CrashMixin:
    journal_mode = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        seed = SEED + (0 if cls.journal_mode == "wal" else 1)
        cls.campaign = CrashCampaign(cls.dir.name, cls.journal_mode, KILLS_PER_MODE, seed)
        cls.campaign.run()

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def where(self):
        c = self.campaign
        return (f" [journal_mode={c.journal_mode}, seed={c.seed} (VELT_CRASH_SEED={SEED}), "
                f"{c.kills_done} kills in {c.elapsed:.1f}s, {c.counts}]")

    def assertNoViolation(self, check):
        self.assertEqual(self.campaign.violations[check], [], check + self.where())

    # -- the campaign itself did what it claims --------------------------------

    def test_every_kill_was_made(self):
        self.assertGreaterEqual(self.campaign.kills_done, KILLS_PER_MODE, self.where())

    def test_writer_never_failed_on_its_own(self):
        self.assertEqual(self.campaign.writer_failures, [], self.where())

    def test_kills_landed_inside_writes(self):
        # the writer's last line was "B" or "G": killed between starting a
        # call or group and seeing it commit
        inside = sum(self.campaign.in_flight.values())
        self.assertGreaterEqual(inside, self.campaign.kills_done // 4,
                                f"too few kills interrupted a write {self.campaign.in_flight}" + self.where())

    def test_kills_landed_inside_autocommit_calls_and_inside_groups(self):
        self.assertGreaterEqual(min(self.campaign.in_flight.values()), 1,
                                f"kills inside autocommit calls / groups: {self.campaign.in_flight}" + self.where())

    def test_the_stream_made_progress(self):
        self.assertGreaterEqual(self.campaign.acks_total, 2 * self.campaign.kills_done,
                                "the writers committed too little" + self.where())

    # -- after every kill -----------------------------------------------------

    def test_integrity_check_is_ok_after_every_kill(self):
        self.assertNoViolation("integrity")

    def test_journal_mode_is_kept(self):
        self.assertNoViolation("journal_mode")

    def test_i1_terminal_steps_never_change_across_kills(self):
        self.assertNoViolation("i1_terminal_steps_unchanged")

    def test_i2_events_are_never_lost_or_changed_across_kills(self):
        self.assertNoViolation("i2_events_unchanged")

    def test_i3_seq_is_1_to_max_in_every_execution(self):
        self.assertNoViolation("i3_seq_contiguous")

    def test_i4_no_terminal_execution_has_a_live_step(self):
        self.assertNoViolation("i4_no_live_step_in_terminal_execution")

    def test_i5_stored_actor_and_reason_lengths(self):
        self.assertNoViolation("i5_lengths")

    def test_every_cancelled_step_has_exactly_one_step_cancelled_event(self):
        self.assertNoViolation("cancelled_step_has_one_event")

    def test_every_step_cancelled_event_has_its_cancelled_step(self):
        self.assertNoViolation("cancel_event_has_cancelled_step")

    def test_execution_events_match_execution_status(self):
        self.assertNoViolation("execution_events_match_status")

    def test_running_executions_have_a_live_step(self):
        # roll-up commits with the cancel of the last live step (SPEC 6.4)
        self.assertNoViolation("running_execution_has_live_step")

    def test_acknowledged_writes_survive_the_kill(self):
        self.assertNoViolation("acks_survive")


class WalCrashTest(CrashMixin, unittest.TestCase):
    journal_mode = "wal"


class RollbackJournalCrashTest(CrashMixin, unittest.TestCase):
    journal_mode = "delete"

    def test_kills_left_hot_journals_that_were_rolled_back(self):
        self.assertGreaterEqual(self.campaign.hot_journals, 1,
                                "no kill interrupted a rollback-journal transaction" + self.where())


if __name__ == "__main__":
    unittest.main()
