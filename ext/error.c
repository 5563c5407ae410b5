/*
** Statuses and errors.
**
** Every failure carries one of Velt's statuses. Functions that raise use the
** message "STATUS: detail" and the SQLite code of SPEC section 4:
**
**   INVALID_ARGUMENT, NOT_FOUND          SQLITE_ERROR
**   FAILED_PRECONDITION, ALREADY_EXISTS  SQLITE_CONSTRAINT_FUNCTION
**   PERMISSION_DENIED                    SQLITE_AUTH
**
** velt_api() turns the same errors into {"error":{message,status,details}}.
** Failures of SQLite itself (busy, read-only, I/O, out of memory) are not API
** errors: they keep SQLite's own code and message everywhere.
*/
#include "velt_int.h"

#include <stdarg.h>

const char *velt_status_name(VeltStatus s) {
    switch (s) {
    case VS_OK:
        return "OK";
    case VS_INVALID_ARGUMENT:
        return "INVALID_ARGUMENT";
    case VS_NOT_FOUND:
        return "NOT_FOUND";
    case VS_FAILED_PRECONDITION:
        return "FAILED_PRECONDITION";
    case VS_ALREADY_EXISTS:
        return "ALREADY_EXISTS";
    case VS_PERMISSION_DENIED:
        return "PERMISSION_DENIED";
    case VS_SQLITE:
        return "INTERNAL";
    }
    return "INTERNAL";
}

static int status_rc(VeltStatus s) {
    switch (s) {
    case VS_FAILED_PRECONDITION:
    case VS_ALREADY_EXISTS:
        return SQLITE_CONSTRAINT_FUNCTION;
    case VS_PERMISSION_DENIED:
        return SQLITE_AUTH;
    default:
        return SQLITE_ERROR;
    }
}

void velt_err_clear(VeltErr *e) {
    sqlite3_free(e->zMsg);
    sqlite3_free(e->zDetails);
    e->zMsg = 0;
    e->zDetails = 0;
    e->status = VS_OK;
    e->rc = SQLITE_OK;
}

/* Record an API error. The first error wins: later ones (from cleanup after
** a failure) never overwrite it. Returns the status, so callers can write
** "return velt_err(...)". */
int velt_err(VeltErr *e, VeltStatus s, const char *zFmt, ...) {
    if (e->status != VS_OK) return e->status;
    va_list ap;
    va_start(ap, zFmt);
    e->zMsg = sqlite3_vmprintf(zFmt, ap);
    va_end(ap);
    e->status = s;
    e->rc = status_rc(s);
    if (e->zMsg == 0) e->rc = SQLITE_NOMEM;
    return s;
}

int velt_err_sqlite(VeltErr *e, sqlite3 *db, int rc) {
    if (e->status != VS_OK) return e->status;
    e->status = VS_SQLITE;
    e->rc = rc;
    if (rc != SQLITE_NOMEM) e->zMsg = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    return VS_SQLITE;
}

int velt_err_nomem(VeltErr *e) {
    if (e->status != VS_OK) return e->status;
    e->status = VS_SQLITE;
    e->rc = SQLITE_NOMEM;
    return VS_SQLITE;
}

void velt_err_raise(sqlite3_context *ctx, const VeltErr *e) {
    if (e->rc == SQLITE_NOMEM) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    if (e->status == VS_SQLITE) {
        sqlite3_result_error(ctx, e->zMsg ? e->zMsg : sqlite3_errstr(e->rc), -1);
    } else {
        char *z = sqlite3_mprintf("%s: %s", velt_status_name(e->status), e->zMsg);
        if (z == 0) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        sqlite3_result_error(ctx, z, -1);
        sqlite3_free(z);
    }
    sqlite3_result_error_code(ctx, e->rc);
}

void velt_err_envelope(sqlite3_str *s, const VeltErr *e) {
    sqlite3_str_appendall(s, "{\"error\":{\"message\":");
    velt_json_str(s, e->zMsg ? e->zMsg : "", -1);
    sqlite3_str_appendall(s, ",\"status\":");
    velt_json_str(s, velt_status_name(e->status), -1);
    sqlite3_str_appendall(s, ",\"details\":");
    sqlite3_str_appendall(s, e->zDetails ? e->zDetails : "{}");
    sqlite3_str_appendall(s, "}}");
}
