/*
** make bench: the cost of Cancel Step through velt_cancel_step() against
** hand-written SQL doing the same work on the same storage: a guarded UPDATE
** of the step row, an INSERT of the step.cancelled event with the next seq,
** and a check for remaining live steps. Both run in one process, on one
** database, interleaved in blocks so that neither gets a warmer cache.
**
**   1. 100,000 cancels in one transaction (each side)
**   2. 10,000 autocommit cancels in WAL mode, synchronous=NORMAL (each side;
**      the hand-written side wraps each cancel in BEGIN IMMEDIATE ... COMMIT,
**      as velt does, so both are atomic)
**
** Every execution has three waiting reviews: velt cancels one, the SQL the
** second, and the third stays live, so neither side ends an execution.
** Prints per-cancel costs, the ratio velt/SQL (target: at most 1.3), and
** SQLite's memory high-water mark (velt allocates through SQLite), sampled
** after the first and the last block to show it does not grow with calls.
**
** usage: bench EXTENSION [N_TXN N_AUTO]
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sqlite3 *db;

static void die(const char *zWhat) {
    fprintf(stderr, "bench: %s: %s\n", zWhat, sqlite3_errmsg(db));
    exit(1);
}

static void exec(const char *zSql) {
    char *zErr = 0;
    if (sqlite3_exec(db, zSql, 0, 0, &zErr) != SQLITE_OK) {
        fprintf(stderr, "bench: %s\n  in: %.200s\n", zErr, zSql);
        exit(1);
    }
}

static sqlite3_stmt *prep(const char *zSql) {
    sqlite3_stmt *p = 0;
    if (sqlite3_prepare_v3(db, zSql, -1, SQLITE_PREPARE_PERSISTENT, &p, 0) != SQLITE_OK) die(zSql);
    return p;
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

typedef struct Target {
    char *zExec;
    char *zStep;
} Target;

static sqlite3_stmt *pVelt, *pUpd, *pIns, *pLive, *pBegin, *pCommit;

static void cancel_velt(const Target *t) {
    sqlite3_bind_text(pVelt, 1, t->zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pVelt, 2, t->zStep, -1, SQLITE_STATIC);
    sqlite3_bind_text(pVelt, 3, "benchmark", -1, SQLITE_STATIC);
    sqlite3_bind_text(pVelt, 4, "admin_bench", -1, SQLITE_STATIC);
    if (sqlite3_step(pVelt) != SQLITE_ROW || sqlite3_column_text(pVelt, 0) == 0)
        die("velt_cancel_step");
    sqlite3_reset(pVelt);
}

static void step_done(sqlite3_stmt *p, const char *zWhat) {
    int rc = sqlite3_step(p);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) die(zWhat);
    sqlite3_reset(p);
}

static void cancel_sql(const Target *t, int bAutocommit) {
    static const char set[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char zId[40];
    unsigned char r[10];
    sqlite3_int64 now = (sqlite3_int64)time(0) * 1000;
    int n = snprintf(zId, sizeof zId, "evt_%013lld", now);
    sqlite3_randomness(sizeof(r), r);
    for (int i = 0; i < 10; i++)
        zId[n + i] = set[r[i] % 36];
    zId[n + 10] = 0;
    if (bAutocommit) step_done(pBegin, "BEGIN IMMEDIATE");
    sqlite3_bind_text(pUpd, 1, t->zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pUpd, 2, t->zStep, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pUpd, 3, now);
    step_done(pUpd, "update");
    if (sqlite3_changes(db) != 1) die("guarded update changed nothing");
    sqlite3_bind_text(pIns, 1, t->zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 2, zId, -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 3, t->zStep, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pIns, 4, now);
    sqlite3_bind_text(pIns, 5, "admin_bench", -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 6, "benchmark", -1, SQLITE_STATIC);
    step_done(pIns, "insert event");
    sqlite3_bind_text(pLive, 1, t->zExec, -1, SQLITE_STATIC);
    if (sqlite3_step(pLive) != SQLITE_ROW) die("live check found no live step");
    sqlite3_reset(pLive);
    if (bAutocommit) step_done(pCommit, "COMMIT");
}

/* Dispatch n executions of the three-review definition and collect the
** steps of node zVelt and zSql as targets. */
static void setup(int n, Target **paVelt, Target **paSql) {
    sqlite3_stmt *p =
        prep("SELECT velt('executions/dispatch', json_object('definitionId', 'bench'))");
    exec("BEGIN");
    for (int i = 0; i < n; i++)
        step_done(p, "dispatch");
    exec("COMMIT");
    sqlite3_finalize(p);
    *paVelt = calloc((size_t)n, sizeof(Target));
    *paSql = calloc((size_t)n, sizeof(Target));
    p = prep("SELECT execution_id, step_id, node_id FROM _velt_steps WHERE status = 'waiting'"
             " AND node_id IN ('a', 'b') AND execution_id NOT IN"
             " (SELECT execution_id FROM _velt_events WHERE type = 'step.cancelled')"
             " ORDER BY rowid");
    int nv = 0, ns = 0;
    while (sqlite3_step(p) == SQLITE_ROW) {
        Target t = {strdup((const char *)sqlite3_column_text(p, 0)),
                    strdup((const char *)sqlite3_column_text(p, 1))};
        if (sqlite3_column_text(p, 2)[0] == 'a') {
            if (nv < n) (*paVelt)[nv++] = t;
        } else if (ns < n) {
            (*paSql)[ns++] = t;
        }
    }
    sqlite3_finalize(p);
    if (nv != n || ns != n) die("setup found too few waiting steps");
}

static void free_targets(Target *a, int n) {
    for (int i = 0; i < n; i++)
        free(a[i].zExec), free(a[i].zStep);
    free(a);
}

/* Interleave blocks of velt and SQL cancels; returns microseconds each. */
static void run(Target *aV, Target *aS, int n, int bAutocommit, double *pV, double *pS,
                sqlite3_int64 *piMemFirst, sqlite3_int64 *piMemLast) {
    int nBlock = n / 10 > 0 ? n / 10 : n;
    *pV = *pS = 0;
    if (!bAutocommit) exec("BEGIN");
    for (int i = 0; i < n; i += nBlock) {
        int m = i + nBlock > n ? n - i : nBlock;
        double t0 = now_us();
        for (int k = 0; k < m; k++)
            cancel_velt(&aV[i + k]);
        double t1 = now_us();
        for (int k = 0; k < m; k++)
            cancel_sql(&aS[i + k], bAutocommit);
        double t2 = now_us();
        *pV += t1 - t0;
        *pS += t2 - t1;
        sqlite3_int64 cur = sqlite3_memory_used();
        if (i == 0 && piMemFirst) *piMemFirst = cur;
        if (piMemLast) *piMemLast = cur;
    }
    if (!bAutocommit) exec("COMMIT");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench EXTENSION [N_TXN N_AUTO]\n");
        return 2;
    }
    int nTxn = argc > 2 ? atoi(argv[2]) : 100000;
    int nAuto = argc > 3 ? atoi(argv[3]) : 10000;
    char zFile[] = "/tmp/velt-bench-XXXXXX";
    int fd = mkstemp(zFile);
    if (fd < 0) return 1;
    close(fd);
    if (sqlite3_open(zFile, &db) != SQLITE_OK) die("open");
    char *zErr = 0;
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, 0);
    if (sqlite3_load_extension(db, argv[1], 0, &zErr) != SQLITE_OK) {
        fprintf(stderr, "bench: cannot load %s: %s\n", argv[1], zErr);
        return 1;
    }
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    exec("SELECT velt_init()");
    exec("SELECT velt('definitions/create', '{\"definitionId\":\"bench\",\"name\":\"Bench\","
         "\"nodes\":["
         "{\"nodeId\":\"a\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u1\"]}},"
         "{\"nodeId\":\"b\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u2\"]}},"
         "{\"nodeId\":\"c\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u3\"]}},"
         "{\"nodeId\":\"n\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
         "\"recipients\":[\"x@example.com\"],\"bodyTemplate\":\"x\"}}],"
         "\"edges\":[{\"from\":\"a\",\"to\":\"n\",\"on\":\"reject\"},"
         "{\"from\":\"b\",\"to\":\"n\",\"on\":\"reject\"},"
         "{\"from\":\"c\",\"to\":\"n\",\"on\":\"reject\"}]}')");

    pVelt = prep("SELECT velt_cancel_step(?1, ?2, ?3, ?4)");
    pUpd = prep("UPDATE _velt_steps SET status = 'cancelled', completed_at = ?3"
                " WHERE execution_id = ?1 AND step_id = ?2"
                " AND status IN ('pending', 'running', 'waiting')");
    pIns = prep("INSERT INTO _velt_events(execution_id, seq, event_id, type, step_id, timestamp,"
                " data, actor_id, reason) VALUES (?1, (SELECT coalesce(max(seq), 0) + 1"
                " FROM _velt_events WHERE execution_id = ?1), ?2, 'step.cancelled', ?3, ?4,"
                " NULL, ?5, ?6)");
    pLive = prep("SELECT 1 FROM _velt_steps WHERE execution_id = ?1"
                 " AND status IN ('pending', 'running', 'waiting') LIMIT 1");
    pBegin = prep("BEGIN IMMEDIATE");
    pCommit = prep("COMMIT");

    Target *aV, *aS;
    double tv, ts;
    sqlite3_int64 memFirst = 0, memLast = 0;

    printf("velt cancel benchmark (SQLite %s, WAL, synchronous=NORMAL)\n", sqlite3_libversion());
    setup(nTxn, &aV, &aS);
    run(aV, aS, nTxn, 0, &tv, &ts, &memFirst, &memLast);
    printf("%-38s velt %6.2f us  sql %6.2f us  ratio %.2f\n",
           "one transaction, cancels per side:", tv / nTxn, ts / nTxn, tv / ts);
    printf("  (%d cancels per side)\n", nTxn);
    double r1 = tv / ts;
    free_targets(aV, nTxn);
    free_targets(aS, nTxn);

    setup(nAuto, &aV, &aS);
    run(aV, aS, nAuto, 1, &tv, &ts, 0, 0);
    printf("%-38s velt %6.2f us  sql %6.2f us  ratio %.2f\n",
           "autocommit (WAL), cancels per side:", tv / nAuto, ts / nAuto, tv / ts);
    printf("  (%d cancels per side)\n", nAuto);
    double r2 = tv / ts;
    free_targets(aV, nAuto);
    free_targets(aS, nAuto);

    sqlite3_int64 hi = sqlite3_memory_highwater(0);
    printf("SQLite memory in use after the first block %lld bytes, after the last %lld bytes\n",
           memFirst, memLast);
    printf("SQLite memory high-water mark (velt allocates through SQLite): %lld bytes\n", hi);
    printf("ratio one transaction: %.2f (target <= 1.30) %s\n", r1, r1 <= 1.3 ? "ok" : "OVER");
    printf("ratio autocommit WAL:  %.2f (target <= 1.30) %s\n", r2, r2 <= 1.3 ? "ok" : "OVER");
    sqlite3_finalize(pVelt), sqlite3_finalize(pUpd), sqlite3_finalize(pIns);
    sqlite3_finalize(pLive), sqlite3_finalize(pBegin), sqlite3_finalize(pCommit);
    int rc = sqlite3_close(db);
    unlink(zFile);
    char zSide[64];
    snprintf(zSide, sizeof zSide, "%s-wal", zFile);
    unlink(zSide);
    snprintf(zSide, sizeof zSide, "%s-shm", zFile);
    unlink(zSide);
    return rc == SQLITE_OK ? 0 : 1;
}
