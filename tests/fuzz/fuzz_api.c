/*
** fuzz_api: every endpoint through velt_api(), velt() and velt_cancel_step().
**
** Input:  byte 0   endpoint: index into the endpoints this build serves
**                  (fuzz_endpoints.h order, unserved ones skipped)
**         byte 1   flags
**                    0x01  the body is the request's data object: velt(path, body)
**                          and velt_api(path, '{"data":' body '}') must agree
**                          (same status, same message, byte-equal results);
**                          otherwise the body is velt_api()'s whole request
**                    0x02  "/v2/workflow/<path>" must answer byte for byte as
**                          "<path>" does
**                    0x04  a mangled path (0x18 picks which) must be NOT_FOUND
**                    0x40  velt_cancel_step() with the body split at 0x1F into
**                          four arguments, and velt('steps/cancel', the same
**                          as JSON) must agree with it
**         byte 2   types of the four velt_cancel_step() arguments, two bits
**                  each from the low end: 0 text, 1 NULL, 2 integer, 3 blob
**         rest     the body. "$E" "$S" "$T" "$X" "$F" "$P" "$D" "$K" are
**                  replaced by ids that exist (see setup()).
**
** The database is set up once per process with two definitions and three
** executions; every input runs inside BEGIN ... ROLLBACK (and each call
** inside SAVEPOINT fz ... ROLLBACK TO fz), so inputs are independent, and
** SQLite's PRNG is reseeded before each call, so ids are reproducible.
**
** Checked: nothing crashes, leaks or runs away (ASan, UBSan, the progress
** handler); velt_api() raises only out-of-memory/too-big/interrupt SQLite
** errors, never API errors, and returns valid JSON with exactly one of
** "result"/"error"; velt() and velt_cancel_step() raise "STATUS: detail"
** with the contract's SQLite code; a call never ends the caller's
** transaction; after every call the invariants of SPEC section 3 hold and
** nothing of the fixture's terminal steps or events changed; a failed call
** changed nothing; ROLLBACK restores the fixture exactly; sqlite3_close()
** returns SQLITE_OK (every 2048 inputs and at exit).
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static sqlite3 *g_db;
static FzSnap *g_pSnap; /* the fixture */
static unsigned long g_nRun;

static struct {
    const char *zTok;
    char *zId;
} g_aTok[] = {
    {"$E", 0}, /* a running execution of two-reviews (idempotencyKey run-1) */
    {"$S", 0}, /* its waiting step (legal) */
    {"$T", 0}, /* its cancelled step (brand) */
    {"$X", 0}, /* a cancelled execution */
    {"$F", 0}, /* a running execution of workers */
    {"$P", 0}, /* its first pending step */
    {"$D", 0}, /* a definition id: two-reviews */
    {"$K", 0}, /* an idempotency key in use: run-1 */
};
#define N_TOK ((int)(sizeof(g_aTok) / sizeof(g_aTok[0])))

static char *velt_text(const char *zPath, const char *zData, const char *zPick) {
    char *zSql = sqlite3_mprintf("SELECT velt(?1, ?2) ->> '%q'", zPick);
    char *z = fz_text(g_db, zSql, zPath, zData, 0);
    sqlite3_free(zSql);
    FZ_ASSERT(z, "fixture: %s %s gave no %s", zPath, zData, zPick);
    return z;
}

static void setup(void) {
    g_db = fz_open();
    fz_endpoints_init(g_db);
    fz_reseed(1);
    for (int i = 0; i < fz_nDef; i++) {
        if (strcmp(fz_aDef[i].zId, "two-reviews") == 0 || strcmp(fz_aDef[i].zId, "workers") == 0)
            sqlite3_free(velt_text("definitions/create", fz_aDef[i].zJson, "$.definitionId"));
    }
    g_aTok[0].zId = velt_text("executions/dispatch",
                              "{\"definitionId\":\"two-reviews\",\"idempotencyKey\":\"run-1\"}",
                              "$.executionId");
    g_aTok[1].zId = fz_text(g_db,
                            "SELECT step_id FROM velt_steps WHERE execution_id = ?1 AND "
                            "node_id = 'legal'",
                            g_aTok[0].zId, 0, 0);
    g_aTok[2].zId = fz_text(g_db,
                            "SELECT step_id FROM velt_steps WHERE execution_id = ?1 AND "
                            "node_id = 'brand'",
                            g_aTok[0].zId, 0, 0);
    sqlite3_free(fz_text(g_db, "SELECT velt_cancel_step(?1, ?2, 'fixture', 'admin')", g_aTok[0].zId,
                         g_aTok[2].zId, 0));
    g_aTok[3].zId =
        velt_text("executions/dispatch", "{\"definitionId\":\"two-reviews\"}", "$.executionId");
    sqlite3_free(fz_text(g_db, "SELECT velt('executions/cancel', json_object('executionId', ?1))",
                         g_aTok[3].zId, 0, 0));
    g_aTok[4].zId =
        velt_text("executions/dispatch", "{\"definitionId\":\"workers\"}", "$.executionId");
    g_aTok[5].zId = fz_text(g_db,
                            "SELECT step_id FROM velt_steps WHERE execution_id = ?1 AND "
                            "status = 'pending' ORDER BY rowid",
                            g_aTok[4].zId, 0, 0);
    g_aTok[6].zId = sqlite3_mprintf("two-reviews");
    g_aTok[7].zId = sqlite3_mprintf("run-1");
    for (int i = 0; i < N_TOK; i++)
        FZ_ASSERT(g_aTok[i].zId, "fixture: no id for %s", g_aTok[i].zTok);
    fz_check_invariants(g_db, "in the fixture");
    g_pSnap = fz_snap_take(g_db);
}

static void teardown(void) {
    if (g_db == 0) return;
    fz_snap_free(g_pSnap);
    g_pSnap = 0;
    for (int i = 0; i < N_TOK; i++) {
        sqlite3_free(g_aTok[i].zId);
        g_aTok[i].zId = 0;
    }
    fz_close(g_db);
    g_db = 0;
}

/* The body with the placeholders replaced (sqlite3_malloc'd). */
static char *substitute(const uint8_t *a, size_t n, int *pn) {
    sqlite3_str *s = sqlite3_str_new(0);
    for (size_t i = 0; i < n; i++) {
        int k = -1;
        if (a[i] == '$' && i + 1 < n) {
            for (int t = 0; t < N_TOK; t++) {
                if (g_aTok[t].zTok[1] == a[i + 1]) k = t;
            }
        }
        if (k >= 0) {
            sqlite3_str_appendall(s, g_aTok[k].zId);
            i++;
        } else {
            sqlite3_str_appendchar(s, 1, (char)a[i]);
        }
    }
    *pn = sqlite3_str_length(s);
    char *z = sqlite3_str_finish(s);
    if (z == 0) z = sqlite3_mprintf("%s", ""), *pn = 0;
    FZ_ASSERT(z, "out of memory in the harness");
    return z;
}

/* ---- after every call ---------------------------------------------------------- */

static const char *g_zCall;      /* what ran, for messages */
static sqlite3_int64 g_nChanges; /* sqlite3_total_changes() before the call */

static void before_call(const char *zCall) {
    g_zCall = zCall;
    g_nChanges = sqlite3_total_changes64(g_db);
}

/* Every call starts from the fixture (ROLLBACK TO fz in between), so "what
** changed" is a comparison with the fixture's fingerprint, made only when
** SQLite counted a change at all. */
static void after_call(const FzRes *r) {
    if (fz_budget_hit() || r->eStatus == FZ_SQLITE) {
        /* SQLite may have rolled back our transaction: nothing to compare. */
        return;
    }
    FZ_ASSERT(!sqlite3_get_autocommit(g_db), "%s ended the caller's transaction", g_zCall);
    if (sqlite3_total_changes64(g_db) == g_nChanges) return;
    if (fz_fingerprint(g_db) == fz_snap_fingerprint(g_pSnap)) return;
    FZ_ASSERT(r->eStatus == FZ_OK, "%s failed (%s) but changed the storage", g_zCall,
              fz_status_name(r->eStatus));
    fz_check_invariants(g_db, g_zCall);
    fz_snap_check(g_db, g_pSnap, g_zCall);
}

/* Undo the last call; 0 if our transaction is gone (after an interrupt). */
static int undo(void) {
    if (fz_exec_rc(g_db, "ROLLBACK TO fz") == SQLITE_OK) return 1;
    FZ_ASSERT(fz_budget_hit() || sqlite3_get_autocommit(g_db), "ROLLBACK TO fz failed after %s: %s",
              g_zCall, sqlite3_errmsg(g_db));
    return 0;
}

/* velt_api(path, body): the envelope's status (FZ_SQLITE if it raised). */
static FzStatus call_api(const char *zPath, int nPath, const char *zBody, int nBody, FzRes *r,
                         const char **pzResult, int *pnResult, char **pzMsg) {
    FzVal a[2] = {{FZ_TEXT, zPath, nPath, 0}, {FZ_TEXT, zBody, nBody, 0}};
    before_call("velt_api()");
    fz_call(g_db, "velt_api", 2, a, r);
    *pzResult = 0;
    *pnResult = 0;
    *pzMsg = 0;
    FZ_ASSERT(r->eStatus == FZ_OK || r->eStatus == FZ_SQLITE,
              "velt_api('%.*s') raised an API error: %s", nPath, zPath, r->zMsg);
    FzStatus s = r->eStatus;
    if (s == FZ_OK) s = fz_envelope(g_db, r->z, r->n, pzResult, pnResult, pzMsg);
    /* An unknown path is NOT_FOUND before its body is read, as HTTP's 404. */
    char *zP = sqlite3_mprintf("%.*s", nPath, zPath);
    if (zP && (int)strlen(zP) == nPath && velt_endpoint_find(zP)) {
        fz_check_strict_json(g_db, "velt_api()", zBody, nBody, s);
    }
    sqlite3_free(zP);
    FzRes rr = *r;
    rr.eStatus = s;
    after_call(&rr);
    return s;
}

/* ---- velt() against velt_api() ------------------------------------------------- */

static void differential_data(const char *zPath, const char *zBody, int nBody) {
    FzRes rApi, rV;
    const char *zResult;
    int nResult;
    char *zMsg;
    char *zWrapped = sqlite3_mprintf("{\"data\":%.*s}", nBody, zBody);
    FZ_ASSERT(zWrapped, "out of memory in the harness");
    fz_reseed(7);
    FzStatus sApi = call_api(zPath, (int)strlen(zPath), zWrapped, (int)strlen(zWrapped), &rApi,
                             &zResult, &nResult, &zMsg);
    if (!undo()) goto done_api;

    FzVal a[2] = {{FZ_TEXT, zPath, (int)strlen(zPath), 0}, {FZ_TEXT, zBody, nBody, 0}};
    fz_reseed(7);
    before_call("velt()");
    fz_call(g_db, "velt", 2, a, &rV);
    after_call(&rV);
    fz_check_strict_json(g_db, "velt()", zBody, nBody, rV.eStatus);
    if (sApi != FZ_SQLITE && rV.eStatus != FZ_SQLITE && memchr(zBody, 0, (size_t)nBody) == 0) {
        FZ_ASSERT(sApi == rV.eStatus,
                  "velt('%s', data) is %s but velt_api('%s', {\"data\": data}) is %s\n"
                  "  velt: %s\n  velt_api: %s",
                  zPath, fz_status_name(rV.eStatus), zPath, fz_status_name(sApi),
                  rV.zMsg ? rV.zMsg : rV.z, rApi.z);
        if (sApi == FZ_OK) {
            FZ_ASSERT(rV.n == nResult && memcmp(rV.z, zResult, (size_t)nResult) == 0,
                      "velt('%s') and velt_api('%s') results differ:\n  %s\n  %s", zPath, zPath,
                      rV.z, rApi.z);
        } else if (fz_json_object(g_db, zBody, nBody) &&
                   !(strncmp(zMsg, "malformed JSON", 14) == 0 &&
                     strncmp(rV.zDetail, "malformed JSON", 14) == 0)) {
            FZ_ASSERT(strcmp(zMsg, rV.zDetail) == 0,
                      "velt('%s') and velt_api('%s') messages differ:\n  %s\n  %s", zPath, zPath,
                      rV.zMsg, zMsg);
        }
    }
    fz_res_free(&rV);
    undo();
done_api:
    sqlite3_free(zMsg);
    fz_res_free(&rApi);
    sqlite3_free(zWrapped);
}

/* ---- paths ----------------------------------------------------------------------- */

static void differential_prefix(const char *zPath, const char *zBody, int nBody) {
    FzRes r1, r2;
    const char *zRes;
    int nRes;
    char *zMsg1 = 0, *zMsg2 = 0;
    char *zFull = sqlite3_mprintf("/v2/workflow/%s", zPath);
    fz_reseed(11);
    FzStatus s1 = call_api(zFull, (int)strlen(zFull), zBody, nBody, &r1, &zRes, &nRes, &zMsg1);
    if (undo()) {
        fz_reseed(11);
        FzStatus s2 = call_api(zPath, (int)strlen(zPath), zBody, nBody, &r2, &zRes, &nRes, &zMsg2);
        if (s1 != FZ_SQLITE && s2 != FZ_SQLITE) {
            FZ_ASSERT(r1.n == r2.n && memcmp(r1.z, r2.z, (size_t)r1.n) == 0,
                      "velt_api('%s') and velt_api('%s') answer differently:\n  %s\n  %s", zFull,
                      zPath, r1.z, r2.z);
        }
        fz_res_free(&r2);
        undo();
    }
    fz_res_free(&r1);
    sqlite3_free(zMsg1);
    sqlite3_free(zMsg2);
    sqlite3_free(zFull);
}

static void mangled_path(const char *zPath, int iHow, const char *zBody, int nBody) {
    char *z;
    switch (iHow & 3) {
    case 0:
        z = sqlite3_mprintf("%s/", zPath);
        break;
    case 1:
        z = sqlite3_mprintf("/v2/workflow%s", zPath);
        break;
    case 2:
        z = sqlite3_mprintf("v2/workflow/%s", zPath);
        break;
    default:
        z = sqlite3_mprintf(" %s", zPath);
        break;
    }
    FzRes r;
    const char *zRes;
    int nRes;
    char *zMsg = 0;
    FzStatus s = call_api(z, (int)strlen(z), zBody, nBody, &r, &zRes, &nRes, &zMsg);
    FZ_ASSERT(s == FZ_NOT_FOUND || s == FZ_SQLITE, "velt_api('%s') is %s, not NOT_FOUND", z,
              fz_status_name(s));
    fz_res_free(&r);
    sqlite3_free(zMsg);
    sqlite3_free(z);
    undo();
}

/* ---- velt_cancel_step() ---------------------------------------------------------- */

static void cancel_split(const char *zBody, int nBody, int iTypes) {
    FzVal a[4];
    int bBlob = 0, bClean = 1;
    const char *z = zBody, *zEnd = zBody + nBody;
    char *azInt[4] = {0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        const char *zSep = z ? memchr(z, 0x1F, (size_t)(zEnd - z)) : 0;
        int n = z ? (int)((zSep ? zSep : zEnd) - z) : 0;
        int eType = (iTypes >> (2 * i)) & 3;
        memset(&a[i], 0, sizeof(a[i]));
        if (z == 0 || eType == 1) {
            a[i].eType = FZ_NULL;
        } else if (eType == 2) {
            azInt[i] = sqlite3_mprintf("%.*s", n, z);
            a[i].eType = FZ_INT;
            a[i].i = strtoll(azInt[i], 0, 10);
        } else {
            a[i].eType = eType == 3 ? FZ_BLOB : FZ_TEXT;
            a[i].z = z;
            a[i].n = n;
            if (eType == 3) bBlob = 1;
            if (eType == 0 && !fz_utf8_ok(z, n, 0)) bClean = 0;
        }
        z = zSep ? zSep + 1 : 0;
    }

    FzRes rC, rJ;
    fz_reseed(13);
    before_call("velt_cancel_step()");
    fz_call(g_db, "velt_cancel_step", 4, a, &rC);
    after_call(&rC);
    if (rC.eStatus == FZ_OK) {
        /* the result names the step, which is cancelled, with its event */
        FZ_ASSERT(a[0].eType == FZ_TEXT && a[1].eType == FZ_TEXT && a[3].eType == FZ_TEXT,
                  "velt_cancel_step() succeeded with non-text arguments");
        char *zE = sqlite3_mprintf("%.*s", a[0].n, a[0].z);
        char *zS = sqlite3_mprintf("%.*s", a[1].n, a[1].z);
        FZ_ASSERT(fz_int(g_db,
                         "SELECT ?1 ->> '$.cancelled' = 1 AND ?1 ->> '$.executionId' = ?2 AND"
                         " ?1 ->> '$.stepId' = ?3 AND (SELECT count(*) FROM json_each(?1)) = 3",
                         rC.z, zE, zS),
                  "velt_cancel_step() result is not {cancelled, executionId, stepId}: %s", rC.z);
        char *zStatus = fz_text(g_db,
                                "SELECT status FROM _velt_steps WHERE execution_id = ?1 AND"
                                " step_id = ?2",
                                zE, zS, 0);
        FZ_ASSERT(zStatus && strcmp(zStatus, "cancelled") == 0,
                  "velt_cancel_step() succeeded but the step is %s", zStatus);
        char *zActor = sqlite3_mprintf("%.*s", a[3].n, a[3].z);
        char *zReason = a[2].eType == FZ_TEXT ? sqlite3_mprintf("%.*s", a[2].n, a[2].z) : 0;
        sqlite3_stmt *p = 0;
        sqlite3_prepare_v2(g_db,
                           "SELECT count(*) FROM _velt_events WHERE execution_id = ?1 AND"
                           " step_id = ?2 AND type = 'step.cancelled' AND actor_id = ?3 AND"
                           " reason IS ?4",
                           -1, &p, 0);
        sqlite3_bind_text(p, 1, zE, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 2, zS, -1, SQLITE_STATIC);
        sqlite3_bind_text(p, 3, zActor, -1, SQLITE_STATIC);
        if (zReason) sqlite3_bind_text(p, 4, zReason, -1, SQLITE_STATIC);
        int nEv = sqlite3_step(p) == SQLITE_ROW ? sqlite3_column_int(p, 0) : -1;
        sqlite3_finalize(p);
        FZ_ASSERT(nEv == 1,
                  "velt_cancel_step() left %d step.cancelled events with its actor and "
                  "reason",
                  nEv);
        sqlite3_free(zStatus);
        sqlite3_free(zActor);
        sqlite3_free(zReason);
        sqlite3_free(zE);
        sqlite3_free(zS);
    }
    if (!undo()) goto done;
    if (!bBlob && rC.eStatus != FZ_SQLITE) {
        /* The same request as JSON, NULL meaning omitted. */
        static const char *const azKey[4] = {"executionId", "stepId", "reason", "actorId"};
        sqlite3_str *s = sqlite3_str_new(0);
        int k = 0;
        sqlite3_str_appendchar(s, 1, '{');
        for (int i = 0; i < 4; i++) {
            if (a[i].eType == FZ_NULL) continue;
            sqlite3_str_appendf(s, "%s\"%s\":", k++ ? "," : "", azKey[i]);
            if (a[i].eType == FZ_INT) {
                sqlite3_str_appendf(s, "%lld", (long long)a[i].i);
            } else {
                fz_json_str(s, a[i].z, a[i].n);
            }
        }
        sqlite3_str_appendchar(s, 1, '}');
        char *zJson = sqlite3_str_finish(s);
        FzVal b[2] = {{FZ_TEXT, "steps/cancel", 12, 0}, {FZ_TEXT, zJson, (int)strlen(zJson), 0}};
        fz_reseed(13);
        before_call("velt('steps/cancel')");
        fz_call(g_db, "velt", 2, b, &rJ);
        after_call(&rJ);
        if (rJ.eStatus != FZ_SQLITE) {
            FZ_ASSERT(rJ.eStatus == rC.eStatus,
                      "velt_cancel_step() is %s but velt('steps/cancel', %s) is %s\n  %s\n  %s",
                      fz_status_name(rC.eStatus), zJson, fz_status_name(rJ.eStatus),
                      rC.zMsg ? rC.zMsg : rC.z, rJ.zMsg ? rJ.zMsg : rJ.z);
            if (rC.eStatus == FZ_OK) {
                FZ_ASSERT(rC.n == rJ.n && memcmp(rC.z, rJ.z, (size_t)rC.n) == 0,
                          "velt_cancel_step() and velt('steps/cancel') results differ:\n  %s\n  %s",
                          rC.z, rJ.z);
            } else if (bClean) {
                FZ_ASSERT(strcmp(rC.zMsg, rJ.zMsg) == 0,
                          "velt_cancel_step() and velt('steps/cancel', %s) messages differ:\n"
                          "  %s\n  %s",
                          zJson, rC.zMsg, rJ.zMsg);
            }
        }
        fz_res_free(&rJ);
        sqlite3_free(zJson);
        undo();
    }
done:
    fz_res_free(&rC);
    for (int i = 0; i < 4; i++)
        sqlite3_free(azInt[i]);
}

/* ---- one input --------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *aData, size_t nData) {
    if (g_db == 0) {
        setup();
        atexit(teardown);
    }
    if (nData < 3) return 0;
    if (++g_nRun % 2048 == 0) {
        teardown();
        setup();
    }
    const char *zPath = fz_aEndpoint[aData[0] % fz_nEndpoint].zPath;
    int flags = aData[1], iTypes = aData[2];
    int nBody;
    char *zBody = substitute(aData + 3, nData - 3, &nBody);

    fz_exec(g_db, "BEGIN");
    fz_exec(g_db, "SAVEPOINT fz");
    if (flags & 0x01) {
        differential_data(zPath, zBody, nBody);
    } else {
        FzRes r;
        const char *zRes;
        int nRes;
        char *zMsg = 0;
        fz_reseed(3);
        call_api(zPath, (int)strlen(zPath), zBody, nBody, &r, &zRes, &nRes, &zMsg);
        fz_res_free(&r);
        sqlite3_free(zMsg);
        undo();
    }
    if ((flags & 0x02) && !sqlite3_get_autocommit(g_db)) {
        if (flags & 0x01) {
            char *zW = sqlite3_mprintf("{\"data\":%.*s}", nBody, zBody);
            differential_prefix(zPath, zW, (int)strlen(zW));
            sqlite3_free(zW);
        } else {
            differential_prefix(zPath, zBody, nBody);
        }
    }
    if ((flags & 0x04) && !sqlite3_get_autocommit(g_db)) {
        mangled_path(zPath, flags >> 3, zBody, nBody);
    }
    if ((flags & 0x40) && !sqlite3_get_autocommit(g_db)) {
        cancel_split(zBody, nBody, iTypes);
    }
    if (!sqlite3_get_autocommit(g_db)) fz_exec(g_db, "ROLLBACK");
    sqlite3_free(zBody);

    /* Nothing of the input survived its ROLLBACK. */
    FZ_ASSERT(fz_fingerprint(g_db) == fz_snap_fingerprint(g_pSnap),
              "the storage differs from the fixture after ROLLBACK");
    return 0;
}
