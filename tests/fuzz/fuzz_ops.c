/*
** fuzz_ops: sequences of writing calls and transaction statements, with the
** invariants of SPEC section 3 checked after each one.
**
** The input is read as a sequence of operations (at most 64): one byte
** picks the operation (modulo their number), the bytes after it its
** arguments (0 when the input has run out). Operations:
**   create     definitions/create of one of fuzz_common.c's definitions
**   dispatch   executions/dispatch: a definition (or a missing one), an
**              idempotency key from a small set (one of them an existing
**              executionId), a triggerContext
**   cancel     steps/cancel through velt_cancel_step(), velt(), velt_api() or
**              a SELECT over velt_steps; the execution and step are ones
**              that exist, one of another execution, or bad ids; reasons and
**              actors at, over and under the limits, in 1-, 2- and 4-byte
**              characters, and invalid UTF-8
**   cancel-all SELECT velt_cancel_step(...) FROM velt_steps WHERE status = ...
**   cancel-exec executions/cancel
**   BEGIN [IMMEDIATE|EXCLUSIVE], COMMIT, ROLLBACK, SAVEPOINT/RELEASE/ROLLBACK
**              TO s0|s1|velt (velt's own savepoint name)
**   clock      velt_set_clock() forward
**   read       executions/get, executions/getEvents, definitions/get and the
**              virtual tables (rowid too), compared with the storage
**   vtab-write INSERT/UPDATE/DELETE on the virtual tables: refused, nothing changes
**   one more operation per writing endpoint of the table (endpoints added
**              later join here without a line of code): a request built from
**              the endpoint's schema with ids that exist and values by kind
**
** Each input starts from a new in-memory database and ends with
** sqlite3_close() == SQLITE_OK.
**
** After every operation: the outcome the contract predicts for cancel,
** cancel-exec, dispatch and create (status, result, what changed); a failed
** call changed nothing; SQLite's transaction state is the one the model of
** BEGIN/SAVEPOINT/RELEASE/ROLLBACK TO/COMMIT/ROLLBACK says (a velt call
** never ends or opens the caller's transaction) and ROLLBACK/ROLLBACK TO
** restore the storage exactly; I1 (a shadow copy of terminal steps' status,
** output, error, completed_at), I2 (each execution's events so far are still
** there, unchanged), I2/I3 (seq is 1..max), I4, I5, every cancelled step has
** exactly one step.cancelled event and every step.cancelled event its
** cancelled step, plus the other checks of fz_check_invariants().
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define MAX_OPS 64
#define MAX_LEVEL 6

static sqlite3 *g_db;
static FzSnap *g_pSnap; /* the storage after the last operation */
static sqlite3_int64 g_iClock;
static char g_zWhat[200]; /* the operation running, for messages */

/* ---- input -------------------------------------------------------------------------- */

typedef struct Rd {
    const uint8_t *a;
    size_t n, i;
} Rd;

static unsigned rd(Rd *p) {
    return p->i < p->n ? p->a[p->i++] : 0;
}

/* ---- value pools --------------------------------------------------------------------- */

typedef struct Str {
    const char *z; /* NULL: SQL NULL / omitted */
    int n;
} Str;

static char *g_zBuf[16];
static int g_nBuf;

static const char *repeat(const char *zUnit, int nTimes) {
    sqlite3_str *s = sqlite3_str_new(0);
    for (int i = 0; i < nTimes; i++)
        sqlite3_str_appendall(s, zUnit);
    char *z = sqlite3_str_finish(s);
    FZ_ASSERT(z && g_nBuf < 16, "pool setup");
    g_zBuf[g_nBuf++] = z;
    return z;
}

static Str g_aReason[12], g_aActor[12], g_aBadExec[3], g_aBadStep[3];
static int g_nReason, g_nActor;

static Str str(const char *z) {
    Str s = {z, z ? (int)strlen(z) : 0};
    return s;
}

static void pools_init(void) {
    if (g_nReason) return;
    g_aReason[g_nReason++] = str(0);
    g_aReason[g_nReason++] = str("");
    g_aReason[g_nReason++] = str("Reviewer unavailable");
    g_aReason[g_nReason++] = str(repeat("r", 500));
    g_aReason[g_nReason++] = str(repeat("r", 501));
    g_aReason[g_nReason++] = str(repeat("\xc3\xa9", 500)); /* é: 1000 bytes */
    g_aReason[g_nReason++] = str(repeat("\xc3\xa9", 501));
    g_aReason[g_nReason++] = str(repeat("\xf0\x9f\x98\x80", 500)); /* 😀: 2000 bytes */
    g_aReason[g_nReason++] = str("bad \xff\xfe utf-8");
    g_aReason[g_nReason++] = (Str){"nul\0inside", 10};
    g_aReason[g_nReason++] = str("line\nbreak \"quoted\" \\ \x01");
    g_aActor[g_nActor++] = str(0);
    g_aActor[g_nActor++] = str("");
    g_aActor[g_nActor++] = str("admin_jane");
    g_aActor[g_nActor++] = str("a");
    g_aActor[g_nActor++] = str(repeat("a", 256));
    g_aActor[g_nActor++] = str(repeat("a", 257));
    g_aActor[g_nActor++] = str(repeat("\xc3\x9f", 256)); /* ß */
    g_aActor[g_nActor++] = str(repeat("\xc3\x9f", 257));
    g_aActor[g_nActor++] = str("system:execution-cancel");
    g_aActor[g_nActor++] = str("overlong \xc0\xaf");
    g_aBadExec[0] = str("exec_missing");
    g_aBadExec[1] = str("");
    g_aBadExec[2] = str(repeat("e", 201));
    g_aBadStep[0] = str("step_missing");
    g_aBadStep[1] = str("");
    g_aBadStep[2] = str(repeat("s", 16385));
}

static int len_ok(Str s, int nMin, int nMax) {
    int nChar = 0;
    if (s.z == 0) return 0;
    return fz_utf8_ok(s.z, s.n, &nChar) && nChar >= nMin && nChar <= nMax;
}

/* ---- ids that exist ------------------------------------------------------------------- */

/* An execution id: one that exists, or a bad one (0xF0 and up). */
static Str pick_exec(unsigned b, char **pzOwned) {
    *pzOwned = 0;
    if (b < 0xF0) {
        char **az = 0;
        int n = fz_list(g_db, "SELECT execution_id FROM _velt_executions ORDER BY rowid", 0, &az);
        if (n > 0) *pzOwned = sqlite3_mprintf("%s", az[b % (unsigned)n]);
        fz_list_free(az, n);
        if (*pzOwned) return str(*pzOwned);
    }
    return g_aBadExec[b % 3];
}

/* A step id: of that execution, of another one (0xE0-0xEF), or bad. */
static Str pick_step(const char *zExec, unsigned b, char **pzOwned) {
    *pzOwned = 0;
    char **az = 0;
    int n = 0;
    if (b < 0xE0) {
        n = fz_list(g_db, "SELECT step_id FROM _velt_steps WHERE execution_id = ?1 ORDER BY rowid",
                    zExec, &az);
    } else if (b < 0xF0) {
        n = fz_list(g_db,
                    "SELECT step_id FROM _velt_steps WHERE execution_id IS NOT ?1 ORDER BY rowid",
                    zExec, &az);
    }
    if (n > 0) *pzOwned = sqlite3_mprintf("%s", az[b % (unsigned)n]);
    fz_list_free(az, n);
    if (*pzOwned) return str(*pzOwned);
    return g_aBadStep[b % 3];
}

/* ---- the transaction model ---------------------------------------------------------- */

static const char *const azSavepoint[] = {"s0", "s1", "velt"};

static struct {
    int iName;     /* -1: BEGIN */
    FzSnap *pSnap; /* the storage when it was opened */
} g_aLevel[MAX_LEVEL];
static int g_nLevel;

static void levels_clear(int iFrom) {
    while (g_nLevel > iFrom) {
        g_nLevel--;
        fz_snap_free(g_aLevel[g_nLevel].pSnap);
        g_aLevel[g_nLevel].pSnap = 0;
    }
}

/* The storage now must be the one saved at level i; it becomes current. */
static void restore_to(int i) {
    FZ_ASSERT(fz_fingerprint(g_db) == fz_snap_fingerprint(g_aLevel[i].pSnap),
              "%s: the storage is not what it was when %s was opened", g_zWhat,
              g_aLevel[i].iName < 0 ? "the transaction" : azSavepoint[g_aLevel[i].iName]);
    fz_snap_check(g_db, g_aLevel[i].pSnap, g_zWhat);
    fz_snap_free(g_pSnap);
    g_pSnap = fz_snap_take(g_db);
}

/* After anything: SQLite's transaction state is the model's. SQLite ends
** the whole transaction itself on some errors (interrupted or out of memory
** in a write): the storage is then the one before the transaction. */
static void check_txn(int bSqliteError) {
    int bAuto = sqlite3_get_autocommit(g_db);
    if (bAuto && g_nLevel > 0 && bSqliteError) {
        restore_to(0);
        levels_clear(0);
        return;
    }
    FZ_ASSERT(bAuto == (g_nLevel == 0),
              "%s: SQLite is %s a transaction, the caller's model says %s (%d levels)", g_zWhat,
              bAuto ? "not in" : "in", g_nLevel ? "in one" : "none", g_nLevel);
}

/* After an operation that may have written. */
static void after_op(FzStatus s, int bExpectNoChange) {
    check_txn(s == FZ_SQLITE);
    /* A failed call changed nothing (interrupted or out of memory too: velt
    ** undid its part, or SQLite the whole transaction, see check_txn()). */
    if (s != FZ_OK || bExpectNoChange) {
        FZ_ASSERT(fz_fingerprint(g_db) == fz_snap_fingerprint(g_pSnap),
                  "%s: %s but the storage changed", g_zWhat,
                  s != FZ_OK ? "the call failed" : "nothing was to change");
        return;
    }
    fz_check_invariants(g_db, g_zWhat);
    fz_snap_check(g_db, g_pSnap, g_zWhat);
    fz_snap_free(g_pSnap);
    g_pSnap = fz_snap_take(g_db);
}

static void op_txn(Rd *p, int eKind) {
    unsigned b = rd(p);
    int rc;
    switch (eKind) {
    case 0: { /* BEGIN */
        static const char *const az[] = {"BEGIN", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE"};
        const char *zSql = az[b % 3];
        snprintf(g_zWhat, sizeof g_zWhat, "%s", zSql);
        rc = fz_exec_rc(g_db, zSql);
        FZ_ASSERT((rc == SQLITE_OK) == (g_nLevel == 0), "%s: rc %d with %d levels open", zSql, rc,
                  g_nLevel);
        if (rc == SQLITE_OK) {
            g_aLevel[0].iName = -1;
            g_aLevel[0].pSnap = fz_snap_take(g_db);
            g_nLevel = 1;
        }
        break;
    }
    case 1: /* COMMIT */
    case 2: /* ROLLBACK */
        snprintf(g_zWhat, sizeof g_zWhat, "%s", eKind == 1 ? "COMMIT" : "ROLLBACK");
        rc = fz_exec_rc(g_db, g_zWhat);
        FZ_ASSERT((rc == SQLITE_OK) == (g_nLevel > 0), "%s: rc %d with %d levels open", g_zWhat, rc,
                  g_nLevel);
        if (rc == SQLITE_OK) {
            if (eKind == 2) restore_to(0);
            levels_clear(0);
        }
        break;
    case 3: { /* SAVEPOINT */
        int k = (int)(b % 3);
        if (g_nLevel == MAX_LEVEL) return;
        snprintf(g_zWhat, sizeof g_zWhat, "SAVEPOINT %s", azSavepoint[k]);
        fz_exec(g_db, g_zWhat);
        g_aLevel[g_nLevel].iName = k;
        g_aLevel[g_nLevel].pSnap = fz_snap_take(g_db);
        g_nLevel++;
        break;
    }
    default: { /* 4 RELEASE, 5 ROLLBACK TO */
        int k = (int)(b % 3), j;
        snprintf(g_zWhat, sizeof g_zWhat, "%s %s", eKind == 4 ? "RELEASE" : "ROLLBACK TO",
                 azSavepoint[k]);
        for (j = g_nLevel - 1; j >= 0 && g_aLevel[j].iName != k; j--) {
        }
        rc = fz_exec_rc(g_db, g_zWhat);
        FZ_ASSERT((rc == SQLITE_OK) == (j >= 0), "%s: rc %d, the model has it at level %d", g_zWhat,
                  rc, j);
        if (rc != SQLITE_OK) break;
        if (eKind == 4) {
            levels_clear(j);
        } else {
            restore_to(j);
            levels_clear(j + 1);
        }
        break;
    }
    }
    check_txn(0);
    fz_check_invariants(g_db, g_zWhat);
}

/* ---- calling an endpoint -------------------------------------------------------------- */

/* via 0: velt(path, data); 1: velt_api(path, {"data": data}). */
static FzStatus call_endpoint(const char *zPath, const char *zData, int via, char **pzResult) {
    FzRes r;
    *pzResult = 0;
    if (via % 2 == 0) {
        FzVal a[2] = {{FZ_TEXT, zPath, (int)strlen(zPath), 0},
                      {FZ_TEXT, zData, (int)strlen(zData), 0}};
        fz_call(g_db, "velt", 2, a, &r);
        FzStatus s = r.eStatus;
        if (s == FZ_OK) *pzResult = r.z, r.z = 0;
        fz_res_free(&r);
        return s;
    }
    char *zBody = sqlite3_mprintf("{\"data\":%s}", zData);
    FzVal a[2] = {{FZ_TEXT, zPath, (int)strlen(zPath), 0}, {FZ_TEXT, zBody, (int)strlen(zBody), 0}};
    fz_call(g_db, "velt_api", 2, a, &r);
    sqlite3_free(zBody);
    FZ_ASSERT(r.eStatus == FZ_OK || r.eStatus == FZ_SQLITE, "velt_api('%s') raised: %s", zPath,
              r.zMsg);
    FzStatus s = r.eStatus;
    if (s == FZ_OK) {
        const char *zRes;
        int nRes;
        char *zMsg = 0;
        s = fz_envelope(g_db, r.z, r.n, &zRes, &nRes, &zMsg);
        if (s == FZ_OK) *pzResult = sqlite3_mprintf("%.*s", nRes, zRes);
        sqlite3_free(zMsg);
    }
    fz_res_free(&r);
    return s;
}

static void expect(FzStatus sGot, FzStatus sWant, const char *zResult) {
    if (sGot == FZ_SQLITE) return;
    FZ_ASSERT(sGot == sWant, "%s: got %s, the contract says %s (%s)", g_zWhat, fz_status_name(sGot),
              fz_status_name(sWant), zResult ? zResult : "");
}

static void json_key_str(sqlite3_str *s, int *pk, const char *zKey, Str v) {
    if (v.z == 0) return;
    sqlite3_str_appendf(s, "%s\"%s\":", (*pk)++ ? "," : "", zKey);
    fz_json_str(s, v.z, v.n);
}

static char *step_status(Str e, Str st) {
    if (e.z == 0 || st.z == 0) return 0;
    char *zE = sqlite3_mprintf("%.*s", e.n, e.z), *zS = sqlite3_mprintf("%.*s", st.n, st.z);
    char *z = fz_text(
        g_db, "SELECT status FROM _velt_steps WHERE execution_id = ?1 AND step_id = ?2", zE, zS, 0);
    sqlite3_free(zE);
    sqlite3_free(zS);
    return z;
}

static int is_live(const char *z) {
    return z &&
           (strcmp(z, "pending") == 0 || strcmp(z, "running") == 0 || strcmp(z, "waiting") == 0);
}

/* ---- operations ------------------------------------------------------------------------ */

static void op_create(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    const FzDef *d = &fz_aDef[rd(p) % (unsigned)fz_nDef];
    int via = (int)rd(p);
    snprintf(g_zWhat, sizeof g_zWhat, "definitions/create %s", d->zId);
    sqlite3_int64 bActive = fz_int(g_db,
                                   "SELECT count(*) FROM _velt_definitions WHERE"
                                   " definition_id = ?1 AND status = 'active'",
                                   d->zId, 0, 0);
    char *zRes = 0;
    FzStatus s = call_endpoint("definitions/create", d->zJson, via, &zRes);
    expect(s, bActive ? FZ_ALREADY_EXISTS : FZ_OK, zRes);
    after_op(s, 0);
    sqlite3_free(zRes);
}

static void op_dispatch(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    unsigned bDef = rd(p), bKey = rd(p), bCtx = rd(p);
    int via = (int)rd(p);
    unsigned nDefChoice = (unsigned)fz_nDef + 2;
    const char *zDef = bDef % nDefChoice < (unsigned)fz_nDef    ? fz_aDef[bDef % nDefChoice].zId
                       : bDef % nDefChoice == (unsigned)fz_nDef ? "no-such-def"
                                                                : "";
    char *zExecKey = 0;
    Str key = {0, 0};
    switch (bKey % 6) {
    case 1:
        key = str("k-1");
        break;
    case 2:
        key = str("k-2");
        break;
    case 3:
        key = str("bad key!");
        break;
    case 4:
        key = pick_exec(rd(p) % 0xF0, &zExecKey); /* an existing executionId as key */
        break;
    default:
        break;
    }
    static const char *const azCtx[] = {0, "{\"amount\":5000}", "{\"amount\":10}", "[1]"};
    const char *zCtx = azCtx[bCtx % 4];

    sqlite3_str *s = sqlite3_str_new(0);
    int k = 0;
    sqlite3_str_appendchar(s, 1, '{');
    json_key_str(s, &k, "definitionId", str(zDef));
    json_key_str(s, &k, "idempotencyKey", key);
    if (zCtx) sqlite3_str_appendf(s, ",\"triggerContext\":%s", zCtx);
    sqlite3_str_appendchar(s, 1, '}');
    char *zData = sqlite3_str_finish(s);
    snprintf(g_zWhat, sizeof g_zWhat, "executions/dispatch %.150s", zData);

    /* what the contract says: arguments, the definition, then the key */
    FzStatus sWant = FZ_OK;
    char *zDedupOf = 0;
    int bKeyOk = key.z == 0 || (key.n >= 1 && key.n <= 200 &&
                                strspn(key.z, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "abcdefghijklmnopqrstuvwxyz"
                                              "0123456789:_-.") == (size_t)key.n);
    if (zDef[0] == 0 || !bKeyOk || (zCtx && zCtx[0] != '{')) {
        sWant = FZ_INVALID_ARGUMENT;
    } else {
        char *zStatus = fz_text(
            g_db, "SELECT status FROM _velt_definitions WHERE definition_id = ?1", zDef, 0, 0);
        int bRunnable = 1;
        for (int i = 0; i < fz_nDef; i++) {
            if (strcmp(fz_aDef[i].zId, zDef) == 0) bRunnable = fz_aDef[i].bDispatchable;
        }
        if (zStatus == 0) {
            sWant = FZ_NOT_FOUND;
        } else if (strcmp(zStatus, "active") != 0 || !bRunnable) {
            sWant = FZ_FAILED_PRECONDITION;
        } else if (key.z) {
            char *zKeyDef = fz_text(g_db,
                                    "SELECT definition_id FROM _velt_executions WHERE"
                                    " idempotency_key = ?1",
                                    key.z, 0, 0);
            if (zKeyDef && strcmp(zKeyDef, zDef) != 0) sWant = FZ_FAILED_PRECONDITION;
            if (zKeyDef && strcmp(zKeyDef, zDef) == 0) {
                zDedupOf = fz_text(g_db,
                                   "SELECT execution_id FROM _velt_executions WHERE"
                                   " idempotency_key = ?1",
                                   key.z, 0, 0);
            }
            sqlite3_free(zKeyDef);
        }
        sqlite3_free(zStatus);
    }
    sqlite3_int64 nExecs = fz_int(g_db, "SELECT count(*) FROM _velt_executions", 0, 0, 0);
    char *zRes = 0;
    FzStatus st = call_endpoint("executions/dispatch", zData, via, &zRes);
    expect(st, sWant, zRes);
    if (st == FZ_OK) {
        sqlite3_int64 nNow = fz_int(g_db, "SELECT count(*) FROM _velt_executions", 0, 0, 0);
        if (zDedupOf) {
            FZ_ASSERT(fz_int(g_db,
                             "SELECT ?1 ->> '$.deduplicated' = 1 AND ?1 ->> '$.executionId' = ?2",
                             zRes, zDedupOf, 0) &&
                          nNow == nExecs,
                      "%s: a used key must return %s deduplicated and create nothing: %s", g_zWhat,
                      zDedupOf, zRes);
        } else {
            FZ_ASSERT(fz_int(g_db,
                             "SELECT ?1 ->> '$.deduplicated' = 0 AND EXISTS (SELECT 1 FROM"
                             " _velt_executions WHERE execution_id = ?1 ->> '$.executionId')",
                             zRes, 0, 0) &&
                          nNow == nExecs + 1,
                      "%s: a new dispatch must create one execution: %s", g_zWhat, zRes);
        }
    }
    after_op(st, 0);
    sqlite3_free(zRes);
    sqlite3_free(zDedupOf);
    sqlite3_free(zData);
    sqlite3_free(zExecKey);
}

static void op_cancel_step(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    unsigned bExec = rd(p), bStep = rd(p), bReason = rd(p), bActor = rd(p), via = rd(p) % 4;
    char *zE = 0, *zS = 0;
    Str e = pick_exec(bExec, &zE);
    Str st = pick_step(e.z, bStep, &zS);
    Str reason = g_aReason[bReason % (unsigned)g_nReason];
    Str actor = g_aActor[bActor % (unsigned)g_nActor];
    static const char *const azVia[] = {"velt_cancel_step()", "velt('steps/cancel')",
                                        "velt_api('steps/cancel')", "SELECT ... FROM velt_steps"};
    snprintf(g_zWhat, sizeof g_zWhat, "%s of %.60s / %.60s (reason %d chars, actor %d bytes)",
             azVia[via], e.z, st.z, reason.n, actor.n);

    int bArgs = len_ok(e, 1, 200) && len_ok(st, 1, 16384) &&
                (reason.z == 0 || len_ok(reason, 0, 500)) && len_ok(actor, 1, 256);
    char *zWas = step_status(e, st);
    int bExecExists = e.z && fz_int(g_db,
                                    "SELECT count(*) FROM _velt_executions WHERE"
                                    " execution_id = ?1",
                                    e.z, 0, 0) > 0;
    FzStatus sWant = !bArgs           ? FZ_INVALID_ARGUMENT
                     : !bExecExists   ? FZ_NOT_FOUND
                     : zWas == 0      ? FZ_NOT_FOUND
                     : !is_live(zWas) ? FZ_FAILED_PRECONDITION
                                      : FZ_OK;
    sqlite3_int64 nEventsBefore = fz_int(g_db,
                                         "SELECT count(*) FROM _velt_events WHERE"
                                         " execution_id = ?1",
                                         e.z, 0, 0);
    FzStatus s;
    FzRes r;
    char *zRes = 0;
    FzVal a[4] = {{FZ_TEXT, e.z, e.n, 0},
                  {FZ_TEXT, st.z, st.n, 0},
                  {reason.z ? FZ_TEXT : FZ_NULL, reason.z, reason.n, 0},
                  {actor.z ? FZ_TEXT : FZ_NULL, actor.z, actor.n, 0}};
    if (via == 0 || via == 3) {
        if (via == 0) {
            fz_call(g_db, "velt_cancel_step", 4, a, &r);
        } else {
            fz_call_sql(g_db,
                        "SELECT velt_cancel_step(execution_id, step_id, ?3, ?4) FROM velt_steps"
                        " WHERE execution_id = ?1 AND step_id = ?2",
                        4, a, 1, &r);
            if (zWas == 0) sWant = FZ_OK; /* no row: nothing called */
            FZ_ASSERT(r.eStatus != FZ_OK || r.nRow == (zWas != 0),
                      "%s: velt_steps returned %d rows for one step", g_zWhat, r.nRow);
        }
        s = r.eStatus;
        if (s == FZ_OK) zRes = r.z, r.z = 0;
        if (s != FZ_OK && s != FZ_SQLITE && sWant == FZ_FAILED_PRECONDITION) {
            char *zNeedle = sqlite3_mprintf("already %s", zWas);
            FZ_ASSERT(strstr(r.zMsg, zNeedle), "%s: the message does not name the status %s: %s",
                      g_zWhat, zWas, r.zMsg);
            sqlite3_free(zNeedle);
        }
        fz_res_free(&r);
    } else {
        sqlite3_str *b = sqlite3_str_new(0);
        int k = 0;
        sqlite3_str_appendchar(b, 1, '{');
        json_key_str(b, &k, "executionId", e);
        json_key_str(b, &k, "stepId", st);
        json_key_str(b, &k, "reason", reason);
        json_key_str(b, &k, "actorId", actor);
        sqlite3_str_appendchar(b, 1, '}');
        char *zData = sqlite3_str_finish(b);
        s = call_endpoint("steps/cancel", zData, (int)via - 1, &zRes);
        sqlite3_free(zData);
    }
    expect(s, sWant, zRes);
    if (s == FZ_OK && zWas) {
        /* the step is cancelled with its event; the run ends with its last live step */
        char *zIs = step_status(e, st);
        FZ_ASSERT(zIs && strcmp(zIs, "cancelled") == 0, "%s: succeeded, the step is %s", g_zWhat,
                  zIs);
        sqlite3_free(zIs);
        if (zRes) {
            FZ_ASSERT(fz_int(g_db, "SELECT ?1 ->> '$.cancelled' = 1 AND ?1 ->> '$.stepId' = ?2",
                             zRes, zS ? zS : "", 0),
                      "%s: result %s", g_zWhat, zRes);
        }
        char zSeq[24];
        snprintf(zSeq, sizeof zSeq, "%lld", (long long)nEventsBefore + 1);
        sqlite3_stmt *q = 0;
        sqlite3_prepare_v2(g_db,
                           "SELECT count(*) FROM _velt_events WHERE execution_id = ?1 AND"
                           " seq = ?2 + 0 AND type = 'step.cancelled' AND step_id = ?3 AND"
                           " actor_id = ?4 AND reason IS ?5",
                           -1, &q, 0);
        sqlite3_bind_text(q, 1, e.z, e.n, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, zSeq, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, st.z, st.n, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, actor.z, actor.n, SQLITE_STATIC);
        if (reason.z) sqlite3_bind_text(q, 5, reason.z, reason.n, SQLITE_STATIC);
        int nOk = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
        sqlite3_finalize(q);
        FZ_ASSERT(nOk == 1, "%s: no step.cancelled at seq %s with its actor and reason", g_zWhat,
                  zSeq);
        sqlite3_int64 nLive = fz_int(g_db,
                                     "SELECT count(*) FROM _velt_steps WHERE execution_id = ?1"
                                     " AND status IN ('pending', 'running', 'waiting')",
                                     e.z, 0, 0);
        sqlite3_int64 nAfter = fz_int(g_db,
                                      "SELECT count(*) FROM _velt_events WHERE"
                                      " execution_id = ?1",
                                      e.z, 0, 0);
        FZ_ASSERT(nAfter == nEventsBefore + 1 + (nLive == 0),
                  "%s: %lld events appended (%lld live steps left)", g_zWhat,
                  (long long)(nAfter - nEventsBefore), (long long)nLive);
    }
    after_op(s, sWant == FZ_OK && zWas == 0);
    sqlite3_free(zRes);
    sqlite3_free(zWas);
    sqlite3_free(zE);
    sqlite3_free(zS);
}

static void op_cancel_all(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    static const char *const azStatus[] = {"waiting", "pending", "running"};
    const char *zStatus = azStatus[rd(p) % 3];
    unsigned bExec = rd(p);
    Str reason = g_aReason[rd(p) % (unsigned)g_nReason];
    Str actor = g_aActor[rd(p) % (unsigned)g_nActor];
    char *zE = 0;
    Str e = bExec & 1 ? pick_exec(bExec >> 1, &zE) : str(0);
    snprintf(g_zWhat, sizeof g_zWhat,
             "SELECT velt_cancel_step(...) FROM velt_steps WHERE status ="
             " '%s'%s",
             zStatus, e.z ? " AND execution_id = ?" : "");
    sqlite3_int64 n = fz_int(g_db,
                             "SELECT count(*) FROM _velt_steps WHERE status = ?1 AND"
                             " (?2 IS NULL OR execution_id = ?2)",
                             zStatus, e.z, 0);
    int bArgs = (reason.z == 0 || len_ok(reason, 0, 500)) && len_ok(actor, 1, 256);
    FzVal a[4] = {{FZ_TEXT, zStatus, (int)strlen(zStatus), 0},
                  {e.z ? FZ_TEXT : FZ_NULL, e.z, e.n, 0},
                  {reason.z ? FZ_TEXT : FZ_NULL, reason.z, reason.n, 0},
                  {actor.z ? FZ_TEXT : FZ_NULL, actor.z, actor.n, 0}};
    FzRes r;
    fz_call_sql(g_db,
                "SELECT count(velt_cancel_step(execution_id, step_id, ?3, ?4)) FROM velt_steps"
                " WHERE status = ?1 AND (?2 IS NULL OR execution_id = ?2)",
                4, a, 0, &r);
    expect(r.eStatus, n == 0 || bArgs ? FZ_OK : FZ_INVALID_ARGUMENT, r.zMsg);
    if (r.eStatus == FZ_OK) {
        FZ_ASSERT(r.z && atoll(r.z) == n, "%s: visited %s steps, %lld were %s", g_zWhat, r.z,
                  (long long)n, zStatus);
        FZ_ASSERT(fz_int(g_db,
                         "SELECT count(*) FROM _velt_steps WHERE status = ?1 AND"
                         " (?2 IS NULL OR execution_id = ?2)",
                         zStatus, e.z, 0) == 0,
                  "%s: some steps are still %s", g_zWhat, zStatus);
    }
    after_op(r.eStatus, r.eStatus == FZ_OK && n == 0);
    fz_res_free(&r);
    sqlite3_free(zE);
}

static void op_cancel_exec(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    unsigned bExec = rd(p), bReason = rd(p);
    int via = (int)rd(p);
    char *zE = 0;
    Str e = pick_exec(bExec, &zE);
    Str reason = g_aReason[bReason % (unsigned)g_nReason];
    sqlite3_str *s = sqlite3_str_new(0);
    int k = 0;
    sqlite3_str_appendchar(s, 1, '{');
    json_key_str(s, &k, "executionId", e);
    json_key_str(s, &k, "reason", reason);
    sqlite3_str_appendchar(s, 1, '}');
    char *zData = sqlite3_str_finish(s);
    snprintf(g_zWhat, sizeof g_zWhat, "executions/cancel of %.60s (reason %d bytes)", e.z,
             reason.n);
    int bArgs = len_ok(e, 1, 200) && (reason.z == 0 || len_ok(reason, 0, 500));
    char *zWas = e.z ? fz_text(g_db, "SELECT status FROM _velt_executions WHERE execution_id = ?1",
                               e.z, 0, 0)
                     : 0;
    char **azLive = 0;
    int nLive = e.z ? fz_list(g_db,
                              "SELECT step_id FROM _velt_steps WHERE execution_id = ?1 AND status"
                              " IN ('pending', 'running', 'waiting') ORDER BY rowid",
                              e.z, &azLive)
                    : 0;
    int bTerminal = zWas && !(strcmp(zWas, "running") == 0 || strcmp(zWas, "pending") == 0);
    char *zRes = 0;
    FzStatus st = call_endpoint("executions/cancel", zData, via, &zRes);
    expect(st, !bArgs ? FZ_INVALID_ARGUMENT : zWas == 0 ? FZ_NOT_FOUND : FZ_OK, zRes);
    if (st == FZ_OK) {
        FZ_ASSERT(fz_int(g_db,
                         "SELECT ?1 ->> '$.cancelled' = ?2 + 0 AND ?1 ->> '$.executionId' = ?3",
                         zRes, bTerminal ? "0" : "1", e.z),
                  "%s: result %s for a %s execution", g_zWhat, zRes, zWas);
        if (!bTerminal) {
            char *zIs = fz_text(g_db, "SELECT status FROM _velt_executions WHERE execution_id = ?1",
                                e.z, 0, 0);
            FZ_ASSERT(zIs && strcmp(zIs, "cancelled") == 0, "%s: the execution is %s", g_zWhat,
                      zIs);
            sqlite3_free(zIs);
            for (int i = 0; i < nLive; i++) {
                FZ_ASSERT(fz_int(g_db,
                                 "SELECT count(*) FROM _velt_steps s JOIN _velt_events ev ON"
                                 " ev.execution_id = s.execution_id AND ev.step_id = s.step_id"
                                 " WHERE s.execution_id = ?1 AND s.step_id = ?2 AND"
                                 " s.status = 'cancelled' AND ev.type = 'step.cancelled' AND"
                                 " ev.actor_id = 'system:execution-cancel'",
                                 e.z, azLive[i], 0) == 1,
                          "%s: live step %s was not cancelled by system:execution-cancel", g_zWhat,
                          azLive[i]);
            }
            FZ_ASSERT(fz_int(g_db,
                             "SELECT type = 'execution.cancelled' FROM _velt_events WHERE"
                             " execution_id = ?1 ORDER BY seq DESC LIMIT 1",
                             e.z, 0, 0),
                      "%s: execution.cancelled is not the last event", g_zWhat);
        }
    }
    after_op(st, st == FZ_OK && bTerminal);
    fz_list_free(azLive, nLive);
    sqlite3_free(zWas);
    sqlite3_free(zRes);
    sqlite3_free(zData);
    sqlite3_free(zE);
}

static void op_clock(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    g_iClock += (sqlite3_int64)(rd(p) + 1) * 1000;
    char zSql[64];
    snprintf(zSql, sizeof zSql, "SELECT velt_set_clock(%lld)", (long long)g_iClock);
    snprintf(g_zWhat, sizeof g_zWhat, "%s", zSql);
    fz_exec(g_db, zSql);
}

static void op_read(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    unsigned b = rd(p), bWhich = rd(p);
    char *zE = 0;
    Str e = pick_exec(b, &zE);
    char *zData = 0, *zRes = 0, zClock[24];
    FzStatus s;
    switch (bWhich % 4) {
    case 0:
        snprintf(g_zWhat, sizeof g_zWhat, "executions/get of %.60s", e.z);
        zData = fz_text(g_db, "SELECT json_object('executionId', ?1)", e.z, 0, 0);
        s = call_endpoint("executions/get", zData, (int)(bWhich >> 2), &zRes);
        if (s == FZ_OK) {
            FZ_ASSERT(fz_int(g_db,
                             "SELECT ?1 ->> '$.status' = (SELECT status FROM _velt_executions"
                             " WHERE execution_id = ?2) AND json_array_length(?1, '$.steps') ="
                             " (SELECT count(*) FROM _velt_steps WHERE execution_id = ?2)",
                             zRes, e.z, 0),
                      "%s disagrees with the storage: %s", g_zWhat, zRes);
        } else if (s != FZ_SQLITE) {
            FZ_ASSERT(fz_int(g_db, "SELECT count(*) FROM _velt_executions WHERE execution_id = ?1",
                             e.z, 0, 0) == 0 ||
                          !len_ok(e, 1, 200),
                      "%s failed (%s) for an existing execution", g_zWhat, fz_status_name(s));
        }
        break;
    case 1:
        snprintf(g_zWhat, sizeof g_zWhat, "executions/getEvents of %.60s", e.z);
        if (zE) fz_check_get_events(g_db, zE, 1 + (int)(bWhich >> 2) % 3);
        break;
    case 2: {
        const char *zDef = fz_aDef[(bWhich >> 2) % (unsigned)fz_nDef].zId;
        snprintf(g_zWhat, sizeof g_zWhat, "definitions/get of %s", zDef);
        zData = fz_text(g_db, "SELECT json_object('definitionId', ?1)", zDef, 0, 0);
        s = call_endpoint("definitions/get", zData, (int)(bWhich >> 5), &zRes);
        sqlite3_int64 bActive = fz_int(g_db,
                                       "SELECT count(*) FROM _velt_definitions WHERE"
                                       " definition_id = ?1 AND status = 'active'",
                                       zDef, 0, 0);
        expect(s, bActive ? FZ_OK : FZ_NOT_FOUND, zRes);
        break;
    }
    default:
        snprintf(g_zWhat, sizeof g_zWhat, "the virtual tables");
        snprintf(zClock, sizeof zClock, "%lld", (long long)g_iClock);
        FZ_ASSERT(fz_int(g_db,
                         "SELECT (SELECT count(*) FROM velt_steps) = (SELECT count(*) FROM"
                         " _velt_steps) AND (SELECT count(*) FROM velt_events) = (SELECT count(*)"
                         " FROM _velt_events) AND (SELECT count(*) FROM velt_executions) ="
                         " (SELECT count(*) FROM _velt_executions) AND (SELECT count(*) FROM"
                         " velt_definitions) = (SELECT count(*) FROM _velt_definitions WHERE"
                         " status = 'active') AND NOT EXISTS (SELECT 1 FROM velt_steps v JOIN"
                         " _velt_steps s USING (execution_id, step_id) WHERE v.status IS NOT"
                         " s.status OR v.completed_at IS NOT s.completed_at OR v.rowid IS NOT"
                         " s.rowid) AND velt_now() = ?1 + 0 AND velt_version() GLOB '*.*.*'",
                         zClock, 0, 0),
                  "the virtual tables disagree with the storage (or velt_now() with the clock)");
        break;
    }
    check_txn(0);
    FZ_ASSERT(fz_fingerprint(g_db) == fz_snap_fingerprint(g_pSnap), "%s changed the storage",
              g_zWhat);
    sqlite3_free(zRes);
    sqlite3_free(zData);
    sqlite3_free(zE);
}

/* Writing to the virtual tables fails, names the function to use instead,
** changes nothing and leaves the caller's transaction usable. */
static void op_vtab_write(Rd *p, const FzEndpoint *pEp) {
    (void)pEp;
    static const char *const azSql[] = {
        "UPDATE velt_steps SET status = 'cancelled' WHERE status = 'waiting'",
        "DELETE FROM velt_events",
        "INSERT INTO velt_executions(execution_id, status) VALUES ('exec_x', 'running')",
        "UPDATE velt_definitions SET name = 'x' WHERE 0",
        "DELETE FROM velt_steps WHERE step_id = 'nothing'",
        "INSERT INTO velt_events SELECT * FROM velt_events",
    };
    const char *zSql = azSql[rd(p) % 6];
    snprintf(g_zWhat, sizeof g_zWhat, "%s", zSql);
    int rc = fz_exec_rc(g_db, zSql);
    FZ_ASSERT(rc != SQLITE_OK, "%s succeeded on a read-only virtual table", zSql);
    const char *zErr = sqlite3_errmsg(g_db);
    FZ_ASSERT(strstr(zErr, "read-only") && strstr(zErr, "velt"),
              "%s: the error does not say read-only and what to use: %s", zSql, zErr);
    check_txn(0);
    FZ_ASSERT(fz_fingerprint(g_db) == fz_snap_fingerprint(g_pSnap), "%s changed the storage", zSql);
}

/* Any other writing endpoint: a request built from its schema. */
static void op_generic(Rd *p, const FzEndpoint *pEp) {
    const VSchema *pS = pEp->pEp->pSchema;
    unsigned bInclude = rd(p) | (rd(p) << 8) | (rd(p) << 16);
    char *zE = 0, *zS = 0;
    Str e = pick_exec(rd(p), &zE);
    Str st = pick_step(e.z, rd(p), &zS);
    sqlite3_str *s = sqlite3_str_new(0);
    int k = 0;
    sqlite3_str_appendchar(s, 1, '{');
    for (int i = 0; i < pS->nField; i++) {
        const VField *f = &pS->aField[i];
        int bIn = (f->flags & VF_REQUIRED) ? !((bInclude >> (i % 24)) & 1 && (bInclude & 0x800000))
                                           : (bInclude >> (i % 24)) & 1;
        if (!bIn) continue;
        unsigned b = rd(p);
        const char *zName = f->zName;
        if (strcmp(zName, "executionId") == 0) {
            json_key_str(s, &k, zName, e);
        } else if (strcmp(zName, "stepId") == 0) {
            json_key_str(s, &k, zName, st);
        } else if (strcmp(zName, "definitionId") == 0) {
            json_key_str(s, &k, zName, str(fz_aDef[b % (unsigned)fz_nDef].zId));
        } else if (strcmp(zName, "reason") == 0) {
            json_key_str(s, &k, zName, g_aReason[1 + b % (unsigned)(g_nReason - 1)]);
        } else if (strstr(zName, "actor") || strstr(zName, "reviewer") || strstr(zName, "Id")) {
            static const char *const az[] = {"admin_jane", "u_legal", "u_brand", "u1", ""};
            json_key_str(s, &k, zName, str(az[b % 5]));
        } else {
            sqlite3_str_appendf(s, "%s\"%s\":", k++ ? "," : "", zName);
            switch (f->eKind) {
            case VK_ENUM: {
                const char *const *az = f->pSub;
                int n = 0;
                while (az[n])
                    n++;
                fz_json_str(s, az[b % (unsigned)n], (int)strlen(az[b % (unsigned)n]));
                break;
            }
            case VK_INT:
            case VK_NUMBER: {
                static const long long a[] = {0, 1, 5, 100, -1, 1777374504255LL + 86400000LL};
                sqlite3_str_appendf(s, "%lld", a[b % 6]);
                break;
            }
            case VK_BOOL:
                sqlite3_str_appendall(s, b & 1 ? "true" : "false");
                break;
            case VK_OBJECT:
            case VK_MAP: {
                static const char *const az[] = {"{}", "{\"decision\":\"approve\"}",
                                                 "{\"code\":\"E_FUZZ\",\"message\":\"m\"}",
                                                 "{\"summary\":\"done\",\"decision\":\"reject\"}"};
                sqlite3_str_appendall(s, az[b % 4]);
                break;
            }
            case VK_ARRAY:
                sqlite3_str_appendall(s, "[]");
                break;
            case VK_STRING: {
                static const char *const az[] = {"approve", "reject", "x", "", "resolved"};
                fz_json_str(s, az[b % 5], (int)strlen(az[b % 5]));
                break;
            }
            default:
                sqlite3_str_appendall(s, "1");
            }
        }
    }
    sqlite3_str_appendchar(s, 1, '}');
    char *zData = sqlite3_str_finish(s);
    snprintf(g_zWhat, sizeof g_zWhat, "%s %.150s", pEp->zPath, zData);
    char *zRes = 0;
    FzStatus st2 = call_endpoint(pEp->zPath, zData, (int)rd(p), &zRes);
    after_op(st2, 0);
    sqlite3_free(zRes);
    sqlite3_free(zData);
    sqlite3_free(zE);
    sqlite3_free(zS);
}

static void op_begin(Rd *p, const FzEndpoint *e) {
    (void)e;
    op_txn(p, 0);
}
static void op_commit(Rd *p, const FzEndpoint *e) {
    (void)e;
    op_txn(p, 1);
}
static void op_rollback(Rd *p, const FzEndpoint *e) {
    (void)e;
    op_txn(p, 2);
}
static void op_savepoint(Rd *p, const FzEndpoint *e) {
    (void)e;
    op_txn(p, 3);
}
static void op_release(Rd *p, const FzEndpoint *e) {
    (void)e;
    op_txn(p, 4);
}
static void op_rollback_to(Rd *p, const FzEndpoint *e) {
    (void)e;
    op_txn(p, 5);
}

/* ---- the operation table ----------------------------------------------------------------- */

typedef void (*OpFn)(Rd *, const FzEndpoint *);
static const struct {
    const char *zPath; /* the endpoint it needs, or NULL */
    OpFn x;
} aBaseOp[] = {
    {"definitions/create", op_create},
    {"executions/dispatch", op_dispatch},
    {"executions/dispatch", op_dispatch}, /* twice: runs are what the rest needs */
    {"steps/cancel", op_cancel_step},
    {"steps/cancel", op_cancel_step},
    {"steps/cancel", op_cancel_all},
    {"executions/cancel", op_cancel_exec},
    {0, op_begin},
    {0, op_commit},
    {0, op_rollback},
    {0, op_savepoint},
    {0, op_release},
    {0, op_rollback_to},
    {0, op_clock},
    {0, op_read},
    {0, op_vtab_write},
};

static struct {
    OpFn x;
    const FzEndpoint *pEp;
} g_aOp[64];
static int g_nOp;

static void ops_init(void) {
    if (g_nOp) return;
    for (size_t i = 0; i < sizeof(aBaseOp) / sizeof(aBaseOp[0]); i++) {
        if (aBaseOp[i].zPath && fz_endpoint(aBaseOp[i].zPath) == 0) continue;
        g_aOp[g_nOp].x = aBaseOp[i].x;
        g_aOp[g_nOp].pEp = aBaseOp[i].zPath ? fz_endpoint(aBaseOp[i].zPath) : 0;
        g_nOp++;
    }
    /* every writing endpoint (those above too): the schema-driven request */
    for (int i = 0; i < fz_nEndpoint && g_nOp < 64; i++) {
        if (!fz_aEndpoint[i].pEp->bWrite) continue;
        g_aOp[g_nOp].x = op_generic;
        g_aOp[g_nOp].pEp = &fz_aEndpoint[i];
        g_nOp++;
    }
}

/* ---- one input ---------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *aData, size_t nData) {
    pools_init();
    g_db = fz_open();
    fz_endpoints_init(g_db);
    ops_init();
    fz_reseed(17);
    g_iClock = FZ_CLOCK;
    g_pSnap = fz_snap_take(g_db);
    g_nLevel = 0;

    Rd rd0 = {aData, nData, 0};
    for (int i = 0; i < MAX_OPS && rd0.i < rd0.n; i++) {
        unsigned b = rd(&rd0);
        g_aOp[b % (unsigned)g_nOp].x(&rd0, g_aOp[b % (unsigned)g_nOp].pEp);
    }

    /* end: an open transaction is rolled back, which must restore its start */
    if (g_nLevel > 0) {
        snprintf(g_zWhat, sizeof g_zWhat, "the final ROLLBACK");
        fz_exec(g_db, "ROLLBACK");
        restore_to(0);
        levels_clear(0);
    }
    fz_check_invariants(g_db, "at the end");
    fz_snap_free(g_pSnap);
    g_pSnap = 0;
    fz_close(g_db);
    g_db = 0;
    return 0;
}
