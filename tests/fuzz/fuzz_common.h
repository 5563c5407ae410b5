/*
** Shared by the libFuzzer targets of tests/fuzz/: opening a database with
** velt linked in statically, bounding run time, calling velt's functions and
** classifying what they return, the storage invariants of SPEC section 3
** checked with plain SQL, and snapshots of the storage for I1/I2 and for
** "a failed call changes nothing".
**
** Every violation ends in fz_fail(), which prints what was violated and
** calls abort(), so libFuzzer saves the input under build/fuzz/artifacts/.
*/
#ifndef VELT_FUZZ_COMMON_H
#define VELT_FUZZ_COMMON_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "velt.h"
#include "velt_int.h" /* VeltEndpoint, VSchema, velt_endpoint_find(): the endpoint table */

/* The fixed clock of every target (velt_set_clock), as in the golden tests. */
#define FZ_CLOCK 1777374504255LL
/* VM instructions (in thousands) one velt call may run before it is
** interrupted: far above anything legitimate, far below libFuzzer's -timeout. */
#define FZ_BUDGET 20000
#define FZ_MAX_LENGTH 1000000 /* SQLITE_LIMIT_LENGTH */

__attribute__((noreturn, format(printf, 1, 2))) void fz_fail(const char *zFmt, ...);
#define FZ_ASSERT(c, ...)                                                                          \
    do {                                                                                           \
        if (!(c)) fz_fail(__VA_ARGS__);                                                            \
    } while (0)

/* VELT_FUZZ_TRACE=1 in the environment: print every velt call and its outcome. */
int fz_trace(void);

/* ---- endpoints ---------------------------------------------------------- */

typedef struct FzEndpoint {
    const char *zPath;
    const VeltEndpoint *pEp; /* its row of ext/api.c's table */
} FzEndpoint;
extern FzEndpoint fz_aEndpoint[];
extern int fz_nEndpoint;
/* Keep the paths of fuzz_endpoints.h this build serves, and check that the
** table and velt_api() agree on which paths exist. */
void fz_endpoints_init(sqlite3 *db);
const FzEndpoint *fz_endpoint(const char *zPath); /* NULL when not served */

/* ---- connections ---------------------------------------------------------- */

sqlite3 *fz_open(void);        /* :memory:, velt, limits, progress handler, fixed clock */
void fz_close(sqlite3 *db);    /* asserts SQLITE_OK */
void fz_reseed(unsigned seed); /* SQLite's PRNG: ids become reproducible */
void fz_budget_arm(void);      /* the next velt calls may run FZ_BUDGET */
void fz_budget_off(void);      /* harness SQL runs unbounded */
int fz_budget_hit(void);       /* the progress handler interrupted something */

void fz_exec(sqlite3 *db, const char *zSql); /* harness SQL: must succeed */
int fz_exec_rc(sqlite3 *db, const char *zSql);
/* First column of the first row with up to 3 text parameters (NULL = SQL NULL);
** returns sqlite3_malloc'd text or NULL. */
char *fz_text(sqlite3 *db, const char *zSql, const char *z1, const char *z2, const char *z3);
sqlite3_int64 fz_int(sqlite3 *db, const char *zSql, const char *z1, const char *z2, const char *z3);
/* Every row's first column (sqlite3_malloc'd array of sqlite3_malloc'd text). */
int fz_list(sqlite3 *db, const char *zSql, const char *z1, char ***pazOut);
void fz_list_free(char **az, int n);

/* ---- calls ---------------------------------------------------------------- */

enum { FZ_TEXT = 1, FZ_NULL, FZ_INT, FZ_BLOB };
typedef struct FzVal {
    int eType;
    const char *z;
    int n; /* bytes of z (text and blob) */
    sqlite3_int64 i;
} FzVal;

typedef enum FzStatus {
    FZ_OK = 0,
    FZ_INVALID_ARGUMENT,
    FZ_NOT_FOUND,
    FZ_FAILED_PRECONDITION,
    FZ_ALREADY_EXISTS,
    FZ_PERMISSION_DENIED,
    FZ_SQLITE, /* not an API error: out of memory, too big, interrupted */
    FZ__COUNT
} FzStatus;
const char *fz_status_name(FzStatus);

typedef struct FzRes {
    FzStatus eStatus;
    int rc, xrc;         /* of sqlite3_step */
    int nRow;            /* rows returned */
    char *z;             /* first row's value as text (sqlite3_malloc), NULL if none/NULL */
    int n;               /* bytes of z */
    char *zMsg;          /* error: the raised message (sqlite3_malloc) */
    const char *zDetail; /* error: the message after "STATUS: " (points into zMsg) */
} FzRes;

/* SELECT zFunc(a...) -- or any single-column statement -- with the call
** bounded by the budget. A raise must be "STATUS: detail" with the SQLite
** code the contract gives that status, or one of the SQLite-level failures
** the harness provokes (out of memory, too big, interrupted); anything else
** is fz_fail(). A success must be text holding a JSON object (bJsonResult). */
void fz_call(sqlite3 *db, const char *zFunc, int nArg, const FzVal *a, FzRes *r);
void fz_call_sql(sqlite3 *db, const char *zSql, int nArg, const FzVal *a, int bJsonResult,
                 FzRes *r);
void fz_res_free(FzRes *r);

/* A velt_api() response: exactly one of "result"/"error"; an error has a
** known status (never INTERNAL), a string message and an object of details.
** Returns the status; *pzResult points at the result object's text inside
** the response (length *pnResult), *pzMsg at a copy of error.message. */
FzStatus fz_envelope(sqlite3 *db, const char *z, int n, const char **pzResult, int *pnResult,
                     char **pzMsg);
int fz_json_object(sqlite3 *db, const char *z, int n); /* json_valid and an object */
int fz_json_valid(sqlite3 *db, const char *z, int n);
/* Two JSON texts hold the same value (objects compared by key, in linear
** time: cJSON_Compare() takes 2^depth on nested objects). */
int fz_json_equal(const char *zA, const char *zB);
/* Deepest nesting of objects and arrays in a JSON text. */
int fz_json_depth(const char *z, int n);
/* A request velt accepted (status s) must be JSON by RFC 8259, which
** SQLite's json_valid() checks: anything else is INVALID_ARGUMENT. */
void fz_check_strict_json(sqlite3 *db, const char *zWhat, const char *z, int n, FzStatus s);

/* JSON string literal of n bytes of z ("\u0000" for NUL), appended to s. */
void fz_json_str(sqlite3_str *s, const char *z, int n);
/* Strict UTF-8 (RFC 3629) without NUL; *pnChar code points. */
int fz_utf8_ok(const char *z, int n, int *pnChar);

/* ---- invariants ----------------------------------------------------------- */

/* I2 (seq side), I3, I4, I5, cancelled steps and their events, terminal
** executions and their events, and roll-up (no running execution without a
** live step): plain SQL on the storage tables. */
void fz_check_invariants(sqlite3 *db, const char *zWhen);

/* The state a later moment must respect: terminal steps (I1), each
** execution's events (I2: append-only), terminal executions, and a
** fingerprint of every _velt_* table. */
typedef struct FzSnap FzSnap;
FzSnap *fz_snap_take(sqlite3 *db);
void fz_snap_free(FzSnap *);
/* I1 and I2 against an earlier snapshot (a purge may remove a terminal
** execution with its steps and events, nothing else may go). */
void fz_snap_check(sqlite3 *db, const FzSnap *pOld, const char *zWhen);
uint64_t fz_snap_fingerprint(const FzSnap *);
uint64_t fz_fingerprint(sqlite3 *db);

/* ---- shared fixtures -------------------------------------------------------- */

/* Definitions the targets create (definitionId, JSON of the data object). */
typedef struct FzDef {
    const char *zId;
    const char *zJson;
    int bDispatchable;
} FzDef;
extern const FzDef fz_aDef[];
extern const int fz_nDef;

/* Page through executions/getEvents (pageSize n) from sinceSeq 0: external
** events only, seq ascending, nextCursor moving forward, hasMore right,
** every external event of the storage seen exactly once. */
void fz_check_get_events(sqlite3 *db, const char *zExec, int nPageSize);

#endif
