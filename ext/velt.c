/*
** velt for SQLite: a local approval-workflow engine with the semantics of the
** Velt Approval Engine REST API (v2), as a SQLite extension.
**
**   .load ./velt
**   SELECT velt('definitions/create', '{"definitionId":"po-approval", ...}');
**   SELECT velt('executions/dispatch', json_object('definitionId', 'po-approval'));
**   SELECT velt_cancel_step(execution_id, step_id, 'Reviewer unavailable', 'admin_jane')
**     FROM velt_steps WHERE status = 'waiting';
**   SELECT seq, type, actor_id, reason FROM velt_events WHERE execution_id = ?;
**
** Loading registers functions and eponymous virtual tables on the connection
** and writes nothing. See README.md for the whole SQL surface.
**
** Helpers registered here:
**   velt_version()       the version, from the VERSION file
**   velt_init()          creates or migrates the storage; returns its version
**   velt_set_clock(ms)   fixes this connection's clock; NULL returns to real time
**   velt_now()           this connection's clock, epoch milliseconds
*/
#define VELT_ENTRY
#include "velt_int.h"
SQLITE_EXTENSION_INIT1

#include "velt.h"

static void version_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc, (void)argv;
    sqlite3_result_text(ctx, VELT_VERSION, -1, SQLITE_STATIC);
}

static void init_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc, (void)argv;
    VeltConn *p = sqlite3_user_data(ctx);
    VeltErr e = {0};
    VeltTxn txn;
    velt_call_enter(p);
    if (velt_txn_begin(p, &txn, 1, &e) == 0) {
        velt_schema_ensure(p, 1, 0, &e);
        velt_txn_end(p, &txn, e.status == VS_OK, &e);
    }
    if (e.status == VS_OK) {
        sqlite3_result_int(ctx, velt_schema_latest());
    } else {
        velt_err_raise(ctx, &e);
    }
    velt_call_leave(p);
    velt_err_clear(&e);
}

static void set_clock_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    VeltConn *p = sqlite3_user_data(ctx);
    if (velt_writer_running(p->db)) {
        char *z = sqlite3_mprintf(velt_writer_running_msg, "velt_set_clock()");
        sqlite3_result_error(ctx, z ? z : "velt_set_clock() refused", -1);
        sqlite3_free(z);
        return;
    }
    switch (sqlite3_value_type(argv[0])) {
    case SQLITE_NULL:
        p->bFixedClock = 0;
        break;
    case SQLITE_INTEGER:
        p->bFixedClock = 1;
        p->iClock = sqlite3_value_int64(argv[0]);
        break;
    default:
        sqlite3_result_error(ctx,
                             "INVALID_ARGUMENT: velt_set_clock() needs epoch milliseconds as an "
                             "integer, or NULL for the real clock",
                             -1);
        return;
    }
    sqlite3_result_int64(ctx, velt_now(p));
}

static void now_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc, (void)argv;
    sqlite3_result_int64(ctx, velt_now(sqlite3_user_data(ctx)));
}

#ifdef _WIN32
__declspec(dllexport)
#endif
    int sqlite3_velt_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
    SQLITE_EXTENSION_INIT2(pApi);
    if (sqlite3_libversion_number() < 3037000) {
        if (pzErrMsg)
            *pzErrMsg = sqlite3_mprintf("velt needs SQLite 3.37.0 or later (this is %s)",
                                        sqlite3_libversion());
        return SQLITE_ERROR;
    }
    /* Pure helpers are innocuous; velt_init and velt_set_clock change state,
    ** so they are direct-only; velt_now reads a clock, so it is not
    ** deterministic. */
    static const struct {
        const char *zName;
        int nArg;
        int flags;
        void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
    } aFunc[] = {
        {"velt_version", 0, SQLITE_INNOCUOUS | SQLITE_DETERMINISTIC, version_fn},
        {"velt_init", 0, SQLITE_DIRECTONLY, init_fn},
        {"velt_set_clock", 1, SQLITE_DIRECTONLY, set_clock_fn},
        {"velt_now", 0, SQLITE_INNOCUOUS, now_fn},
    };
    VeltConn *p = velt_conn_new(db);
    if (p == 0) return SQLITE_NOMEM;
    int rc = SQLITE_OK;
    for (int i = 0; rc == SQLITE_OK && i < VELT_COUNT(aFunc); i++) {
        velt_conn_ref(p);
        rc = sqlite3_create_function_v2(db, aFunc[i].zName, aFunc[i].nArg,
                                        SQLITE_UTF8 | aFunc[i].flags, p, aFunc[i].xFunc, 0, 0,
                                        velt_conn_unref);
    }
    if (rc == SQLITE_OK) rc = velt_api_register(db, p);
    if (rc == SQLITE_OK) rc = velt_vtab_register(db, p);
    /* A schema parsed before these functions existed resolved them later
    ** without the direct-only check (a generated column could then call
    ** velt_cancel_step() from a plain SELECT): have it parsed again. This
    ** writes nothing; inside a transaction it is left alone. */
    if (rc == SQLITE_OK && sqlite3_get_autocommit(db)) {
        sqlite3_exec(db, "PRAGMA writable_schema = RESET", 0, 0, 0);
    }
    if (rc != SQLITE_OK && pzErrMsg && *pzErrMsg == 0) {
        *pzErrMsg = sqlite3_mprintf("velt: cannot register: %s", sqlite3_errmsg(db));
    }
    velt_conn_unref(p);
    return rc;
}
