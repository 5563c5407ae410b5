/*
** One request path for every endpoint.
**
**   velt(path, data)          data is the request's "data" object (JSON text);
**                             returns the "result" object; raises on error.
**   velt_api(path, request)   the whole HTTP body {"data":{...}} in, the whole
**                             response body {"result":...} or {"error":...}
**                             out; API errors never raise here.
**   velt_cancel_step(executionId, stepId, reason, actorId)
**                             a named adapter over 'steps/cancel'.
**
** path is the endpoint after /v2/workflow/ ('steps/cancel'); the full
** '/v2/workflow/steps/cancel' is accepted too. All three decode the request
** with the endpoint's schema (request.c), open the call's transaction
** (conn.c), make sure the storage exists, run the same handler and commit or
** undo everything. Results are JSON text with SQLite's JSON subtype.
*/
#include "velt_int.h"

#include <string.h>

static const VeltEndpoint aEndpoint[] = {
    {"definitions/create", &velt_schema_definitions_create, velt_definitions_create, 1},
    {"definitions/get", &velt_schema_definitions_get, velt_definitions_get, 0},
    {"executions/dispatch", &velt_schema_executions_dispatch, velt_executions_dispatch, 1},
    {"executions/get", &velt_schema_executions_get, velt_executions_get, 0},
    {"executions/cancel", &velt_schema_executions_cancel, velt_executions_cancel, 1},
    {"executions/getEvents", &velt_schema_executions_get_events, velt_executions_get_events, 0},
    {"steps/cancel", &velt_schema_steps_cancel, velt_steps_cancel, 1},
};

#define VELT_MAX_FIELDS 32

const VeltEndpoint *velt_endpoint_find(const char *zPath) {
    static const char zPrefix[] = "/v2/workflow/";
    if (strncmp(zPath, zPrefix, sizeof(zPrefix) - 1) == 0) zPath += sizeof(zPrefix) - 1;
    for (int i = 0; i < VELT_COUNT(aEndpoint); i++) {
        if (strcmp(aEndpoint[i].zPath, zPath) == 0) return &aEndpoint[i];
    }
    return 0;
}

/* Run a decoded request inside its transaction and return its result text
** in *pzOut (wrapped as {"result":...} when bEnvelope). The storage is
** created (or migrated) only by writing endpoints; a read of a file without
** it behaves as if every table were empty. The result is complete before the
** transaction commits, so a call never commits and then fails. */
static int run_endpoint(VeltConn *p, const VeltEndpoint *pEp, const VVal *a, int bEnvelope,
                        char **pzOut, VeltErr *e) {
    VeltTxn txn;
    char *zOut = 0;
    *pzOut = 0;
    if (velt_txn_begin(p, &txn, pEp->bWrite, e)) return e->status;
    sqlite3_str *pOut = sqlite3_str_new(p->db);
    if (bEnvelope) sqlite3_str_appendall(pOut, "{\"result\":");
    int bPresent = 0;
    if (velt_schema_ensure(p, pEp->bWrite, &bPresent, e) == 0) {
        if (!bPresent) {
            velt_err(e, VS_NOT_FOUND, "no such object: this database holds no velt data yet");
        } else {
            pEp->xHandler(p, a, pOut, e);
        }
    }
    if (bEnvelope) sqlite3_str_appendchar(pOut, 1, '}');
    if (e->status == VS_OK) {
        velt_str_finish(pOut, &zOut, e);
    } else {
        sqlite3_free(sqlite3_str_finish(pOut));
    }
    velt_txn_end(p, &txn, e->status == VS_OK, e);
    if (e->status != VS_OK) {
        sqlite3_free(zOut);
        return e->status;
    }
    *pzOut = zOut;
    return 0;
}

static int text_arg(sqlite3_context *ctx, sqlite3_value *pV, const char *zFunc, const char *zArg,
                    const char **pz, int *pn) {
    if (sqlite3_value_type(pV) != SQLITE_TEXT) {
        char *z = sqlite3_mprintf("INVALID_ARGUMENT: %s() needs %s as text", zFunc, zArg);
        sqlite3_result_error(ctx, z ? z : "INVALID_ARGUMENT", -1);
        sqlite3_free(z);
        return 1;
    }
    *pz = (const char *)sqlite3_value_text(pV);
    *pn = sqlite3_value_bytes(pV);
    if (*pz == 0) {
        sqlite3_result_error_nomem(ctx);
        return 1;
    }
    return 0;
}

/* Shared by velt() and velt_api(): bEnvelope selects the response form. */
static void api_call(sqlite3_context *ctx, sqlite3_value **argv, int bEnvelope) {
    VeltConn *p = sqlite3_user_data(ctx);
    const char *zFunc = bEnvelope ? "velt_api" : "velt";
    const char *zPath, *zBody;
    int nPath, nBody;
    if (text_arg(ctx, argv[0], zFunc, "the endpoint path", &zPath, &nPath)) return;
    if (text_arg(ctx, argv[1], zFunc, bEnvelope ? "the request body" : "the request data", &zBody,
                 &nBody)) {
        return;
    }
    VeltErr e = {0};
    cJSON *pReq = 0;
    VVal a[VELT_MAX_FIELDS];
    char *zOut = 0;
    /* A path with a NUL inside names no endpoint. */
    const VeltEndpoint *pEp = (int)strlen(zPath) == nPath ? velt_endpoint_find(zPath) : 0;
    velt_call_enter(p);
    if (pEp == 0) {
        velt_err(&e, VS_NOT_FOUND, "no endpoint '%s'", zPath);
    } else if (velt_parse_json(zBody, nBody, &pReq, &e) == 0) {
        const cJSON *pData = pReq;
        if (bEnvelope) {
            pData = cJSON_GetObjectItemCaseSensitive(pReq, "data");
            if (!cJSON_IsObject(pReq) || pData == 0 || cJSON_GetArraySize(pReq) != 1) {
                velt_err(&e, VS_INVALID_ARGUMENT,
                         "the request body must be an object with one key, \"data\"");
            }
        }
        if (e.status == VS_OK && velt_decode_json(pEp->pSchema, pData, a, &e) == 0) {
            run_endpoint(p, pEp, a, bEnvelope, &zOut, &e);
        }
    }
    if (e.status != VS_OK && bEnvelope && e.status != VS_SQLITE) {
        sqlite3_str *pErr = sqlite3_str_new(p->db);
        velt_err_envelope(pErr, &e);
        velt_err_clear(&e);
        velt_str_finish(pErr, &zOut, &e);
    }
    if (e.status == VS_OK) {
        sqlite3_result_text(ctx, zOut, -1, sqlite3_free);
        sqlite3_result_subtype(ctx, VELT_JSON_SUBTYPE);
    } else {
        velt_err_raise(ctx, &e);
    }
    velt_call_leave(p);
    cJSON_Delete(pReq);
    velt_err_clear(&e);
}

static void velt_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    api_call(ctx, argv, 0);
}

static void velt_api_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    api_call(ctx, argv, 1);
}

/* Named adapter: positional arguments, NULL meaning "omitted". */
static void named_call(sqlite3_context *ctx, const char *zPath, int argc, sqlite3_value **argv) {
    VeltConn *p = sqlite3_user_data(ctx);
    const VeltEndpoint *pEp = velt_endpoint_find(zPath);
    VeltErr e = {0};
    VVal a[VELT_MAX_FIELDS];
    char *zOut = 0;
    velt_call_enter(p);
    if (velt_decode_args(pEp->pSchema, argc, argv, a, &e) == 0 &&
        run_endpoint(p, pEp, a, 0, &zOut, &e) == 0) {
        sqlite3_result_text(ctx, zOut, -1, sqlite3_free);
        sqlite3_result_subtype(ctx, VELT_JSON_SUBTYPE);
    }
    if (e.status != VS_OK) velt_err_raise(ctx, &e);
    velt_call_leave(p);
    velt_err_clear(&e);
}

static void velt_cancel_step_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    named_call(ctx, "steps/cancel", argc, argv);
}

int velt_api_register(sqlite3 *db, VeltConn *p) {
    static const struct {
        const char *zName;
        int nArg;
        void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
    } aFunc[] = {
        {"velt", 2, velt_fn},
        {"velt_api", 2, velt_api_fn},
        {"velt_cancel_step", 4, velt_cancel_step_fn},
    };
    /* They write, so they are direct-only: never callable from a trigger,
    ** view or other schema object. Not deterministic: they have effects. */
    const int flags = SQLITE_UTF8 | SQLITE_DIRECTONLY | SQLITE_RESULT_SUBTYPE;
    for (int i = 0; i < VELT_COUNT(aFunc); i++) {
        velt_conn_ref(p);
        int rc = sqlite3_create_function_v2(db, aFunc[i].zName, aFunc[i].nArg, flags, p,
                                            aFunc[i].xFunc, 0, 0, velt_conn_unref);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}
