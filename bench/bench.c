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
** Then the scale table: the same cancels (in one transaction) on databases
** that already hold 1,000, 100,000 and 1,000,000 steps of history with ten
** events per step; the cost per cancel at 1,000,000 should stay within 1.3x
** of the cost at 1,000.
**
** usage: bench EXTENSION [N_TXN N_AUTO [SCALE_MAX]]
*/
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

static const char zBenchDefinition[] =
    "SELECT velt('definitions/create', '{\"definitionId\":\"bench\",\"name\":\"Bench\","
    "\"nodes\":["
    "{\"nodeId\":\"a\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u1\"]}},"
    "{\"nodeId\":\"b\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u2\"]}},"
    "{\"nodeId\":\"c\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u3\"]}},"
    "{\"nodeId\":\"n\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
    "\"recipients\":[\"x@example.com\"],\"bodyTemplate\":\"x\"}}],"
    "\"edges\":[{\"from\":\"a\",\"to\":\"n\",\"on\":\"reject\"},"
    "{\"from\":\"b\",\"to\":\"n\",\"on\":\"reject\"},"
    "{\"from\":\"c\",\"to\":\"n\",\"on\":\"reject\"}]}')";

static char zFile[64];

/* A fresh WAL database with the extension, the definition and the
** statements both sides use. */
static void open_db(const char *zExt) {
    snprintf(zFile, sizeof zFile, "/tmp/velt-bench-XXXXXX");
    int fd = mkstemp(zFile);
    if (fd < 0) exit(1);
    close(fd);
    if (sqlite3_open(zFile, &db) != SQLITE_OK) die("open");
    char *zErr = 0;
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 1, 0);
    if (sqlite3_load_extension(db, zExt, 0, &zErr) != SQLITE_OK) {
        fprintf(stderr, "bench: cannot load %s: %s\n", zExt, zErr);
        exit(1);
    }
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    exec("SELECT velt_init()");
    exec(zBenchDefinition);
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
}

static void close_db(void) {
    sqlite3_finalize(pVelt), sqlite3_finalize(pUpd), sqlite3_finalize(pIns);
    sqlite3_finalize(pLive), sqlite3_finalize(pBegin), sqlite3_finalize(pCommit);
    if (sqlite3_close(db) != SQLITE_OK) die("close");
    const char *azSuffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char z[80];
        snprintf(z, sizeof z, "%s%s", zFile, azSuffix[i]);
        unlink(z);
    }
}

/* History: nExec finished executions of three completed steps and thirty
** events each (ten per step), older than anything dispatched later, written
** with plain SQL through the same storage triggers. */
static void load_history(int nExec) {
    sqlite3_stmt *p =
        prep("SELECT version_id FROM _velt_definitions WHERE definition_id = 'bench'");
    if (sqlite3_step(p) != SQLITE_ROW) die("no definition");
    char zSql[4096];
    snprintf(zSql, sizeof zSql,
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
             " INSERT INTO _velt_executions(execution_id, definition_id, definition_version,"
             " version_id, status, correlation_id, idempotency_key, started_at, completed_at)"
             " SELECT printf('exec_%%013d_h%%07d', 1600000000000 + i, i), 'bench', 1, %lld,"
             " 'completed', 'corr_h' || i, 'history-' || i, 1600000000000 + i,"
             " 1600000000000 + i FROM c",
             nExec, (long long)sqlite3_column_int64(p, 0));
    sqlite3_finalize(p);
    exec("BEGIN");
    exec(zSql);
    exec("INSERT INTO _velt_steps(execution_id, step_id, node_id, node_type, status,"
         " scheduled_at, started_at, completed_at, output)"
         " SELECT x.execution_id, 'step_' || n.node || '_' || substr(x.execution_id, 6),"
         " n.node, 'human', 'completed', x.started_at, x.started_at, x.started_at,"
         " '{\"decision\":\"approve\"}'"
         " FROM _velt_executions x, (SELECT 'a' AS node UNION ALL SELECT 'b' UNION ALL"
         " SELECT 'c') n WHERE x.execution_id LIKE 'exec\\_%\\_h%' ESCAPE '\\'"
         " ORDER BY x.execution_id, n.node");
    exec("WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < 30)"
         " INSERT INTO _velt_events(execution_id, seq, event_id, type, step_id, timestamp,"
         " data)"
         " SELECT x.execution_id, k.j, printf('evt_%013d%s%02d', x.started_at,"
         " substr(x.execution_id, 20), k.j),"
         " CASE k.j % 10 WHEN 1 THEN 'step.scheduled' WHEN 2 THEN 'step.started'"
         " WHEN 3 THEN 'step.awaiting-approval' WHEN 4 THEN 'step.completed'"
         " ELSE 'step.response-recorded' END,"
         " 'step_' || char(97 + (k.j - 1) / 10) || '_' || substr(x.execution_id, 6),"
         " x.started_at, '{\"n\":' || k.j || '}'"
         " FROM _velt_executions x, k WHERE x.execution_id LIKE 'exec\\_%\\_h%' ESCAPE '\\'"
         " ORDER BY x.execution_id, k.j");
    exec("COMMIT");
}

static double rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench EXTENSION [N_TXN N_AUTO [SCALE_MAX]]\n");
        return 2;
    }
    const char *zExt = argv[1];
    int nTxn = argc > 2 ? atoi(argv[2]) : 100000;
    int nAuto = argc > 3 ? atoi(argv[3]) : 10000;
    int nScaleMax = argc > 4 ? atoi(argv[4]) : 1000000;
    Target *aV, *aS;
    double tv, ts;
    sqlite3_int64 memFirst = 0, memLast = 0;

    printf("velt cancel benchmark (SQLite %s, WAL, synchronous=NORMAL, default cache)\n\n",
           sqlite3_libversion());
    open_db(zExt);
    setup(nTxn, &aV, &aS);
    run(aV, aS, nTxn, 0, &tv, &ts, &memFirst, &memLast);
    double r1 = tv / ts;
    printf("%-34s velt %7.2f us  sql %7.2f us  ratio %.2f\n",
           "one transaction, per cancel:", tv / nTxn, ts / nTxn, r1);
    printf("  (%d cancels per side)\n", nTxn);
    free_targets(aV, nTxn);
    free_targets(aS, nTxn);

    setup(nAuto, &aV, &aS);
    run(aV, aS, nAuto, 1, &tv, &ts, 0, 0);
    double r2 = tv / ts;
    printf("%-34s velt %7.2f us  sql %7.2f us  ratio %.2f\n",
           "autocommit (WAL), per cancel:", tv / nAuto, ts / nAuto, r2);
    printf("  (%d cancels per side)\n", nAuto);
    free_targets(aV, nAuto);
    free_targets(aS, nAuto);
    close_db();
    printf(
        "SQLite memory in use after the first and the last block of cancels: %lld and %lld bytes\n",
        memFirst, memLast);
    printf("SQLite memory high-water mark (velt allocates through SQLite): %lld bytes\n",
           sqlite3_memory_highwater(0));
    printf("ratio one transaction: %.2f (target <= 1.30) %s\n", r1, r1 <= 1.3 ? "ok" : "OVER");
    printf("ratio autocommit WAL:  %.2f (target <= 1.30) %s\n\n", r2, r2 <= 1.3 ? "ok" : "OVER");

    /* Scale: the same cancels on databases that already hold history. */
    static const int aSize[] = {1000, 100000, 1000000};
    const int nTarget = 5000;
    double base = 0;
    int ok = 1;
    printf("scale: %d cancels per side in one transaction, on top of a history of N steps\n"
           "(ten events per step)\n",
           nTarget);
    printf("%10s %12s %12s %8s %14s %10s\n", "steps", "velt us", "sql us", "ratio", "velt vs 1,000",
           "peak RSS");
    for (int i = 0; i < 3 && aSize[i] <= nScaleMax; i++) {
        open_db(zExt);
        load_history(aSize[i] / 3);
        setup(nTarget, &aV, &aS);
        run(aV, aS, nTarget, 0, &tv, &ts, 0, 0);
        double per = tv / nTarget;
        if (i == 0) base = per;
        printf("%10d %12.2f %12.2f %8.2f %14.2f %8.0f MB\n", aSize[i], per, ts / nTarget, tv / ts,
               per / base, rss_mb());
        ok = ok && tv / ts <= 1.3;
        if (i == 2) {
            printf("cost per cancel at 1,000,000 steps vs 1,000: %.2f (target <= 1.30) %s\n",
                   per / base, per / base <= 1.3 ? "ok" : "OVER");
            ok = ok && per / base <= 1.3;
        }
        free_targets(aV, nTarget);
        free_targets(aS, nTarget);
        close_db();
    }
    printf("SQLite memory high-water mark over the whole run: %lld bytes; peak RSS %.0f MB\n",
           sqlite3_memory_highwater(0), rss_mb());
    return (r1 <= 1.3 && r2 <= 1.3 && ok) ? 0 : 1;
}
