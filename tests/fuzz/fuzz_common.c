/*
** Shared code of the fuzz targets: see fuzz_common.h.
*/
#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_endpoints.h"

void fz_fail(const char *zFmt, ...) {
    va_list ap;
    va_start(ap, zFmt);
    fprintf(stderr, "\n==velt-fuzz== VIOLATION: ");
    vfprintf(stderr, zFmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}

int fz_trace(void) {
    static int bTrace = -1;
    if (bTrace < 0) bTrace = getenv("VELT_FUZZ_TRACE") != 0;
    return bTrace;
}

/* ---- budget --------------------------------------------------------------- */

static struct {
    long nLimit; /* 0: off */
    long nCount;
    int bHit;
} g_budget;

static int progress_cb(void *pArg) {
    (void)pArg;
    if (g_budget.nLimit <= 0) return 0;
    if (++g_budget.nCount > g_budget.nLimit) {
        g_budget.bHit = 1;
        return 1;
    }
    return 0;
}

void fz_budget_arm(void) {
    g_budget.nLimit = FZ_BUDGET;
    g_budget.nCount = 0;
    g_budget.bHit = 0;
}

void fz_budget_off(void) {
    g_budget.nLimit = 0;
}

int fz_budget_hit(void) {
    return g_budget.bHit;
}

void fz_reseed(unsigned seed) {
    sqlite3_test_control(SQLITE_TESTCTRL_PRNG_SEED, (int)seed, (sqlite3 *)0);
}

/* ---- plain SQL -------------------------------------------------------------- */

/* The harness's own statements are prepared once per connection (preparing
** dominates the run time under ASan otherwise). done() resets a cached one
** and finalizes any other; fz_close() finalizes the cache before closing,
** so that only velt's statements can make sqlite3_close() fail. */
#define FZ_CACHE 160
static struct {
    sqlite3 *db;
    char *zSql;
    sqlite3_stmt *p;
    int bBusy;
} g_cache[FZ_CACHE];

static sqlite3_stmt *prep(sqlite3 *db, const char *zSql) {
    int iFree = -1;
    for (int i = 0; i < FZ_CACHE; i++) {
        if (g_cache[i].db == db && !g_cache[i].bBusy && strcmp(g_cache[i].zSql, zSql) == 0) {
            g_cache[i].bBusy = 1;
            return g_cache[i].p;
        }
        if (g_cache[i].db == 0 && iFree < 0) iFree = i;
    }
    sqlite3_stmt *p = 0;
    int rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
    if (rc != SQLITE_OK) fz_fail("harness SQL does not prepare (%s): %s", sqlite3_errmsg(db), zSql);
    if (iFree >= 0) {
        g_cache[iFree].db = db;
        g_cache[iFree].zSql = sqlite3_mprintf("%s", zSql);
        g_cache[iFree].p = p;
        g_cache[iFree].bBusy = 1;
        FZ_ASSERT(g_cache[iFree].zSql, "out of memory in the harness");
    }
    return p;
}

static void done(sqlite3_stmt *p) {
    for (int i = 0; i < FZ_CACHE; i++) {
        if (g_cache[i].p == p && g_cache[i].bBusy) {
            sqlite3_reset(p);
            sqlite3_clear_bindings(p);
            g_cache[i].bBusy = 0;
            return;
        }
    }
    sqlite3_finalize(p);
}

static void cache_flush(sqlite3 *db) {
    for (int i = 0; i < FZ_CACHE; i++) {
        if (g_cache[i].db != db) continue;
        sqlite3_finalize(g_cache[i].p);
        sqlite3_free(g_cache[i].zSql);
        memset(&g_cache[i], 0, sizeof(g_cache[i]));
    }
}

static void bind3(sqlite3_stmt *p, const char *z1, const char *z2, const char *z3) {
    const char *az[3] = {z1, z2, z3};
    for (int i = 0; i < 3 && i < sqlite3_bind_parameter_count(p); i++) {
        if (az[i]) sqlite3_bind_text(p, i + 1, az[i], -1, SQLITE_TRANSIENT);
    }
}

int fz_exec_rc(sqlite3 *db, const char *zSql) {
    fz_budget_off();
    return sqlite3_exec(db, zSql, 0, 0, 0);
}

void fz_exec(sqlite3 *db, const char *zSql) {
    int rc = fz_exec_rc(db, zSql);
    if (rc != SQLITE_OK) fz_fail("harness SQL failed (%s): %s", sqlite3_errmsg(db), zSql);
}

char *fz_text(sqlite3 *db, const char *zSql, const char *z1, const char *z2, const char *z3) {
    fz_budget_off();
    sqlite3_stmt *p = prep(db, zSql);
    bind3(p, z1, z2, z3);
    char *zOut = 0;
    int rc = sqlite3_step(p);
    if (rc == SQLITE_ROW && sqlite3_column_type(p, 0) != SQLITE_NULL) {
        zOut = sqlite3_mprintf("%s", sqlite3_column_text(p, 0));
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        fz_fail("harness SQL failed (%s): %s", sqlite3_errmsg(db), zSql);
    }
    done(p);
    return zOut;
}

sqlite3_int64 fz_int(sqlite3 *db, const char *zSql, const char *z1, const char *z2,
                     const char *z3) {
    fz_budget_off();
    sqlite3_stmt *p = prep(db, zSql);
    bind3(p, z1, z2, z3);
    sqlite3_int64 v = 0;
    int rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
        v = sqlite3_column_int64(p, 0);
    } else if (rc != SQLITE_DONE) {
        fz_fail("harness SQL failed (%s): %s", sqlite3_errmsg(db), zSql);
    }
    done(p);
    return v;
}

int fz_list(sqlite3 *db, const char *zSql, const char *z1, char ***pazOut) {
    fz_budget_off();
    sqlite3_stmt *p = prep(db, zSql);
    bind3(p, z1, 0, 0);
    int n = 0, nAlloc = 0, rc;
    char **az = 0;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        if (n == nAlloc) {
            nAlloc = nAlloc ? 2 * nAlloc : 16;
            az = sqlite3_realloc64(az, sizeof(char *) * (sqlite3_uint64)nAlloc);
            FZ_ASSERT(az, "out of memory in the harness");
        }
        az[n++] = sqlite3_mprintf("%s", sqlite3_column_text(p, 0));
    }
    if (rc != SQLITE_DONE) fz_fail("harness SQL failed (%s): %s", sqlite3_errmsg(db), zSql);
    done(p);
    *pazOut = az;
    return n;
}

void fz_list_free(char **az, int n) {
    for (int i = 0; i < n; i++)
        sqlite3_free(az[i]);
    sqlite3_free(az);
}

/* ---- connections ------------------------------------------------------------ */

sqlite3 *fz_open(void) {
    sqlite3 *db = 0;
    int rc = sqlite3_open(":memory:", &db);
    FZ_ASSERT(rc == SQLITE_OK, "sqlite3_open: %d", rc);
    char *zErr = 0;
    rc = sqlite3_velt_init(db, &zErr, 0);
    FZ_ASSERT(rc == SQLITE_OK, "sqlite3_velt_init: %d %s", rc, zErr ? zErr : "");
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, FZ_MAX_LENGTH);
    sqlite3_progress_handler(db, 1000, progress_cb, 0);
    fz_exec(db, "SELECT velt_set_clock(1777374504255)");
    fz_exec(db, "SELECT velt_init()");
    return db;
}

void fz_close(sqlite3 *db) {
    cache_flush(db);
    int rc = sqlite3_close(db);
    if (rc != SQLITE_OK) {
        for (sqlite3_stmt *p = sqlite3_next_stmt(db, 0); p; p = sqlite3_next_stmt(db, p)) {
            fprintf(stderr, "unfinalized statement: %s\n", sqlite3_sql(p));
        }
        fz_fail("sqlite3_close() returned %d (%s), not SQLITE_OK", rc, sqlite3_errstr(rc));
    }
}

/* ---- endpoints -------------------------------------------------------------- */

#define FZ_PATH(p) p,
static const char *const azKnownPath[] = {VELT_FUZZ_ENDPOINTS(FZ_PATH)};
#undef FZ_PATH
FzEndpoint fz_aEndpoint[sizeof(azKnownPath) / sizeof(azKnownPath[0])];
int fz_nEndpoint;

void fz_endpoints_init(sqlite3 *db) {
    if (fz_nEndpoint) return;
    for (size_t i = 0; i < sizeof(azKnownPath) / sizeof(azKnownPath[0]); i++) {
        const VeltEndpoint *pEp = velt_endpoint_find(azKnownPath[i]);
        /* The table and velt_api() must agree: a served path is never
        ** "no endpoint", an unserved one always is. */
        char *z = fz_text(db, "SELECT velt_api(?1, '{\"data\":{}}') ->> '$.error.message'",
                          azKnownPath[i], 0, 0);
        int bNoEndpoint = z && strncmp(z, "no endpoint", 11) == 0;
        sqlite3_free(z);
        FZ_ASSERT(bNoEndpoint == (pEp == 0), "endpoint table and velt_api() disagree on '%s'",
                  azKnownPath[i]);
        if (pEp) {
            FZ_ASSERT(strcmp(pEp->zPath, azKnownPath[i]) == 0, "lookup of '%s' found '%s'",
                      azKnownPath[i], pEp->zPath);
            fz_aEndpoint[fz_nEndpoint].zPath = azKnownPath[i];
            fz_aEndpoint[fz_nEndpoint].pEp = pEp;
            fz_nEndpoint++;
        }
    }
    FZ_ASSERT(fz_nEndpoint > 0, "no endpoint of fuzz_endpoints.h is served");
}

const FzEndpoint *fz_endpoint(const char *zPath) {
    for (int i = 0; i < fz_nEndpoint; i++) {
        if (strcmp(fz_aEndpoint[i].zPath, zPath) == 0) return &fz_aEndpoint[i];
    }
    return 0;
}

/* ---- calls ------------------------------------------------------------------- */

static const char *const azStatus[FZ__COUNT] = {
    "OK",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "SQLITE",
};

const char *fz_status_name(FzStatus s) {
    return s >= 0 && s < FZ__COUNT ? azStatus[s] : "?";
}

static int status_rc(FzStatus s) {
    switch (s) {
    case FZ_FAILED_PRECONDITION:
    case FZ_ALREADY_EXISTS:
        return SQLITE_CONSTRAINT_FUNCTION;
    case FZ_PERMISSION_DENIED:
        return SQLITE_AUTH;
    default:
        return SQLITE_ERROR;
    }
}

static FzStatus status_from_name(const char *z, size_t n) {
    for (int s = FZ_INVALID_ARGUMENT; s <= FZ_PERMISSION_DENIED; s++) {
        if (strlen(azStatus[s]) == n && memcmp(azStatus[s], z, n) == 0) return (FzStatus)s;
    }
    return FZ_OK;
}

void fz_res_free(FzRes *r) {
    sqlite3_free(r->z);
    sqlite3_free(r->zMsg);
    memset(r, 0, sizeof(*r));
}

static void bind_vals(sqlite3_stmt *p, int nArg, const FzVal *a) {
    for (int i = 0; i < nArg; i++) {
        switch (a[i].eType) {
        case FZ_TEXT:
            sqlite3_bind_text(p, i + 1, a[i].z, a[i].n, SQLITE_TRANSIENT);
            break;
        case FZ_INT:
            sqlite3_bind_int64(p, i + 1, a[i].i);
            break;
        case FZ_BLOB:
            sqlite3_bind_blob(p, i + 1, a[i].z, a[i].n, SQLITE_TRANSIENT);
            break;
        default:
            sqlite3_bind_null(p, i + 1);
        }
    }
}

/* A raised error: "STATUS: detail" with the contract's code, or an
** SQLite-level failure the harness provoked. */
static void classify_raise(sqlite3 *db, const char *zSql, FzRes *r) {
    const char *zMsg = sqlite3_errmsg(db);
    r->zMsg = sqlite3_mprintf("%s", zMsg);
    const char *zColon = strstr(r->zMsg, ": ");
    FzStatus s = zColon ? status_from_name(r->zMsg, (size_t)(zColon - r->zMsg)) : FZ_OK;
    if (s != FZ_OK) {
        FZ_ASSERT(r->xrc == status_rc(s),
                  "%s raised %s with SQLite code %d, the contract says %d\n  message: %s", zSql,
                  fz_status_name(s), r->xrc, status_rc(s), r->zMsg);
        r->eStatus = s;
        r->zDetail = zColon + 2;
        return;
    }
    int rc = r->rc & 0xff;
    int bAllowed =
        rc == SQLITE_NOMEM || rc == SQLITE_TOOBIG || (rc == SQLITE_INTERRUPT && fz_budget_hit());
    FZ_ASSERT(bAllowed,
              "%s raised a non-API error (SQLite code %d, extended %d): %s\n"
              "  (only out-of-memory, too-big and the harness's own interrupts may surface as "
              "SQLite errors)",
              zSql, r->rc, r->xrc, r->zMsg);
    r->eStatus = FZ_SQLITE;
}

void fz_call_sql(sqlite3 *db, const char *zSql, int nArg, const FzVal *a, int bJsonResult,
                 FzRes *r) {
    memset(r, 0, sizeof(*r));
    fz_budget_off();
    sqlite3_stmt *p = prep(db, zSql);
    bind_vals(p, nArg, a);
    fz_budget_arm();
    int rc;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        if (r->nRow++ == 0 && sqlite3_column_type(p, 0) != SQLITE_NULL) {
            const char *z = (const char *)sqlite3_column_text(p, 0);
            r->n = sqlite3_column_bytes(p, 0);
            r->z = sqlite3_malloc(r->n + 1);
            FZ_ASSERT(r->z && z, "out of memory in the harness");
            memcpy(r->z, z, (size_t)r->n + 1);
            FZ_ASSERT(!bJsonResult || sqlite3_column_type(p, 0) == SQLITE_TEXT,
                      "%s returned a non-text value", zSql);
        } else if (r->nRow > 1 && sqlite3_column_type(p, 0) != SQLITE_NULL && bJsonResult) {
            int n = sqlite3_column_bytes(p, 0);
            const char *z = (const char *)sqlite3_column_text(p, 0);
            fz_budget_off();
            FZ_ASSERT(fz_json_object(db, z, n), "%s returned invalid JSON: %.*s", zSql, n, z);
            fz_budget_arm();
        }
    }
    r->rc = rc;
    r->xrc = sqlite3_extended_errcode(db);
    fz_budget_off();
    if (rc != SQLITE_DONE) classify_raise(db, zSql, r);
    if (fz_trace()) {
        fprintf(stderr, "[velt-fuzz] %s", zSql);
        for (int i = 0; i < nArg; i++) {
            int n = a[i].n > 300 ? 300 : a[i].n;
            if (a[i].eType == FZ_TEXT) fprintf(stderr, " | %.*s", n, a[i].z);
            if (a[i].eType == FZ_INT) fprintf(stderr, " | %lld", (long long)a[i].i);
            if (a[i].eType == FZ_NULL) fprintf(stderr, " | NULL");
            if (a[i].eType == FZ_BLOB) fprintf(stderr, " | blob(%d)", a[i].n);
        }
        fprintf(stderr, "\n    -> %s %.300s\n", fz_status_name(r->eStatus),
                r->zMsg ? r->zMsg
                : r->z  ? r->z
                        : "");
    }
    done(p);
    if (r->eStatus == FZ_OK && bJsonResult && r->nRow > 0) {
        FZ_ASSERT(r->z, "%s returned NULL", zSql);
        FZ_ASSERT(fz_json_object(db, r->z, r->n),
                  "%s returned something else than a JSON "
                  "object: %.*s",
                  zSql, r->n, r->z);
    }
}

void fz_call(sqlite3 *db, const char *zFunc, int nArg, const FzVal *a, FzRes *r) {
    char zSql[200];
    int k = snprintf(zSql, sizeof zSql, "SELECT %s(", zFunc);
    for (int i = 0; i < nArg; i++)
        k += snprintf(zSql + k, sizeof zSql - (size_t)k, "%s?%d", i ? ", " : "", i + 1);
    snprintf(zSql + k, sizeof zSql - (size_t)k, ")");
    /* velt_api() returns its envelope, checked by fz_envelope(). */
    fz_call_sql(db, zSql, nArg, a, 1, r);
    FZ_ASSERT(r->eStatus != FZ_OK || r->nRow == 1, "%s returned %d rows", zSql, r->nRow);
}

int fz_json_object(sqlite3 *db, const char *z, int n) {
    sqlite3_stmt *p = prep(db, "SELECT json_valid(?1) AND json_type(?1) = 'object'");
    sqlite3_bind_text(p, 1, z, n, SQLITE_STATIC);
    int ok = sqlite3_step(p) == SQLITE_ROW && sqlite3_column_int(p, 0);
    done(p);
    return ok;
}

int fz_json_valid(sqlite3 *db, const char *z, int n) {
    sqlite3_stmt *p = prep(db, "SELECT json_valid(?1)");
    sqlite3_bind_text(p, 1, z, n, SQLITE_STATIC);
    int ok = sqlite3_step(p) == SQLITE_ROW && sqlite3_column_int(p, 0);
    done(p);
    return ok;
}

void fz_check_strict_json(sqlite3 *db, const char *zWhat, const char *z, int n, FzStatus s) {
    if (s == FZ_INVALID_ARGUMENT || s == FZ_SQLITE) return;
    if (fz_json_valid(db, z, n)) return;
    fz_fail("%s accepted a request that is not JSON (json_valid() = 0), it is %s: %.*s", zWhat,
            fz_status_name(s), n > 400 ? 400 : n, z);
}

static int json_same(const cJSON *a, const cJSON *b) {
    if (a == 0 || b == 0) return a == b;
    if ((a->type & 0xFF) != (b->type & 0xFF)) return 0;
    if (cJSON_IsNumber(a)) return a->valuedouble == b->valuedouble;
    if (cJSON_IsString(a)) return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsArray(a)) {
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next) {
            if (!json_same(x, y)) return 0;
        }
        return x == 0 && y == 0;
    }
    if (cJSON_IsObject(a)) {
        if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
        for (const cJSON *x = a->child; x; x = x->next) {
            if (!json_same(x, cJSON_GetObjectItemCaseSensitive(b, x->string))) return 0;
        }
        return 1;
    }
    return 1; /* true, false, null */
}

int fz_json_equal(const char *zA, const char *zB) {
    cJSON *a = zA ? cJSON_Parse(zA) : 0, *b = zB ? cJSON_Parse(zB) : 0;
    int eq = a && b && json_same(a, b);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return eq;
}

int fz_json_depth(const char *z, int n) {
    int depth = 0, max = 0, bString = 0;
    for (int i = 0; i < n; i++) {
        char c = z[i];
        if (bString) {
            if (c == '\\')
                i++;
            else if (c == '"')
                bString = 0;
        } else if (c == '"') {
            bString = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max) max = depth;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return max;
}

FzStatus fz_envelope(sqlite3 *db, const char *z, int n, const char **pzResult, int *pnResult,
                     char **pzMsg) {
    static const char zPre[] = "{\"result\":";
    *pzResult = 0;
    *pnResult = 0;
    *pzMsg = 0;
    FZ_ASSERT(z, "velt_api() returned NULL");
    fz_budget_off();
    sqlite3_stmt *p = prep(db, "SELECT json_valid(?1), json_type(?1),"
                               " (SELECT count(*) FROM json_each(?1)),"
                               " json_type(?1, '$.result'), json_type(?1, '$.error'),"
                               " (SELECT count(*) FROM json_each(?1, '$.error')),"
                               " json_type(?1, '$.error.message'), json_type(?1, '$.error.status'),"
                               " json_type(?1, '$.error.details'), ?1 ->> '$.error.status',"
                               " ?1 ->> '$.error.message', json_type(?1, '$.error.details.issues'),"
                               " (SELECT count(*) FROM json_each(?1, '$.error.details.issues') i"
                               "   WHERE json_type(i.value, '$.code') IS NOT 'text'"
                               "      OR json_type(i.value, '$.path') IS NOT 'array'"
                               "      OR json_type(i.value, '$.message') IS NOT 'text')");
    sqlite3_bind_text(p, 1, z, n, SQLITE_STATIC);
    int rc = sqlite3_step(p);
    FZ_ASSERT(rc == SQLITE_ROW, "envelope check failed: %s", sqlite3_errmsg(db));
#define COL_T(i) ((const char *)sqlite3_column_text(p, i))
#define IS(i, v) (COL_T(i) && strcmp(COL_T(i), v) == 0)
    FZ_ASSERT(sqlite3_column_int(p, 0) == 1, "velt_api() returned invalid JSON: %.*s", n, z);
    FZ_ASSERT(IS(1, "object") && sqlite3_column_int(p, 2) == 1,
              "velt_api() response is not an object with exactly one key: %.*s", n, z);
    FzStatus s = FZ_OK;
    if (COL_T(3)) {
        FZ_ASSERT(IS(3, "object"), "velt_api() result is not an object: %.*s", n, z);
        FZ_ASSERT(n > (int)sizeof(zPre) && memcmp(z, zPre, sizeof(zPre) - 1) == 0 &&
                      z[n - 1] == '}',
                  "velt_api() result envelope is not {\"result\":...}: %.*s", n, z);
        *pzResult = z + sizeof(zPre) - 1;
        *pnResult = n - (int)sizeof(zPre);
    } else {
        FZ_ASSERT(IS(4, "object"), "velt_api() response has neither result nor error: %.*s", n, z);
        FZ_ASSERT(sqlite3_column_int(p, 5) == 3 && IS(6, "text") && IS(7, "text") &&
                      IS(8, "object"),
                  "velt_api() error is not {message, status, details}: %.*s", n, z);
        const char *zS = COL_T(9);
        s = status_from_name(zS, strlen(zS));
        FZ_ASSERT(s != FZ_OK, "velt_api() error has an unknown status '%s': %.*s", zS, n, z);
        FZ_ASSERT(COL_T(11) == 0 || (IS(11, "array") && sqlite3_column_int(p, 12) == 0),
                  "velt_api() error.details.issues are not {code, path, message}: %.*s", n, z);
        *pzMsg = sqlite3_mprintf("%s", COL_T(10));
    }
#undef IS
#undef COL_T
    done(p);
    return s;
}

void fz_json_str(sqlite3_str *s, const char *z, int n) {
    sqlite3_str_appendchar(s, 1, '"');
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)z[i];
        if (c == '"' || c == '\\') {
            sqlite3_str_appendchar(s, 1, '\\');
            sqlite3_str_appendchar(s, 1, (char)c);
        } else if (c < 0x20) {
            sqlite3_str_appendf(s, "\\u%04x", c);
        } else {
            sqlite3_str_appendchar(s, 1, (char)c);
        }
    }
    sqlite3_str_appendchar(s, 1, '"');
}

int fz_utf8_ok(const char *zIn, int n, int *pnChar) {
    const unsigned char *z = (const unsigned char *)zIn;
    int nChar = 0;
    for (int i = 0; i < n; nChar++) {
        unsigned c = z[i];
        int len;
        unsigned min;
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        if (i + len > n) return 0;
        for (int k = 1; k < len; k++) {
            if ((z[i + k] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (z[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        i += len;
    }
    if (pnChar) *pnChar = nChar;
    return 1;
}

/* ---- invariants ----------------------------------------------------------------- */

#define TERMINAL_STEP "('completed', 'failed', 'skipped', 'cancelled', 'breached')"
#define LIVE_STEP "('pending', 'running', 'waiting')"
#define TERMINAL_EXEC "('completed', 'failed', 'cancelled')"

static const struct {
    const char *zName;
    const char *zSql; /* returns a description of the first violation, or no row */
} aCheck[] = {
    {"I2/I3: seq is 1..max per execution, no gap, no duplicate",
     "SELECT execution_id || ': ' || count(*) || ' events, seq ' || min(seq) || '..' || max(seq)"
     " FROM _velt_events GROUP BY execution_id"
     " HAVING min(seq) <> 1 OR max(seq) <> count(*) OR count(DISTINCT seq) <> count(*) LIMIT 1"},
    {"I3: events belong to an existing execution",
     "SELECT e.execution_id || ' seq ' || e.seq FROM _velt_events e"
     " WHERE NOT EXISTS (SELECT 1 FROM _velt_executions x WHERE x.execution_id = e.execution_id)"
     " LIMIT 1"},
    {"6.0: every execution starts with execution.dispatched at seq 1",
     "SELECT x.execution_id FROM _velt_executions x WHERE NOT EXISTS (SELECT 1 FROM _velt_events"
     " e WHERE e.execution_id = x.execution_id AND e.seq = 1 AND e.type = 'execution.dispatched')"
     " LIMIT 1"},
    {"I4: a terminal execution has no live step",
     "SELECT x.execution_id || ' is ' || x.status || ', step ' || s.step_id || ' is ' || s.status"
     " FROM _velt_executions x JOIN _velt_steps s ON s.execution_id = x.execution_id"
     " WHERE x.status IN " TERMINAL_EXEC " AND s.status IN " LIVE_STEP " LIMIT 1"},
    {"steps belong to an existing execution",
     "SELECT s.execution_id || ' / ' || s.step_id FROM _velt_steps s WHERE NOT EXISTS"
     " (SELECT 1 FROM _velt_executions x WHERE x.execution_id = s.execution_id) LIMIT 1"},
    {"6.4: a running execution has a live step (roll-up)",
     "SELECT x.execution_id FROM _velt_executions x WHERE x.status IN ('pending', 'running')"
     " AND NOT EXISTS (SELECT 1 FROM _velt_steps s WHERE s.execution_id = x.execution_id"
     " AND s.status IN " LIVE_STEP ") LIMIT 1"},
    {"I5: stored actor_id is 1-256 characters, reason <= 500 for cancels and <= 2000 otherwise",
     "SELECT execution_id || ' seq ' || seq || ' ' || type || ': actor ' || length(actor_id) ||"
     " ', reason ' || length(reason) FROM _velt_events"
     " WHERE (actor_id IS NOT NULL AND length(actor_id) NOT BETWEEN 1 AND 256)"
     "    OR (type IN ('step.cancelled', 'execution.cancelled') AND length(reason) > 500)"
     "    OR length(reason) > 2000 LIMIT 1"},
    {"5.1: a step.cancelled event names its actor",
     "SELECT execution_id || ' seq ' || seq FROM _velt_events WHERE type = 'step.cancelled'"
     " AND (actor_id IS NULL OR step_id IS NULL) LIMIT 1"},
    {"every cancelled step has exactly one step.cancelled event",
     "SELECT s.execution_id || ' / ' || s.step_id || ': ' || (SELECT count(*) FROM _velt_events e"
     " WHERE e.execution_id = s.execution_id AND e.step_id = s.step_id"
     " AND e.type = 'step.cancelled') || ' step.cancelled events' FROM _velt_steps s"
     " WHERE s.status = 'cancelled' AND (SELECT count(*) FROM _velt_events e"
     " WHERE e.execution_id = s.execution_id AND e.step_id = s.step_id"
     " AND e.type = 'step.cancelled') <> 1 LIMIT 1"},
    {"every step.cancelled event has its cancelled step",
     "SELECT e.execution_id || ' seq ' || e.seq || ' step ' || e.step_id FROM _velt_events e"
     " WHERE e.type = 'step.cancelled' AND NOT EXISTS (SELECT 1 FROM _velt_steps s"
     " WHERE s.execution_id = e.execution_id AND s.step_id = e.step_id"
     " AND s.status = 'cancelled') LIMIT 1"},
    {"a terminal step has completed_at, a live one has not",
     "SELECT execution_id || ' / ' || step_id || ' ' || status FROM _velt_steps"
     " WHERE (status IN " TERMINAL_STEP ") <> (completed_at IS NOT NULL) LIMIT 1"},
    {"a terminal execution has exactly one execution.<status> event, a live one none",
     "SELECT x.execution_id || ' ' || x.status FROM _velt_executions x WHERE"
     " (SELECT count(*) FROM _velt_events e WHERE e.execution_id = x.execution_id AND e.type IN"
     " ('execution.completed', 'execution.failed', 'execution.cancelled'))"
     " <> (x.status IN " TERMINAL_EXEC ")"
     " OR (x.status IN " TERMINAL_EXEC " AND NOT EXISTS (SELECT 1 FROM _velt_events e"
     " WHERE e.execution_id = x.execution_id AND e.type = 'execution.' || x.status)) LIMIT 1"},
    {"a terminal execution has completed_at; cancelled_at exactly when cancelled",
     "SELECT execution_id || ' ' || status FROM _velt_executions"
     " WHERE (status IN " TERMINAL_EXEC ") <> (completed_at IS NOT NULL)"
     " OR (status = 'cancelled') <> (cancelled_at IS NOT NULL) LIMIT 1"},
};

/* All checks in one statement, one column each (prepared once per connection). */
void fz_check_invariants(sqlite3 *db, const char *zWhen) {
    static char *zAll = 0;
    const int nCheck = (int)(sizeof(aCheck) / sizeof(aCheck[0]));
    if (zAll == 0) {
        sqlite3_str *s = sqlite3_str_new(0);
        for (int i = 0; i < nCheck; i++)
            sqlite3_str_appendf(s, "%s(%s)", i ? ", " : "SELECT ", aCheck[i].zSql);
        zAll = sqlite3_str_finish(s);
        FZ_ASSERT(zAll, "out of memory in the harness");
    }
    fz_budget_off();
    sqlite3_stmt *p = prep(db, zAll);
    int rc = sqlite3_step(p);
    if (rc != SQLITE_ROW) fz_fail("invariant query failed: %s", sqlite3_errmsg(db));
    for (int i = 0; i < nCheck; i++) {
        if (sqlite3_column_type(p, i) != SQLITE_NULL) {
            fz_fail("%s -- violated %s: %s", aCheck[i].zName, zWhen, sqlite3_column_text(p, i));
        }
    }
    done(p);
}

/* ---- snapshots -------------------------------------------------------------------- */

typedef struct FzRows {
    int n;
    char **azKey, **azVal;
} FzRows;

struct FzSnap {
    FzRows steps;  /* terminal steps: key exec/step, value status/output/error/completed_at */
    FzRows execs;  /* every execution: key exec, value status */
    FzRows events; /* per execution: key exec, value "maxseq:hash" */
    uint64_t fp;
};

static void rows_free(FzRows *r) {
    fz_list_free(r->azKey, r->n);
    fz_list_free(r->azVal, r->n);
    memset(r, 0, sizeof(*r));
}

static void rows_add(FzRows *r, int *pnAlloc, const char *zKey, const char *zVal) {
    if (r->n == *pnAlloc) {
        *pnAlloc = *pnAlloc ? 2 * *pnAlloc : 16;
        r->azKey = sqlite3_realloc64(r->azKey, sizeof(char *) * (sqlite3_uint64)*pnAlloc);
        r->azVal = sqlite3_realloc64(r->azVal, sizeof(char *) * (sqlite3_uint64)*pnAlloc);
        FZ_ASSERT(r->azKey && r->azVal, "out of memory in the harness");
    }
    r->azKey[r->n] = sqlite3_mprintf("%s", zKey);
    r->azVal[r->n] = sqlite3_mprintf("%s", zVal);
    r->n++;
}

/* Two-column query, rows ordered by the first (BINARY order = strcmp). */
static void rows_load(sqlite3 *db, const char *zSql, FzRows *r) {
    sqlite3_stmt *p = prep(db, zSql);
    int nAlloc = 0, rc;
    memset(r, 0, sizeof(*r));
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        rows_add(r, &nAlloc, (const char *)sqlite3_column_text(p, 0),
                 (const char *)sqlite3_column_text(p, 1));
    }
    if (rc != SQLITE_DONE) fz_fail("snapshot query failed (%s): %s", sqlite3_errmsg(db), zSql);
    done(p);
}

static uint64_t fnv(uint64_t h, const void *pv, size_t n) {
    const unsigned char *p = pv;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void events_load(sqlite3 *db, FzRows *r) {
    sqlite3_stmt *p = prep(db, "SELECT quote(execution_id), seq, quote(event_id) || ',' ||"
                               " quote(type) || ',' || quote(step_id) || ',' || quote(timestamp)"
                               " || ',' || quote(data) || ',' || quote(actor_id) || ',' ||"
                               " quote(reason) FROM _velt_events ORDER BY 1, 2");
    int nAlloc = 0, rc;
    char *zExec = 0;
    sqlite3_int64 iMax = 0;
    uint64_t h = 0;
    memset(r, 0, sizeof(*r));
    while (1) {
        rc = sqlite3_step(p);
        const char *zE = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(p, 0) : 0;
        if (zExec && (zE == 0 || strcmp(zE, zExec) != 0)) {
            char zVal[64];
            snprintf(zVal, sizeof zVal, "%lld:%016llx", (long long)iMax, (unsigned long long)h);
            rows_add(r, &nAlloc, zExec, zVal);
            sqlite3_free(zExec);
            zExec = 0;
        }
        if (rc != SQLITE_ROW) break;
        if (zExec == 0) {
            zExec = sqlite3_mprintf("%s", zE);
            h = 0xcbf29ce484222325ULL;
        }
        iMax = sqlite3_column_int64(p, 1);
        const char *zRow = (const char *)sqlite3_column_text(p, 2);
        h = fnv(h, &iMax, sizeof iMax);
        h = fnv(h, zRow, strlen(zRow));
    }
    if (rc != SQLITE_DONE) fz_fail("snapshot of events failed: %s", sqlite3_errmsg(db));
    done(p);
}

/* Hash of the events of one execution up to seq iMax (same form as above). */
static uint64_t events_prefix_hash(sqlite3 *db, const char *zQuotedExec, sqlite3_int64 iMax,
                                   sqlite3_int64 *pnFound) {
    sqlite3_stmt *p = prep(db, "SELECT seq, quote(event_id) || ',' || quote(type) || ',' ||"
                               " quote(step_id) || ',' || quote(timestamp) || ',' || quote(data)"
                               " || ',' || quote(actor_id) || ',' || quote(reason)"
                               " FROM _velt_events WHERE quote(execution_id) = ?1 AND seq <= ?2"
                               " ORDER BY seq");
    sqlite3_bind_text(p, 1, zQuotedExec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p, 2, iMax);
    uint64_t h = 0xcbf29ce484222325ULL;
    *pnFound = 0;
    while (sqlite3_step(p) == SQLITE_ROW) {
        sqlite3_int64 iSeq = sqlite3_column_int64(p, 0);
        const char *zRow = (const char *)sqlite3_column_text(p, 1);
        h = fnv(h, &iSeq, sizeof iSeq);
        h = fnv(h, zRow, strlen(zRow));
        (*pnFound)++;
    }
    done(p);
    return h;
}

uint64_t fz_fingerprint(sqlite3 *db) {
    char **azTable = 0;
    int nTable = fz_list(db,
                         "SELECT name FROM sqlite_schema WHERE type = 'table'"
                         " AND name LIKE '\\_velt\\_%' ESCAPE '\\' ORDER BY name",
                         0, &azTable);
    uint64_t sum = 0;
    for (int t = 0; t < nTable; t++) {
        char *zSql = sqlite3_mprintf("SELECT * FROM main.\"%w\"", azTable[t]);
        sqlite3_stmt *p = prep(db, zSql);
        int rc;
        while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
            uint64_t h = fnv(0xcbf29ce484222325ULL, azTable[t], strlen(azTable[t]));
            for (int i = 0; i < sqlite3_column_count(p); i++) {
                unsigned char eType = (unsigned char)sqlite3_column_type(p, i);
                h = fnv(h, &eType, 1);
                if (eType == SQLITE_INTEGER) {
                    sqlite3_int64 v = sqlite3_column_int64(p, i);
                    h = fnv(h, &v, sizeof v);
                } else if (eType == SQLITE_FLOAT) {
                    double v = sqlite3_column_double(p, i);
                    h = fnv(h, &v, sizeof v);
                } else if (eType != SQLITE_NULL) {
                    const void *pv = sqlite3_column_blob(p, i);
                    int n = sqlite3_column_bytes(p, i);
                    h = fnv(h, &n, sizeof n);
                    if (n) h = fnv(h, pv, (size_t)n);
                }
            }
            /* order-independent: a multiset of rows */
            h ^= h >> 29;
            h *= 0xbf58476d1ce4e5b9ULL;
            h ^= h >> 32;
            sum += h;
        }
        if (rc != SQLITE_DONE)
            fz_fail("fingerprint of %s failed: %s", azTable[t], sqlite3_errmsg(db));
        done(p);
        sqlite3_free(zSql);
    }
    fz_list_free(azTable, nTable);
    return sum;
}

#define STEP_KEY "quote(execution_id) || '/' || quote(step_id)"
#define STEP_VAL                                                                                   \
    "quote(status) || ',' || quote(output) || ',' || quote(error) || ',' || quote(completed_at)"

FzSnap *fz_snap_take(sqlite3 *db) {
    fz_budget_off();
    FzSnap *s = sqlite3_malloc(sizeof(*s));
    FZ_ASSERT(s, "out of memory in the harness");
    memset(s, 0, sizeof(*s));
    rows_load(db,
              "SELECT " STEP_KEY ", " STEP_VAL " FROM _velt_steps"
              " WHERE status IN " TERMINAL_STEP " ORDER BY 1",
              &s->steps);
    rows_load(db, "SELECT quote(execution_id), status FROM _velt_executions ORDER BY 1", &s->execs);
    events_load(db, &s->events);
    s->fp = fz_fingerprint(db);
    return s;
}

void fz_snap_free(FzSnap *s) {
    if (s == 0) return;
    rows_free(&s->steps);
    rows_free(&s->execs);
    rows_free(&s->events);
    sqlite3_free(s);
}

uint64_t fz_snap_fingerprint(const FzSnap *s) {
    return s->fp;
}

static const char *exec_status_in(const FzRows *r, const char *zExec) {
    for (int i = 0; i < r->n; i++) {
        if (strcmp(r->azKey[i], zExec) == 0) return r->azVal[i];
    }
    return 0;
}

static int is_terminal_exec(const char *z) {
    return z &&
           (strcmp(z, "completed") == 0 || strcmp(z, "failed") == 0 || strcmp(z, "cancelled") == 0);
}

void fz_snap_check(sqlite3 *db, const FzSnap *pOld, const char *zWhen) {
    fz_budget_off();
    FzRows now;
    /* Executions: a terminal one never changes; any may go only by a purge
    ** of a terminal one. */
    rows_load(db, "SELECT quote(execution_id), status FROM _velt_executions ORDER BY 1", &now);
    for (int i = 0; i < pOld->execs.n; i++) {
        const char *zWas = pOld->execs.azVal[i];
        const char *zIs = exec_status_in(&now, pOld->execs.azKey[i]);
        FZ_ASSERT(zIs || is_terminal_exec(zWas), "a live execution disappeared %s: %s (was %s)",
                  zWhen, pOld->execs.azKey[i], zWas);
        FZ_ASSERT(!zIs || !is_terminal_exec(zWas) || strcmp(zIs, zWas) == 0,
                  "a terminal execution changed %s: %s was %s, is %s", zWhen, pOld->execs.azKey[i],
                  zWas, zIs);
    }
    FzRows execsNow = now;

    /* I1: terminal steps never change. */
    for (int i = 0; i < pOld->steps.n; i++) {
        const char *zKey = pOld->steps.azKey[i];
        char *zVal =
            fz_text(db, "SELECT " STEP_VAL " FROM _velt_steps WHERE " STEP_KEY " = ?1", zKey, 0, 0);
        if (zVal == 0) {
            /* gone: only with its whole (terminal) execution */
            const char *zSlash = strstr(zKey, "'/'");
            char *zExec = sqlite3_mprintf("%.*s", zSlash ? (int)(zSlash - zKey) + 1 : 0, zKey);
            int bPurged = exec_status_in(&execsNow, zExec) == 0;
            sqlite3_free(zExec);
            FZ_ASSERT(bPurged, "I1: terminal step %s was deleted %s", zKey, zWhen);
        } else {
            FZ_ASSERT(strcmp(zVal, pOld->steps.azVal[i]) == 0,
                      "I1: terminal step %s changed %s:\n  was %s\n  is  %s", zKey, zWhen,
                      pOld->steps.azVal[i], zVal);
        }
        sqlite3_free(zVal);
    }

    /* I2: events are append-only. */
    for (int i = 0; i < pOld->events.n; i++) {
        long long iMax = 0;
        unsigned long long hWas = 0;
        sscanf(pOld->events.azVal[i], "%lld:%llx", &iMax, &hWas);
        sqlite3_int64 nFound = 0;
        uint64_t h = events_prefix_hash(db, pOld->events.azKey[i], iMax, &nFound);
        if (nFound == 0 && exec_status_in(&execsNow, pOld->events.azKey[i]) == 0) continue;
        FZ_ASSERT(nFound == iMax && h == hWas,
                  "I2: events 1..%lld of %s changed or went away %s (%lld left)", iMax,
                  pOld->events.azKey[i], zWhen, (long long)nFound);
    }
    rows_free(&execsNow);
}

/* ---- shared fixtures ------------------------------------------------------------- */

/* The definitions of the tests (tests/sql/fixtures/two_reviews.sql,
** tests/py/velt_helpers.py, tests/sql/005_engine.sql), upstream's example,
** workers' steps that stay pending, a run that ends at dispatch, and two
** that are stored but not run yet (parallel groups, loops). */
const FzDef fz_aDef[] = {
    {"two-reviews",
     "{\"definitionId\":\"two-reviews\",\"name\":\"Two reviews\",\"nodes\":["
     "{\"nodeId\":\"legal\",\"type\":\"human\",\"config\":{\"reviewers\":[{\"userId\":"
     "\"u_legal\",\"mandatory\":true}]}},"
     "{\"nodeId\":\"brand\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u_brand\","
     "\"u_brand2\"]}},"
     "{\"nodeId\":\"escalate\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
     "\"recipients\":[\"lead@acme.dev\"],\"bodyTemplate\":\"Rejected\"}}],"
     "\"edges\":[{\"from\":\"legal\",\"to\":\"escalate\",\"on\":\"reject\"},"
     "{\"from\":\"brand\",\"to\":\"escalate\",\"on\":\"reject\"}]}",
     1},
    {"one-review",
     "{\"definitionId\":\"one-review\",\"name\":\"One review\",\"nodes\":["
     "{\"nodeId\":\"review\",\"type\":\"human\",\"config\":{\"reviewers\":[{\"userId\":\"u1\","
     "\"mandatory\":true}]}},"
     "{\"nodeId\":\"publish\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\",\"url\":"
     "\"https://example.com\"}},"
     "{\"nodeId\":\"rework\",\"type\":\"agent\",\"config\":{\"agentId\":\"rework-agent\","
     "\"urlPath\":\"documentUrl\"}}],"
     "\"edges\":[{\"from\":\"review\",\"to\":\"publish\",\"on\":\"approve\"},"
     "{\"from\":\"review\",\"to\":\"rework\",\"on\":\"reject\"}]}",
     1},
    {"auto-publish",
     "{\"definitionId\":\"auto-publish\",\"name\":\"Auto publish\",\"nodes\":["
     "{\"nodeId\":\"check\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\",\"url\":"
     "\"https://acme.dev\"}},"
     "{\"nodeId\":\"publish\",\"type\":\"agent\",\"config\":{\"agentId\":\"publisher\","
     "\"urlPath\":\"documentUrl\"}},"
     "{\"nodeId\":\"rework\",\"type\":\"webhook\",\"config\":{\"url\":"
     "\"https://hooks.acme.dev/rework\"}},"
     "{\"nodeId\":\"custom\",\"type\":\"notification\",\"config\":{\"channel\":\"slack\","
     "\"slackTarget\":\"C123\",\"bodyTemplate\":\"big\"}}],"
     "\"edges\":[{\"from\":\"check\",\"to\":\"publish\",\"on\":\"approve\"},"
     "{\"from\":\"check\",\"to\":\"rework\",\"on\":\"reject\"},"
     "{\"from\":\"check\",\"to\":\"custom\",\"on\":\"custom\",\"when\":"
     "\"{\\\"op\\\":\\\"gt\\\",\\\"args\\\":[{\\\"var\\\":\\\"execution.input.amount\\\"},"
     "1000]}\"}]}",
     1},
    {"all-mock",
     "{\"definitionId\":\"all-mock\",\"name\":\"Ends at dispatch\",\"nodes\":["
     "{\"nodeId\":\"a\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\",\"url\":"
     "\"https://acme.dev\"}},"
     "{\"nodeId\":\"b\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\",\"url\":"
     "\"https://acme.dev\"}},"
     "{\"nodeId\":\"c\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\",\"url\":"
     "\"https://acme.dev\"}}],"
     "\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"on\":\"always\"},"
     "{\"from\":\"b\",\"to\":\"c\",\"on\":\"custom\",\"when\":"
     "\"{\\\"op\\\":\\\"eq\\\",\\\"args\\\":[{\\\"var\\\":\\\"output.decision\\\"},"
     "\\\"approve\\\"]}\"}]}",
     1},
    {"workers",
     "{\"definitionId\":\"workers\",\"name\":\"Steps for workers\",\"nodes\":["
     "{\"nodeId\":\"agent\",\"type\":\"agent\",\"config\":{\"agentId\":\"summarizer\","
     "\"urlPath\":\"documentUrl\"}},"
     "{\"nodeId\":\"hook\",\"type\":\"webhook\",\"config\":{\"url\":"
     "\"https://hooks.acme.dev/x\",\"method\":\"POST\"}},"
     "{\"nodeId\":\"notify\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
     "\"recipients\":[\"a@acme.dev\"],\"bodyTemplate\":\"hi\"}},"
     "{\"nodeId\":\"after\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u1\"]}},"
     "{\"nodeId\":\"escalate\",\"type\":\"notification\",\"config\":{\"channel\":"
     "\"slack\",\"slackTarget\":\"#ops\",\"bodyTemplate\":\"rejected\"}}],"
     "\"edges\":[{\"from\":\"agent\",\"to\":\"after\",\"on\":\"always\"},"
     "{\"from\":\"after\",\"to\":\"escalate\",\"on\":\"reject\"}]}",
     1},
    {"marketing-copy-approval",
     "{\"definitionId\":\"marketing-copy-approval\",\"name\":\"Marketing copy approval\","
     "\"scope\":{\"level\":\"apiKey\"},\"nodes\":["
     "{\"nodeId\":\"agent-draft\",\"type\":\"agent\",\"config\":{\"agentId\":\"copy-agent-v1\","
     "\"urlPath\":\"documentUrl\"}},"
     "{\"nodeId\":\"human-review\",\"type\":\"human\",\"config\":{\"reviewers\":[{\"userId\":"
     "\"u_reviewer_01\",\"mandatory\":true}]}},"
     "{\"nodeId\":\"agent-publish\",\"type\":\"agent\",\"config\":{\"agentId\":"
     "\"publish-agent-v1\",\"urlPath\":\"documentUrl\"}},"
     "{\"nodeId\":\"agent-rework\",\"type\":\"agent\",\"config\":{\"agentId\":"
     "\"rework-agent-v1\",\"urlPath\":\"documentUrl\"}}],"
     "\"edges\":[{\"from\":\"agent-draft\",\"to\":\"human-review\"},"
     "{\"from\":\"human-review\",\"to\":\"agent-publish\",\"on\":\"approve\"},"
     "{\"from\":\"human-review\",\"to\":\"agent-rework\",\"on\":\"reject\"}]}",
     1},
    {"grouped",
     "{\"definitionId\":\"grouped\",\"name\":\"Parallel group\",\"nodes\":["
     "{\"nodeId\":\"a\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u1\"]}},"
     "{\"nodeId\":\"b\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u2\"]}},"
     "{\"nodeId\":\"n\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
     "\"recipients\":[\"x@acme.dev\"],\"bodyTemplate\":\"b\"}}],"
     "\"groups\":[{\"groupId\":\"g\",\"memberNodeIds\":[\"a\",\"b\"],\"expectedSteps\":2,"
     "\"quorum\":1}],"
     "\"edges\":[{\"from\":{\"kind\":\"group\",\"groupId\":\"g\"},\"to\":\"n\",\"on\":"
     "\"always\"},{\"from\":\"a\",\"to\":\"n\",\"on\":\"reject\"},"
     "{\"from\":\"b\",\"to\":\"n\",\"on\":\"reject\"}]}",
     0},
    {"looped",
     "{\"definitionId\":\"looped\",\"name\":\"Loop\",\"nodes\":["
     "{\"nodeId\":\"draft\",\"type\":\"agent\",\"config\":{\"agentId\":\"__mock__\",\"url\":"
     "\"https://acme.dev\"}},"
     "{\"nodeId\":\"review\",\"type\":\"human\",\"config\":{\"reviewerIds\":[\"u1\"]}},"
     "{\"nodeId\":\"n\",\"type\":\"notification\",\"config\":{\"channel\":\"email\","
     "\"recipients\":[\"x@acme.dev\"],\"bodyTemplate\":\"b\"}}],"
     "\"edges\":[{\"from\":\"draft\",\"to\":\"review\",\"on\":\"always\"},"
     "{\"from\":\"review\",\"to\":\"draft\",\"on\":\"reject\",\"loop\":{\"maxIterations\":3}},"
     "{\"from\":\"review\",\"to\":\"n\",\"on\":\"exhausted\"}]}",
     0},
};
const int fz_nDef = (int)(sizeof(fz_aDef) / sizeof(fz_aDef[0]));

/* ---- getEvents ----------------------------------------------------------------------- */

void fz_check_get_events(sqlite3 *db, const char *zExec, int nPageSize) {
    sqlite3_int64 nExternal = fz_int(db,
                                     "SELECT count(*) FROM _velt_events WHERE execution_id = ?1"
                                     " AND external",
                                     zExec, 0, 0);
    sqlite3_int64 nMax =
        fz_int(db, "SELECT max(seq) FROM _velt_events WHERE execution_id = ?1", zExec, 0, 0);
    sqlite3_int64 iSince = 0, nSeen = 0;
    char zPage[24];
    snprintf(zPage, sizeof zPage, "%d", nPageSize);
    for (int iPage = 0;; iPage++) {
        FZ_ASSERT(iPage <= nMax + 1, "getEvents of %s does not end after %d pages", zExec, iPage);
        char zSince[24];
        snprintf(zSince, sizeof zSince, "%lld", (long long)iSince);
        char *zReq = fz_text(db,
                             "SELECT json_object('executionId', ?1, 'sinceSeq', ?2 + 0,"
                             " 'pageSize', ?3 + 0)",
                             zExec, zSince, zPage);
        FzVal a[2] = {{FZ_TEXT, "executions/getEvents", 20, 0},
                      {FZ_TEXT, zReq, (int)strlen(zReq), 0}};
        FzRes r;
        fz_call(db, "velt", 2, a, &r);
        sqlite3_free(zReq);
        if (r.eStatus == FZ_SQLITE) {
            fz_res_free(&r);
            return;
        }
        FZ_ASSERT(r.eStatus == FZ_OK, "getEvents of %s failed: %s", zExec, r.zMsg);
        /* events: seq ascending, > sinceSeq, external, as stored */
        sqlite3_int64 nBad = fz_int(db,
                                    "SELECT count(*) FROM json_each(?1, '$.events') j"
                                    " WHERE j.value ->> '$.seq' <= ?2 + 0"
                                    "  OR NOT EXISTS (SELECT 1 FROM _velt_events e"
                                    "   WHERE e.execution_id = ?3 AND e.seq = j.value ->> '$.seq'"
                                    "   AND e.external AND e.type = j.value ->> '$.type'"
                                    "   AND e.event_id = j.value ->> '$.eventId')"
                                    "  OR (j.key > 0 AND j.value ->> '$.seq' <= (SELECT k.value"
                                    "   ->> '$.seq' FROM json_each(?1, '$.events') k"
                                    "   WHERE k.key = j.key - 1))",
                                    r.z, zSince, zExec);
        FZ_ASSERT(nBad == 0, "getEvents of %s since %lld returned %lld wrong events: %s", zExec,
                  (long long)iSince, (long long)nBad, r.z);
        sqlite3_int64 nEvents = fz_int(db, "SELECT json_array_length(?1, '$.events')", r.z, 0, 0);
        sqlite3_int64 iNext = fz_int(db, "SELECT ?1 ->> '$.nextCursor'", r.z, 0, 0);
        sqlite3_int64 bMore = fz_int(db, "SELECT ?1 ->> '$.hasMore'", r.z, 0, 0);
        FZ_ASSERT(nEvents <= nPageSize, "getEvents returned %lld events for pageSize %d",
                  (long long)nEvents, nPageSize);
        FZ_ASSERT(iNext >= iSince, "getEvents nextCursor %lld went back from %lld: %s",
                  (long long)iNext, (long long)iSince, r.z);
        char zNext[24];
        snprintf(zNext, sizeof zNext, "%lld", (long long)iNext);
        sqlite3_int64 bBeyond = fz_int(db,
                                       "SELECT EXISTS (SELECT 1 FROM _velt_events WHERE"
                                       " execution_id = ?1 AND external AND seq > ?2 + 0)",
                                       zExec, zNext, 0);
        FZ_ASSERT(bMore == bBeyond,
                  "getEvents hasMore is %lld but an external event beyond "
                  "nextCursor %lld %s: %s",
                  (long long)bMore, (long long)iNext, bBeyond ? "exists" : "does not exist", r.z);
        nSeen += nEvents;
        fz_res_free(&r);
        if (!bMore) break;
        FZ_ASSERT(iNext > iSince, "getEvents hasMore but nextCursor stays at %lld",
                  (long long)iNext);
        iSince = iNext;
    }
    FZ_ASSERT(nSeen == nExternal,
              "getEvents of %s returned %lld events, the storage has %lld "
              "external ones",
              zExec, (long long)nSeen, (long long)nExternal);
}
