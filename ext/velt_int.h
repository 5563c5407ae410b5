/*
** velt for SQLite: declarations shared by the files of ext/.
**
** Layout (one concern per file):
**   velt.c         entry point, registration table, small helper functions
**   conn.c         per-connection state: clock, statement cache, transactions
**   statements.h   every storage SQL statement, by name
**   error.c        statuses, error values, raising and error envelopes
**   text.c         UTF-8 checks, JSON writing, random ids
**   request.c      strict request decoding (JSON objects or positional args)
**   schema.c       storage schema creation and numbered migrations
**   state.c        the step state machine as data, guarded transitions, events
**   engine.c       scheduling, edges, roll-up, dispatch
**   when.c         JSON-AST `when` expressions: validation and evaluation
**   url.c          outbound URL checks (https, SSRF guard)
**   definitions.c  definitions/create and definitions/get
**   lint.c         the definition linter
**   executions.c   executions/get, cancel, getEvents
**   steps.c        steps/cancel (Cancel Step)
**   api.c          the endpoint table, velt(), velt_api(), velt_cancel_step()
**   vtab.c         the read-only virtual tables velt_steps, velt_events, ...
*/
#ifndef VELT_INT_H
#define VELT_INT_H

#include <cJSON.h>
#include <sqlite3ext.h>
#include <stddef.h>
#include <stdint.h>

#ifndef VELT_ENTRY
SQLITE_EXTENSION_INIT3
#endif

#ifndef SQLITE_RESULT_SUBTYPE
#define SQLITE_RESULT_SUBTYPE 0x001000000
#endif
#define VELT_JSON_SUBTYPE 74 /* 'J', the subtype SQLite's JSON functions use */

typedef sqlite3_int64 i64;

/* ------------------------------------------------------------ error.c */

typedef enum VeltStatus {
    VS_OK = 0,
    VS_INVALID_ARGUMENT,
    VS_NOT_FOUND,
    VS_FAILED_PRECONDITION,
    VS_ALREADY_EXISTS,
    VS_PERMISSION_DENIED,
    VS_SQLITE /* not an API error: an SQLite failure, code in rc */
} VeltStatus;

typedef struct VeltErr {
    VeltStatus status;
    int rc;         /* SQLite result code when status is VS_SQLITE */
    char *zMsg;     /* human-readable detail (sqlite3_malloc) */
    char *zDetails; /* JSON object text for error.details, NULL for {} */
} VeltErr;

const char *velt_status_name(VeltStatus);
int velt_err(VeltErr *, VeltStatus, const char *zFmt, ...);
int velt_err_sqlite(VeltErr *, sqlite3 *db, int rc);
int velt_err_nomem(VeltErr *);
void velt_err_clear(VeltErr *);
void velt_err_raise(sqlite3_context *, const VeltErr *);
void velt_err_envelope(sqlite3_str *, const VeltErr *);

/* ------------------------------------------------------------- text.c */

int velt_utf8_valid(const char *z, int n, int *pnChar);
static inline int velt_is_digit(int c) {
    return c >= '0' && c <= '9';
}
static inline int velt_is_alpha(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline int velt_hex_value(int c) {
    if (velt_is_digit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
void velt_json_str(sqlite3_str *, const char *z, int n);
void velt_json_key(sqlite3_str *, int bComma, const char *zKey);
void velt_json_opt_str(sqlite3_str *, const char *z);
void velt_random_alnum(char *z, int n);
int velt_str_finish(sqlite3_str *, char **pz, VeltErr *);
const char *velt_json_get_str(const cJSON *pObj, const char *zKey, const char *zDefault);
int velt_json_add(cJSON *pParent, const char *zKey, cJSON *pItem);

/* ------------------------------------------------------------- conn.c */

#include "statements.h"

typedef struct VeltConn {
    sqlite3 *db;
    int nRef;
    int bFixedClock;
    i64 iClock;
    int bAnchored; /* an eponymous vtab will finalize the cache at close */
    int nActive;   /* calls in progress on this connection */
    i64 iCallNow;  /* velt_now() while a call is in progress */
    sqlite3_stmt *aStmt[VELT_STMT_COUNT];
} VeltConn;

VeltConn *velt_conn_new(sqlite3 *);
void velt_conn_ref(VeltConn *);
void velt_conn_unref(void *);
void velt_conn_flush(VeltConn *);
i64 velt_now(VeltConn *);
sqlite3_stmt *velt_stmt(VeltConn *, int iStmt, VeltErr *);
int velt_exec_stmt(VeltConn *, sqlite3_stmt *, VeltErr *);
void velt_call_enter(VeltConn *);
void velt_call_leave(VeltConn *);

typedef struct VeltTxn {
    int eMode; /* VELT_TXN_* */
} VeltTxn;
#define VELT_TXN_NONE 0
#define VELT_TXN_READ 1      /* BEGIN ... COMMIT, a consistent snapshot */
#define VELT_TXN_WRITE 2     /* BEGIN IMMEDIATE ... COMMIT */
#define VELT_TXN_SAVEPOINT 3 /* SAVEPOINT ... RELEASE inside the caller's transaction */
int velt_txn_begin(VeltConn *, VeltTxn *, int bWrite, VeltErr *);
int velt_writer_running(sqlite3 *);
extern const char velt_writer_running_msg[];
int velt_txn_end(VeltConn *, VeltTxn *, int bOk, VeltErr *);

/* ----------------------------------------------------------- schema.c */

int velt_schema_latest(void);
/* Read paths: *pbPresent is 0 when the database has no velt storage yet.
** Write paths (bWrite): the storage is created or migrated inside the
** caller's savepoint. A schema newer than this build is refused. */
int velt_schema_ensure(VeltConn *, int bWrite, int *pbPresent, VeltErr *);

/* ---------------------------------------------------------- request.c */

typedef enum VType {
    VT_ABSENT = 0,
    VT_NULL,
    VT_STRING,
    VT_NUMBER,
    VT_BOOL,
    VT_OBJECT,
    VT_ARRAY,
    VT_BLOB
} VType;

/* One decoded request value. Strings point into the request (valid for the
** duration of the call); z is NUL-terminated. */
typedef struct VVal {
    VType t;
    const char *z;
    int n;          /* bytes */
    int nChar;      /* code points */
    double r;       /* VT_NUMBER, VT_BOOL */
    const cJSON *j; /* the JSON item, when the value came from JSON */
} VVal;

typedef struct VIssues VIssues;
typedef struct VField VField;
typedef struct VSchema VSchema;
/* Extra check for one value: report with velt_issue() and return nonzero. */
typedef int (*VCheck)(const VVal *, VIssues *);

typedef enum VKind {
    VK_STRING = 1,
    VK_INT,
    VK_NUMBER,
    VK_BOOL,
    VK_ENUM,   /* string, one of pSub (NULL-terminated const char *[]) */
    VK_OBJECT, /* strict object described by pSub (const VSchema *) */
    VK_MAP,    /* free-form object */
    VK_ARRAY,  /* elements described by pSub (const VField *), count in [min,max] */
    VK_ANY     /* any JSON value but null */
} VKind;

#define VF_REQUIRED 0x01
#define VF_NULLABLE 0x02 /* explicit null accepted */

struct VField {
    const char *zName;
    unsigned char eKind;
    unsigned char flags;
    i64 iMin, iMax; /* characters, integer value, or element count */
    const void *pSub;
    VCheck xCheck;
};
struct VSchema {
    const VField *aField;
    int nField;
};
#define VELT_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define VELT_SCHEMA(a)                                                                             \
    { a, VELT_COUNT(a) }

/* Validate a JSON item against one field (recursively). */
int velt_check_item(const VField *, const cJSON *, VIssues *);
/* Report a problem at the current path: zCode is a Zod-style issue code. */
int velt_issue(VIssues *, const char *zCode, const char *zFmt, ...);
/* Push/pop a path segment while validating nested content by hand. */
void velt_issue_push_key(VIssues *, const char *zKey);
void velt_issue_push_index(VIssues *, int i);
void velt_issue_pop(VIssues *);
int velt_issue_count(const VIssues *);
void velt_issue_nomem(VIssues *);

/* Decode a request object (JSON) or positional SQL arguments (NULL means
** omitted) into aOut[], one VVal per schema field, in schema order. */
int velt_decode_json(const VSchema *, const cJSON *pObj, VVal *aOut, VeltErr *);
int velt_decode_args(const VSchema *, int argc, sqlite3_value **argv, VVal *aOut, VeltErr *);
/* Parse request JSON text strictly (no duplicate keys, no NUL escapes). */
int velt_parse_json(const char *z, int n, cJSON **ppOut, VeltErr *);

/* ------------------------------------------------------------ state.c */

typedef enum VeltStep {
    ST_PENDING = 0,
    ST_RUNNING,
    ST_WAITING,
    ST_COMPLETED,
    ST_FAILED,
    ST_SKIPPED,
    ST_CANCELLED,
    ST_BREACHED,
    ST__COUNT
} VeltStep;

#define VELT_LIVE_MASK ((1u << ST_PENDING) | (1u << ST_RUNNING) | (1u << ST_WAITING))

typedef struct VeltStatusInfo {
    const char *zName;
    unsigned char bLive;
    unsigned char bFanOut; /* outgoing edges are evaluated on entering it */
} VeltStatusInfo;
extern const VeltStatusInfo velt_step_status[ST__COUNT];
int velt_step_status_find(const char *z); /* -1 if unknown */

typedef struct VeltTransition {
    const char *zAction;
    unsigned fromMask; /* statuses the step may be in */
    int eTo;
    const char *zEvent; /* event appended on success */
} VeltTransition;
const VeltTransition *velt_transition_find(const char *zAction);

int velt_event_append(VeltConn *, const char *zExec, const char *zType, const char *zStep,
                      const char *zData, VeltErr *);
int velt_event_append_full(VeltConn *, const char *zExec, const char *zType, const char *zStep,
                           const char *zData, const char *zActor, const char *zReason, VeltErr *);

/* The one write path for a step's status: a compare-and-set on the current
** status, then its event. On a lost CAS it reports NOT_FOUND or
** FAILED_PRECONDITION (execution first, then step, then state). */
typedef struct VeltMove {
    const char *zExec;
    const char *zStep;
    const VeltTransition *pT;
    const char *zOutput;    /* new output JSON or NULL to keep */
    const char *zError;     /* error JSON or NULL */
    const char *zEventData; /* event data JSON (without actorId/reason) or NULL */
    const char *zActor;     /* the event's actorId, or NULL */
    const char *zReason;    /* the event's reason, or NULL */
} VeltMove;
int velt_step_move(VeltConn *, const VeltMove *, VeltErr *);

/* ----------------------------------------------------------- engine.c */

int velt_engine_rollup(VeltConn *, const char *zExec, VeltErr *);
int velt_engine_start(VeltConn *, const char *zExec, char **azRoot, const char **azNode, int nRoot,
                      VeltErr *);
int velt_engine_cancel_execution(VeltConn *, const char *zExec, const char *zReason, int *pbDone,
                                 VeltErr *);

/* ------------------------------------------------------------- when.c */

int velt_when_check(const cJSON *pAst, VIssues *);
/* Evaluate against a context object; *pbTrue is set. */
int velt_when_eval(const cJSON *pAst, const cJSON *pCtx, int *pbTrue);
cJSON *velt_when_for_role(const char *zRole); /* approve/reject ASTs, NULL otherwise */

/* ------------------------------------------------ endpoints (api.c) */

typedef int (*VeltHandler)(VeltConn *, const VVal *aReq, sqlite3_str *pOut, VeltErr *);

typedef struct VeltEndpoint {
    const char *zPath;
    const VSchema *pSchema;
    VeltHandler xHandler;
    int bWrite;
} VeltEndpoint;

extern const VSchema velt_schema_definitions_create;
extern const VSchema velt_schema_definitions_get;
extern const VSchema velt_schema_executions_dispatch;
extern const VSchema velt_schema_executions_get;
extern const VSchema velt_schema_executions_cancel;
extern const VSchema velt_schema_executions_get_events;
extern const VSchema velt_schema_steps_cancel;

int velt_definitions_create(VeltConn *, const VVal *, sqlite3_str *, VeltErr *);
int velt_definitions_get(VeltConn *, const VVal *, sqlite3_str *, VeltErr *);
int velt_definition_lint(const cJSON *pData, VeltErr *);
int velt_definition_compile(const cJSON *pData, cJSON **ppCompiled, VeltErr *);
int velt_executions_dispatch(VeltConn *, const VVal *, sqlite3_str *, VeltErr *);
int velt_executions_get(VeltConn *, const VVal *, sqlite3_str *, VeltErr *);
int velt_executions_cancel(VeltConn *, const VVal *, sqlite3_str *, VeltErr *);
int velt_executions_get_events(VeltConn *, const VVal *, sqlite3_str *, VeltErr *);
int velt_steps_cancel(VeltConn *, const VVal *, sqlite3_str *, VeltErr *);

const VeltEndpoint *velt_endpoint_find(const char *zPath);
int velt_api_register(sqlite3 *, VeltConn *);

/* -------------------------------------------------------------- url.c */

const char *velt_url_problem(const char *zUrl);
int velt_check_https_url(const VVal *, VIssues *);

/* ------------------------------------------------------------- vtab.c */

int velt_vtab_register(sqlite3 *, VeltConn *);
int velt_conn_anchor(VeltConn *);

#endif
