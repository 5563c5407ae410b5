"""Several processes cancelling the same steps (SPEC 4 "Concurrency" and
"Atomicity"): every transition is a compare-and-set, exactly one racer wins
each step, the others get FAILED_PRECONDITION, and with a busy timeout set
autocommit calls queue instead of failing with SQLITE_BUSY."""
import multiprocessing
import os
import queue
import random
import sqlite3
import tempfile
import time
import unittest

from velt_helpers import TWO_REVIEWS, connect, define, dispatch, unsynced

N_PROCESSES = 4
N_EXECUTIONS = 50  # two waiting steps each: 100 steps


def race_worker(path, pairs, seed, barrier, results):
    """Runs in a child process: cancels every (execution, step) pair, in an
    order of its own, one autocommit call each; reports what happened."""
    counts = {"ok": 0, "failed_precondition": 0, "busy": 0, "other": []}
    order = list(pairs)
    rng = random.Random(seed)
    rng.shuffle(order)
    if seed % 2:
        order.reverse()
    try:
        conn = unsynced(connect(path, timeout=30, isolation_level=None))
        barrier.wait(timeout=20)
        for execution_id, step_id in order:
            try:
                conn.execute("SELECT velt_cancel_step(?, ?, 'race', ?)",
                             (execution_id, step_id, f"worker-{seed}")).fetchone()
                counts["ok"] += 1
                time.sleep(rng.random() / 1000)  # let the others in: the race must interleave
            except sqlite3.IntegrityError as e:
                if str(e).startswith("FAILED_PRECONDITION: "):
                    counts["failed_precondition"] += 1
                    time.sleep(rng.random() / 1000)
                else:
                    counts["other"].append(repr(e))
            except sqlite3.OperationalError as e:
                msg = str(e).lower()
                if "locked" in msg or "busy" in msg:
                    counts["busy"] += 1
                else:
                    counts["other"].append(repr(e))
        conn.close()
    except Exception as e:  # report, never hang the parent
        counts["other"].append("worker crashed: " + repr(e))
    results.put((seed, counts))


class ConcurrentCancelTest(unittest.TestCase):
    """Four processes race over the same 100 waiting steps; run once."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.dir.name, "race.db")
        conn = unsynced(connect(cls.path))
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        assert mode == "wal", mode
        define(conn, TWO_REVIEWS)
        conn.execute("BEGIN")
        cls.exec_ids = [dispatch(conn, "two-reviews") for _ in range(N_EXECUTIONS)]
        conn.execute("COMMIT")
        cls.pairs = conn.execute(
            "SELECT execution_id, step_id FROM velt_steps WHERE status = 'waiting' ORDER BY 1, 2").fetchall()
        conn.close()

        # fork where there is one (no connection is open in this process at
        # this point); spawn elsewhere.
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        barrier = ctx.Barrier(N_PROCESSES)
        results = ctx.Queue()
        procs = [ctx.Process(target=race_worker, args=(cls.path, cls.pairs, i, barrier, results))
                 for i in range(N_PROCESSES)]
        for p in procs:
            p.start()
        cls.results = {}
        deadline = time.monotonic() + 120
        try:
            while len(cls.results) < N_PROCESSES and time.monotonic() < deadline:
                try:
                    seed, counts = results.get(timeout=0.5)
                    cls.results[seed] = counts
                except queue.Empty:
                    if not any(p.is_alive() for p in procs) and results.empty():
                        break  # a worker died without reporting: test_every_worker_reported fails
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
        cls.conn = connect(cls.path)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.dir.cleanup()

    def total(self, key):
        return sum(c[key] for c in self.results.values())

    def test_setup_has_100_waiting_steps(self):
        self.assertEqual(len(self.pairs), 2 * N_EXECUTIONS)

    def test_every_worker_reported(self):
        self.assertEqual(sorted(self.results), list(range(N_PROCESSES)))

    def test_exactly_100_cancels_succeed_in_total(self):
        self.assertEqual(self.total("ok"), 2 * N_EXECUTIONS, self.results)

    def test_every_other_attempt_is_failed_precondition(self):
        self.assertEqual(self.total("failed_precondition"), (N_PROCESSES - 1) * 2 * N_EXECUTIONS, self.results)

    def test_no_call_fails_with_sqlite_busy(self):
        self.assertEqual(self.total("busy"), 0, self.results)

    def test_no_call_fails_otherwise(self):
        others = [m for c in self.results.values() for m in c["other"]]
        self.assertEqual(others, [])

    def test_100_step_cancelled_events(self):
        (n, distinct) = self.conn.execute(
            "SELECT count(*), count(DISTINCT execution_id || ' ' || step_id) FROM velt_events"
            " WHERE type = 'step.cancelled'").fetchone()
        self.assertEqual((n, distinct), (2 * N_EXECUTIONS, 2 * N_EXECUTIONS))

    def test_each_step_cancelled_event_names_one_worker(self):
        actors = {r[0] for r in self.conn.execute(
            "SELECT actor_id FROM velt_events WHERE type = 'step.cancelled'")}
        self.assertLessEqual(actors, {f"worker-{i}" for i in range(N_PROCESSES)})
        self.assertTrue(actors)

    def test_wins_match_the_events_per_worker(self):
        per_actor = dict(self.conn.execute(
            "SELECT actor_id, count(*) FROM velt_events WHERE type = 'step.cancelled' GROUP BY actor_id"))
        self.assertEqual({f"worker-{s}": c["ok"] for s, c in self.results.items() if c["ok"]}, per_actor)

    def test_every_step_is_cancelled(self):
        rows = self.conn.execute("SELECT status, count(*) FROM velt_steps GROUP BY status").fetchall()
        self.assertEqual(rows, [("cancelled", 2 * N_EXECUTIONS)])

    def test_every_execution_completed_once(self):
        rows = self.conn.execute("SELECT status, count(*) FROM velt_executions GROUP BY status").fetchall()
        self.assertEqual(rows, [("completed", N_EXECUTIONS)])
        (n,) = self.conn.execute("SELECT count(*) FROM velt_events WHERE type = 'execution.completed'").fetchone()
        self.assertEqual(n, N_EXECUTIONS)

    def test_seq_is_contiguous_per_execution(self):
        bad = self.conn.execute(
            "SELECT execution_id, count(*), max(seq) FROM velt_events GROUP BY execution_id"
            " HAVING min(seq) <> 1 OR max(seq) <> count(*) OR count(DISTINCT seq) <> count(*)").fetchall()
        self.assertEqual(bad, [])


if __name__ == "__main__":
    unittest.main()
