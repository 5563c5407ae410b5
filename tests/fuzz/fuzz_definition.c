/*
** fuzz_definition: definitions/create, its strict schema, the linter, the
** compiler and `when` expressions, followed through get, dispatch and the
** engine.
**
** Input:  byte 0 even ('D')  the rest is a definition document (the request's
**                            data object) given to definitions/create
**         byte 0 odd ('W')   the rest is a `when` expression string, put into
**                            the custom edge of a small definition whose root
**                            is a __mock__ agent (it completes at dispatch, so
**                            the edge is evaluated at once); after a 0x1F byte,
**                            optionally the triggerContext (JSON object) the
**                            dispatch passes (execution.input)
**
** One database per process (the fixture holds the two-reviews definition);
** every input runs inside BEGIN ... ROLLBACK and ends where it started.
**
** Checked, besides crashes, leaks, UB and run time:
**   - create either succeeds or fails with INVALID_ARGUMENT (ALREADY_EXISTS
**     only for an id in use) and then changes nothing;
**   - a created definition round-trips: definitions/get and the
**     velt_definitions row equal the create result; a second create is
**     ALREADY_EXISTS;
**   - dispatch succeeds exactly when the definition has no groups and no
**     loops (FAILED_PRECONDITION otherwise); executions/get agrees with the
**     storage; cancelling every live step ends the execution; getEvents pages
**     through every external event; the invariants of SPEC section 3 hold;
**   - `when` mode: an accepted W is dispatchable, and the pair of edges
**     W / {"op":"not","args":[W]} fires exactly one of them, the same way
**     W fired alone.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static sqlite3 *g_db;
static uint64_t g_fpFixture;

static const char zDefaultContext[] =
    "{\"amount\":5000,\"name\":\"Acme\",\"tags\":[\"a\",\"b\"],\"ok\":true,\"none\":null,"
    "\"nested\":{\"x\":[1,2,{\"y\":\"z\"}]}}";

static void setup(void) {
    g_db = fz_open();
    fz_endpoints_init(g_db);
    fz_reseed(1);
    sqlite3_free(fz_text(g_db, "SELECT velt('definitions/create', ?1)", fz_aDef[0].zJson, 0, 0));
    g_fpFixture = fz_fingerprint(g_db);
}

static void teardown(void) {
    if (g_db) fz_close(g_db);
    g_db = 0;
}

static void call_velt(const char *zPath, const char *zData, int nData, FzRes *r) {
    FzVal a[2] = {{FZ_TEXT, zPath, (int)strlen(zPath), 0}, {FZ_TEXT, zData, nData, 0}};
    fz_call(g_db, "velt", 2, a, r);
}

/* Dispatch, look at the run, cancel what is live, page through its events.
** Returns the execution id (sqlite3_malloc'd) or NULL when dispatch failed. */
static char *run_definition(const char *zId, const char *zContext, int bDispatchable,
                            int bCustomContext) {
    char *zReq = fz_text(g_db, "SELECT json_object('definitionId', ?1, 'triggerContext', json(?2))",
                         zId, zContext, 0);
    if (zReq == 0) return 0; /* the context is not JSON SQLite accepts */
    FzRes r;
    call_velt("executions/dispatch", zReq, (int)strlen(zReq), &r);
    sqlite3_free(zReq);
    if (r.eStatus == FZ_SQLITE) {
        fz_res_free(&r);
        return 0;
    }
    if (r.eStatus != FZ_OK) {
        FZ_ASSERT(!bDispatchable || (bCustomContext && r.eStatus == FZ_INVALID_ARGUMENT),
                  "dispatch of the new definition '%s' failed: %s", zId, r.zMsg);
        FZ_ASSERT(bDispatchable || r.eStatus == FZ_FAILED_PRECONDITION,
                  "dispatch of '%s' (groups or loops) is %s, not FAILED_PRECONDITION: %s", zId,
                  fz_status_name(r.eStatus), r.zMsg);
        fz_res_free(&r);
        return 0;
    }
    FZ_ASSERT(bDispatchable, "definition '%s' has groups or loops but dispatch succeeded", zId);
    char *zExec = fz_text(g_db, "SELECT ?1 ->> '$.executionId'", r.z, 0, 0);
    fz_res_free(&r);
    FZ_ASSERT(zExec, "dispatch returned no executionId");
    fz_check_invariants(g_db, "after dispatch");

    /* executions/get agrees with the storage */
    char *zGet = fz_text(g_db, "SELECT json_object('executionId', ?1)", zExec, 0, 0);
    call_velt("executions/get", zGet, (int)strlen(zGet), &r);
    sqlite3_free(zGet);
    if (r.eStatus == FZ_OK) {
        sqlite3_int64 bOk = fz_int(g_db,
                                   "SELECT ?1 ->> '$.status' = (SELECT status FROM"
                                   " _velt_executions WHERE execution_id = ?2) AND"
                                   " json_array_length(?1, '$.steps') = (SELECT count(*) FROM"
                                   " _velt_steps WHERE execution_id = ?2) AND NOT EXISTS"
                                   " (SELECT 1 FROM json_each(?1, '$.steps') j WHERE NOT EXISTS"
                                   " (SELECT 1 FROM _velt_steps s WHERE s.execution_id = ?2 AND"
                                   " s.step_id = j.value ->> '$.stepId' AND s.status ="
                                   " j.value ->> '$.status'))",
                                   r.z, zExec, 0);
        FZ_ASSERT(bOk, "executions/get disagrees with the storage: %s", r.z);
    } else {
        FZ_ASSERT(r.eStatus == FZ_SQLITE, "executions/get of a new execution failed: %s", r.zMsg);
    }
    fz_res_free(&r);

    /* cancel every live step: each succeeds, then the run has ended */
    char **azStep = 0;
    int nStep = fz_list(g_db,
                        "SELECT step_id FROM _velt_steps WHERE execution_id = ?1 AND status IN"
                        " ('pending', 'running', 'waiting') ORDER BY rowid",
                        zExec, &azStep);
    for (int i = 0; i < nStep; i++) {
        FzVal a[4] = {{FZ_TEXT, zExec, (int)strlen(zExec), 0},
                      {FZ_TEXT, azStep[i], (int)strlen(azStep[i]), 0},
                      {FZ_TEXT, "fuzz", 4, 0},
                      {FZ_TEXT, "admin", 5, 0}};
        fz_call(g_db, "velt_cancel_step", 4, a, &r);
        FZ_ASSERT(r.eStatus == FZ_OK || r.eStatus == FZ_SQLITE,
                  "cancelling live step %s failed: %s", azStep[i], r.zMsg);
        fz_res_free(&r);
        fz_check_invariants(g_db, "after a cancel");
    }
    fz_list_free(azStep, nStep);
    char *zStatus =
        fz_text(g_db, "SELECT status FROM _velt_executions WHERE execution_id = ?1", zExec, 0, 0);
    FZ_ASSERT(zStatus && (strcmp(zStatus, "completed") == 0 || strcmp(zStatus, "failed") == 0),
              "execution %s is %s after its last live step was cancelled", zExec, zStatus);
    sqlite3_free(zStatus);
    fz_check_get_events(g_db, zExec, 2);
    return zExec;
}

/* definitions/create with the data object zData. Returns the status. */
static FzStatus create_and_follow(const char *zData, int nData, const char *zContext,
                                  int bCustomContext, char **pzId) {
    FzRes r;
    *pzId = 0;
    sqlite3_int64 nChanges = sqlite3_total_changes64(g_db);
    call_velt("definitions/create", zData, nData, &r);
    FzStatus s = r.eStatus;
    fz_check_strict_json(g_db, "definitions/create", zData, nData, s);
    if (s != FZ_OK) {
        if (s != FZ_SQLITE) {
            FZ_ASSERT(s == FZ_INVALID_ARGUMENT || s == FZ_ALREADY_EXISTS,
                      "definitions/create failed with %s: %s", fz_status_name(s), r.zMsg);
            FZ_ASSERT(s != FZ_ALREADY_EXISTS || fz_int(g_db,
                                                       "SELECT count(*) FROM _velt_definitions"
                                                       " WHERE status = 'active'",
                                                       0, 0, 0) > 0,
                      "ALREADY_EXISTS without any definition: %s", r.zMsg);
            FZ_ASSERT(sqlite3_total_changes64(g_db) == nChanges ||
                          fz_fingerprint(g_db) == g_fpFixture,
                      "a failed definitions/create changed the storage: %s", r.zMsg);
        }
        fz_res_free(&r);
        return s;
    }
    char *zView = r.z;
    r.z = 0;
    fz_res_free(&r);
    char *zId = fz_text(g_db, "SELECT ?1 ->> '$.definitionId'", zView, 0, 0);
    FZ_ASSERT(zId, "definitions/create result has no definitionId: %s", zView);
    FZ_ASSERT(
        fz_int(g_db, "SELECT ?1 ->> '$.version' = 1 AND ?1 ->> '$.status' = 'active'", zView, 0, 0),
        "a new definition is not version 1, active: %s", zView);

    /* round trip: get, the virtual table, a second create */
    char *zGet = fz_text(g_db, "SELECT json_object('definitionId', ?1)", zId, 0, 0);
    call_velt("definitions/get", zGet, (int)strlen(zGet), &r);
    sqlite3_free(zGet);
    if (r.eStatus != FZ_SQLITE) {
        FZ_ASSERT(r.eStatus == FZ_OK, "definitions/get of a new definition failed: %s", r.zMsg);
        FZ_ASSERT(fz_json_equal(zView, r.z),
                  "definitions/get differs from the create result:\n  create %s\n  get    %s",
                  zView, r.z);
    }
    fz_res_free(&r);
    char *zRow = fz_text(g_db, "SELECT definition FROM velt_definitions WHERE definition_id = ?1",
                         zId, 0, 0);
    FZ_ASSERT(zRow && fz_json_equal(zView, zRow),
              "velt_definitions differs from the create result:\n  create %s\n  row    %s", zView,
              zRow);
    sqlite3_free(zRow);
    call_velt("definitions/create", zData, nData, &r);
    FZ_ASSERT(r.eStatus == FZ_ALREADY_EXISTS || r.eStatus == FZ_SQLITE,
              "creating '%s' twice is %s, not ALREADY_EXISTS", zId, fz_status_name(r.eStatus));
    fz_res_free(&r);

    int bDispatchable = (int)fz_int(g_db,
                                    "SELECT coalesce(json_array_length(?1, '$.groups'), 0) = 0"
                                    " AND coalesce(json_array_length(?1, '$.compiled.loops'), 0)"
                                    " = 0",
                                    zView, 0, 0);
    sqlite3_free(run_definition(zId, zContext, bDispatchable, bCustomContext));
    sqlite3_free(zView);
    *pzId = zId;
    return FZ_OK;
}

/* ---- `when` mode ---------------------------------------------------------------------- */

#define NODE_CHECK                                                                                 \
    "{\"nodeId\":\"check\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\",\"url\":"       \
    "\"https://acme.dev\"}}"
#define NODE_NOTIFY(id)                                                                            \
    "{\"nodeId\":\"" id "\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","          \
    "\"recipients\":[\"a@acme.dev\"],\"bodyTemplate\":\"x\"}}"

static sqlite3_int64 steps_of(const char *zExec, const char *zNode) {
    return fz_int(g_db, "SELECT count(*) FROM _velt_steps WHERE execution_id = ?1 AND node_id = ?2",
                  zExec, zNode, 0);
}

static void when_mode(const char *z, int n) {
    const char *zSep = memchr(z, 0x1F, (size_t)n);
    int nWhen = zSep ? (int)(zSep - z) : n;
    char *zCtx = 0;
    int bCustom = 0;
    if (zSep) {
        zCtx = sqlite3_mprintf("%.*s", n - nWhen - 1, zSep + 1);
        bCustom = fz_json_object(g_db, zCtx, (int)strlen(zCtx));
    }
    const char *zContext = bCustom ? zCtx : zDefaultContext;

    /* W alone */
    sqlite3_str *s = sqlite3_str_new(0);
    sqlite3_str_appendall(s,
                          "{\"definitionId\":\"when-fuzz\",\"name\":\"When\",\"nodes\":[" NODE_CHECK
                          "," NODE_NOTIFY("yes") "],\"edges\":[{\"from\":\"check\","
                                                 "\"to\":\"yes\",\"on\":\"custom\",\"when\":");
    fz_json_str(s, z, nWhen);
    sqlite3_str_appendall(s, "}]}");
    char *zDef = sqlite3_str_finish(s);
    char *zId = 0;
    FzStatus st = create_and_follow(zDef, (int)strlen(zDef), zContext, bCustom, &zId);
    sqlite3_free(zDef);
    FZ_ASSERT(st == FZ_OK || st == FZ_INVALID_ARGUMENT || st == FZ_SQLITE,
              "a definition differing only in its `when` failed with %s", fz_status_name(st));
    if (st != FZ_OK) goto done;
    fz_check_strict_json(g_db, "a `when` expression", z, nWhen, FZ_OK);
    char *zExec1 = 0;
    {
        char *zReq = fz_text(g_db,
                             "SELECT json_object('definitionId', 'when-fuzz', 'triggerContext',"
                             " json(?1))",
                             zContext, 0, 0);
        FzRes r;
        call_velt("executions/dispatch", zReq, (int)strlen(zReq), &r);
        sqlite3_free(zReq);
        if (r.eStatus == FZ_OK) zExec1 = fz_text(g_db, "SELECT ?1 ->> '$.executionId'", r.z, 0, 0);
        fz_res_free(&r);
    }
    if (zExec1 == 0) goto done;
    sqlite3_int64 nYes1 = steps_of(zExec1, "yes");
    FZ_ASSERT(nYes1 <= 1, "one custom edge spawned %lld steps", (long long)nYes1);

    /* W and not(W) side by side: exactly one fires, as W did alone */
    s = sqlite3_str_new(0);
    sqlite3_str_appendall(
        s, "{\"definitionId\":\"when-pair\",\"name\":\"When pair\",\"nodes\":[" NODE_CHECK
           "," NODE_NOTIFY("yes") "," NODE_NOTIFY(
               "no") "],"
                     "\"edges\":[{\"from\":\"check\",\"to\":\"yes\",\"on\":\"custom\","
                     "\"when\":");
    fz_json_str(s, z, nWhen);
    sqlite3_str_appendall(s, "},{\"from\":\"check\",\"to\":\"no\",\"on\":\"custom\",\"when\":");
    char *zNot = sqlite3_mprintf("{\"op\":\"not\",\"args\":[%.*s]}", nWhen, z);
    fz_json_str(s, zNot, (int)strlen(zNot));
    sqlite3_free(zNot);
    sqlite3_str_appendall(s, "}]}");
    zDef = sqlite3_str_finish(s);
    FzRes r;
    call_velt("definitions/create", zDef, (int)strlen(zDef), &r);
    sqlite3_free(zDef);
    if (r.eStatus == FZ_OK) {
        fz_res_free(&r);
        char *zReq = fz_text(g_db,
                             "SELECT json_object('definitionId', 'when-pair', 'triggerContext',"
                             " json(?1))",
                             zContext, 0, 0);
        call_velt("executions/dispatch", zReq, (int)strlen(zReq), &r);
        sqlite3_free(zReq);
        if (r.eStatus == FZ_OK) {
            char *zExec2 = fz_text(g_db, "SELECT ?1 ->> '$.executionId'", r.z, 0, 0);
            sqlite3_int64 nYes = steps_of(zExec2, "yes"), nNo = steps_of(zExec2, "no");
            FZ_ASSERT(nYes + nNo == 1 && nYes == nYes1,
                      "edges W and not(W) fired %lld and %lld times (W alone: %lld); W = %.*s",
                      (long long)nYes, (long long)nNo, (long long)nYes1, nWhen, z);
            fz_check_invariants(g_db, "after dispatching the W/not(W) pair");
            sqlite3_free(zExec2);
        } else {
            FZ_ASSERT(r.eStatus == FZ_SQLITE, "dispatch of the W/not(W) pair failed: %s", r.zMsg);
        }
    }
    fz_res_free(&r);
    sqlite3_free(zExec1);
done:
    sqlite3_free(zId);
    sqlite3_free(zCtx);
}

/* ---- one input --------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *aData, size_t nData) {
    static unsigned long nRun;
    if (g_db == 0) {
        setup();
        atexit(teardown);
    }
    if (nData < 1) return 0;
    if (++nRun % 2048 == 0) {
        teardown();
        setup();
    }
    fz_reseed(5);
    fz_exec(g_db, "BEGIN");
    const char *z = (const char *)aData + 1;
    int n = (int)nData - 1;
    if (aData[0] & 1) {
        when_mode(z, n);
    } else {
        char *zId = 0;
        create_and_follow(z, n, zDefaultContext, 0, &zId);
        sqlite3_free(zId);
    }
    if (!sqlite3_get_autocommit(g_db)) fz_exec(g_db, "ROLLBACK");
    FZ_ASSERT(fz_fingerprint(g_db) == g_fpFixture,
              "the storage differs from the fixture after ROLLBACK");
    return 0;
}
