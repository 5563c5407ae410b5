/*
** The read-only virtual tables: velt_steps, velt_events, velt_executions and
** velt_definitions.
**
** They are eponymous: they exist as soon as the extension is loaded, with no
** CREATE VIRTUAL TABLE, and read the velt storage of the "main" database
** (the _velt_* tables of sql/migrations/) through ordinary SQL:
**
**   SELECT step_id, status FROM velt_steps WHERE execution_id = 'exec_...';
**   SELECT seq, type, actor_id, reason FROM velt_events
**    WHERE execution_id = 'exec_...' AND seq > 10 ORDER BY seq;
**   SELECT execution_id, status FROM velt_executions WHERE correlation_id = ?;
**   SELECT definition -> '$.nodes' FROM velt_definitions
**    WHERE definition_id = 'po-approval';
**   SELECT velt_cancel_step(execution_id, step_id, 'Reviewer unavailable', 'admin')
**     FROM velt_steps WHERE status = 'waiting';
**
** Columns (SPEC 5.3):
**   velt_steps       execution_id, step_id, node_id, node_type, status,
**                    group_id, input, output, error, scheduled_at, started_at,
**                    completed_at, retry_count, is_terminal
**   velt_events      execution_id, seq, event_id, type, step_id, timestamp,
**                    correlation_id, data, actor_id, reason, external
**   velt_executions  execution_id, definition_id, definition_version, status,
**                    correlation_id, idempotency_key, trigger_context,
**                    started_at, completed_at, cancelled_at, failure_reason
**   velt_definitions definition_id, name, version, status, definition,
**                    created_at, updated_at
** Times are epoch milliseconds. JSON columns (input, output, error, data,
** trigger_context, failure_reason, definition) carry SQLite's JSON subtype,
** so json_object('x', output) nests them as JSON, not as strings (a stored
** value that is not valid JSON comes back as plain text). is_terminal is 1
** for completed, failed, skipped, cancelled and breached. In velt_events,
** data has actorId and reason put back (statements.h), and external is 1
** for the types getEvents and webhooks deliver.
**
** Lookups are index seeks: equality on the ids, status, type, node_type,
** correlation_id and idempotency_key, and ranges on seq, the times and
** version, are handed to the storage query, and so is any ORDER BY on the
** table's columns. EXPLAIN QUERY PLAN shows what was handed over:
**   SELECT seq FROM velt_events WHERE execution_id = ? AND seq > ? ORDER BY seq
** is "SCAN velt_events VIRTUAL TABLE INDEX 3:execution_id= seq> ORDER BY seq"
** (3 is the set of columns computed, 0b11: the first two).
**
** Limits:
**   - Read-only. INSERT, UPDATE and DELETE fail with SQLITE_READONLY and a
**     message naming the function to use instead (velt_cancel_step(),
**     velt('executions/cancel'), ...).
**   - A database without velt storage yet reads as empty tables.
**   - They read "main" only; there is no aux.velt_steps for attached files.
**   - A user table named like one of them (say, a real table velt_steps)
**     hides it, as it hides any eponymous virtual table.
**   - A statement that reads them while it changes the same rows (the
**     velt_cancel_step() example above) visits each row once; see "Rows that
**     change while they are read" below.
**
** The tables also anchor the connection's statement cache (conn.c):
** velt_conn_anchor() makes sure one of them is connected, and its
** xDisconnect, which SQLite runs at the start of sqlite3_close(), finalizes
** the cache so that the close succeeds.
*/
#include "velt_int.h"

#include <stdarg.h>
#include <string.h>

/* -------------------------------------------------------- descriptors */

/* What xBestIndex may hand to the storage query, per column. */
#define VC_EQ 0x01       /* "col = ?" */
#define VC_RANGE 0x02    /* "col = ?", ">", ">=", "<", "<=" */
#define VC_KEY 0x04      /* the table's leading id: equality finds ~10 rows */
#define VC_SUBKEY 0x08   /* with equality on the VC_KEY column too, one row */
#define VC_UNIQUE 0x10   /* equality alone finds at most one row */
#define VC_MODERATE 0x20 /* equality is selective: an index, or few values */
#define VC_MOVES 0x40    /* indexed and changes after insert: ORDER BY sorts */
#define VC_ID 0x80       /* part of the row's identity: always computed */

typedef struct VtCol {
    const char *zName;
    const char *zType; /* declared type: the affinity of outer comparisons */
    const char *zExpr; /* its value, over the table's FROM clause */
    unsigned flags;    /* VC_* */
} VtCol;

typedef struct VtTable {
    const char *zName;
    const char *zFrom;            /* FROM clause of the storage query */
    const char *zRowid;           /* a unique, stable integer per row */
    const char *const *azStorage; /* storage tables it reads, 0-terminated */
    const char *zReadOnly;        /* what to use instead of writing */
    double rScan;                 /* rows of a full scan: a guess, for join order */
    const VtCol *aCol;
    int nCol;
} VtTable;

/* Stored JSON, returned with the JSON subtype; a value that is not JSON
** (written by hand with plain SQL) is returned as it is, not as an error. */
#define VT_JSON(x) "CASE WHEN json_valid(" x ") THEN json(" x ") ELSE " x " END"

static const VtCol vtStepCols[] = {
    {"execution_id", "TEXT", "s.execution_id", VC_ID | VC_EQ | VC_KEY},
    {"step_id", "TEXT", "s.step_id", VC_ID | VC_EQ | VC_SUBKEY | VC_MODERATE},
    {"node_id", "TEXT", "s.node_id", 0},
    {"node_type", "TEXT", "s.node_type", VC_EQ},
    {"status", "TEXT", "s.status", VC_EQ | VC_MODERATE | VC_MOVES},
    {"group_id", "TEXT", "s.group_id", 0},
    {"input", "TEXT", VT_JSON("s.input"), 0},
    {"output", "TEXT", VT_JSON("s.output"), 0},
    {"error", "TEXT", VT_JSON("s.error"), 0},
    {"scheduled_at", "INTEGER", "s.scheduled_at", VC_RANGE},
    {"started_at", "INTEGER", "s.started_at", VC_RANGE},
    {"completed_at", "INTEGER", "s.completed_at", VC_RANGE},
    {"retry_count", "INTEGER", "s.retry_count", 0},
    {"is_terminal", "INTEGER", "s.status NOT IN " VELT_LIVE, 0},
};

static const VtCol vtEventCols[] = {
    {"execution_id", "TEXT", "e.execution_id", VC_ID | VC_EQ | VC_KEY},
    {"seq", "INTEGER", "e.seq", VC_ID | VC_RANGE | VC_SUBKEY},
    {"event_id", "TEXT", "e.event_id", VC_EQ | VC_UNIQUE},
    {"type", "TEXT", "e.type", VC_EQ | VC_MODERATE},
    {"step_id", "TEXT", "e.step_id", VC_EQ},
    {"timestamp", "INTEGER", "e.timestamp", VC_RANGE},
    {"correlation_id", "TEXT", "x.correlation_id", VC_EQ},
    {"data", "TEXT", VELT_EVENT_DATA("e"), 0},
    {"actor_id", "TEXT", "e.actor_id", 0},
    {"reason", "TEXT", "e.reason", 0},
    {"external", "INTEGER", "e.external", 0},
};

static const VtCol vtExecutionCols[] = {
    {"execution_id", "TEXT", "x.execution_id", VC_ID | VC_EQ | VC_KEY | VC_UNIQUE},
    {"definition_id", "TEXT", "x.definition_id", VC_EQ | VC_MODERATE},
    {"definition_version", "INTEGER", "x.definition_version", 0},
    {"status", "TEXT", "x.status", VC_EQ | VC_MODERATE | VC_MOVES},
    {"correlation_id", "TEXT", "x.correlation_id", VC_EQ},
    {"idempotency_key", "TEXT", "x.idempotency_key", VC_EQ | VC_UNIQUE},
    {"trigger_context", "TEXT", VT_JSON("x.trigger_context"), 0},
    {"started_at", "INTEGER", "x.started_at", VC_RANGE},
    {"completed_at", "INTEGER", "x.completed_at", VC_RANGE},
    {"cancelled_at", "INTEGER", "x.cancelled_at", VC_RANGE},
    {"failure_reason", "TEXT", VT_JSON("x.failure_reason"), 0},
};

static const VtCol vtDefinitionCols[] = {
    {"definition_id", "TEXT", "d.definition_id", VC_ID | VC_EQ | VC_KEY | VC_UNIQUE},
    {"name", "TEXT", "v.name", 0},
    {"version", "INTEGER", "d.version", VC_RANGE},
    {"status", "TEXT", "d.status", VC_EQ | VC_MODERATE},
    {"definition", "TEXT", VELT_DEFINITION_VIEW("d", "v"), 0},
    {"created_at", "INTEGER", "d.created_at", VC_RANGE},
    {"updated_at", "INTEGER", "d.updated_at", VC_RANGE},
};

static const char *const vtStepStorage[] = {"_velt_steps", 0};
static const char *const vtEventStorage[] = {"_velt_events", "_velt_executions", 0};
static const char *const vtExecutionStorage[] = {"_velt_executions", 0};
static const char *const vtDefinitionStorage[] = {"_velt_definitions", "_velt_definition_versions",
                                                  0};

static const VtTable vtTables[] = {
    {"velt_steps", "main._velt_steps s", "s.rowid", vtStepStorage,
     "change steps with velt_cancel_step() or velt('steps/cancel')", 1e6, vtStepCols,
     VELT_COUNT(vtStepCols)},
    /* _velt_events is WITHOUT ROWID: the rowid is the execution's rowid and
    ** the seq, unique as long as an execution has fewer than 2^32 events. */
    {"velt_events",
     "main._velt_events e LEFT JOIN main._velt_executions x ON x.execution_id = e.execution_id",
     "(coalesce(x.rowid, 0) << 32) + e.seq", vtEventStorage,
     "events are appended by the engine (velt(), velt_cancel_step()) and never changed", 1e7,
     vtEventCols, VELT_COUNT(vtEventCols)},
    {"velt_executions", "main._velt_executions x", "x.rowid", vtExecutionStorage,
     "use velt('executions/dispatch') or velt('executions/cancel')", 1e5, vtExecutionCols,
     VELT_COUNT(vtExecutionCols)},
    {"velt_definitions",
     "main._velt_definitions d JOIN main._velt_definition_versions v"
     " ON v.version_id = d.version_id",
     "d.rowid", vtDefinitionStorage, "use velt('definitions/create')", 1e3, vtDefinitionCols,
     VELT_COUNT(vtDefinitionCols)},
};

/* The comparison operators xBestIndex hands over, as written in idxStr and
** in the storage query. */
static const struct {
    unsigned char op; /* SQLITE_INDEX_CONSTRAINT_* */
    const char *z;
} vtOps[] = {
    {SQLITE_INDEX_CONSTRAINT_EQ, "="},  {SQLITE_INDEX_CONSTRAINT_GT, ">"},
    {SQLITE_INDEX_CONSTRAINT_GE, ">="}, {SQLITE_INDEX_CONSTRAINT_LT, "<"},
    {SQLITE_INDEX_CONSTRAINT_LE, "<="},
};

/* ------------------------------------------------------------ objects */

/* Prepared storage queries, kept per table object and keyed by plan. */
#define VT_CACHE 8

typedef struct VtSlot {
    sqlite3_stmt *pStmt; /* 0 when the slot is empty */
    int idxNum;
    char *zPlan; /* idxStr, "" for none */
    int bBusy;   /* a cursor is stepping pStmt */
    unsigned iUsed;
} VtSlot;

typedef struct VtTab {
    sqlite3_vtab base;
    sqlite3 *db;
    VeltConn *pConn;
    const VtTable *pT;
    int bAnchor; /* this object anchors pConn's statement cache */
    unsigned iTick;
    VtSlot aSlot[VT_CACHE];
} VtTab;

typedef struct VtCursor {
    sqlite3_vtab_cursor base;
    sqlite3_stmt *pStmt; /* the storage query, or 0 */
    VtSlot *pSlot;       /* the cache slot of pStmt; 0 if pStmt is private */
    int bEof;
} VtCursor;

static void vtSetError(sqlite3_vtab *pVtab, const char *zFmt, ...) {
    va_list ap;
    va_start(ap, zFmt);
    sqlite3_free(pVtab->zErrMsg);
    pVtab->zErrMsg = sqlite3_vmprintf(zFmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------- connect/disconnect */

static int vtConnect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr) {
    (void)argc;
    VeltConn *p = pAux;
    const VtTable *pT = 0;
    for (int i = 0; i < VELT_COUNT(vtTables); i++) {
        if (strcmp(argv[0], vtTables[i].zName) == 0) pT = &vtTables[i];
    }
    if (pT == 0) {
        *pzErr = sqlite3_mprintf("velt: no virtual table %s", argv[0]);
        return SQLITE_ERROR;
    }
    sqlite3_str *pDecl = sqlite3_str_new(db);
    sqlite3_str_appendall(pDecl, "CREATE TABLE x(");
    for (int i = 0; i < pT->nCol; i++) {
        sqlite3_str_appendf(pDecl, "%s%s %s", i ? ", " : "", pT->aCol[i].zName, pT->aCol[i].zType);
    }
    sqlite3_str_appendall(pDecl, ")");
    char *zDecl = sqlite3_str_finish(pDecl);
    if (zDecl == 0) return SQLITE_NOMEM;
    int rc = sqlite3_declare_vtab(db, zDecl);
    sqlite3_free(zDecl);
    if (rc != SQLITE_OK) {
        *pzErr = sqlite3_mprintf("%s: %s", pT->zName, sqlite3_errmsg(db));
        return rc;
    }
    /* They only read this database's own storage, with no side effect, so
    ** they are safe even in the views and triggers of an untrusted schema. */
    sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
    VtTab *pTab = sqlite3_malloc64(sizeof(*pTab));
    if (pTab == 0) return SQLITE_NOMEM;
    memset(pTab, 0, sizeof(*pTab));
    pTab->db = db;
    pTab->pConn = p;
    pTab->pT = pT;
    velt_conn_ref(p);
    if (!p->bAnchored) {
        p->bAnchored = 1;
        pTab->bAnchor = 1;
    }
    *ppVtab = &pTab->base;
    return SQLITE_OK;
}

static int vtDisconnect(sqlite3_vtab *pVtab) {
    VtTab *pTab = (VtTab *)pVtab;
    VeltConn *p = pTab->pConn;
    for (int i = 0; i < VT_CACHE; i++) {
        sqlite3_finalize(pTab->aSlot[i].pStmt);
        sqlite3_free(pTab->aSlot[i].zPlan);
    }
    if (pTab->bAnchor) {
        /* A call in progress may be stepping a cached statement: it is
        ** finalized when that call returns (velt_call_leave). */
        p->bAnchored = 0;
        if (p->nActive == 0) velt_conn_flush(p);
    }
    sqlite3_free(pTab->base.zErrMsg);
    sqlite3_free(pTab);
    velt_conn_unref(p);
    return SQLITE_OK;
}

/* Connect one of our tables, unless one already is: SQLite keeps an
** eponymous table connected until the connection closes. A user table of
** the same name hides ours (it is found first and our xConnect never runs),
** so each name is tried in turn, and bAnchored, which only our xConnect
** sets, says whether one of them worked. */
int velt_conn_anchor(VeltConn *p) {
    for (int i = 0; !p->bAnchored && i < VELT_COUNT(vtTables); i++) {
        char *zSql = sqlite3_mprintf("SELECT 1 FROM %s WHERE 0", vtTables[i].zName);
        if (zSql == 0) return SQLITE_NOMEM;
        sqlite3_stmt *pStmt = 0;
        sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
        sqlite3_finalize(pStmt);
        sqlite3_free(zSql);
    }
    return p->bAnchored ? SQLITE_OK : SQLITE_ERROR;
}

/* ----------------------------------------------------------- planning */

/*
** xBestIndex hands to the storage query every usable constraint that the
** descriptor allows (VC_EQ, VC_RANGE) and that compares with the BINARY
** collation, the storage query's own. Each one gets omit=1: the storage
** query applies it exactly as SQLite would, since the declared types of the
** virtual columns are those of the storage columns behind them. A
** constraint that is not handed over is checked by SQLite on our rows.
**
**   idxNum   the columns the scan must compute, bit i for column i: those
**            in colUsed and the VC_ID ones. The others come back NULL, so
**            that, say, count(*) does not build every event's data object.
**
**   idxStr   the plan, human-readable and the key of the statement cache:
**              term* ["ORDER BY " key (", " key)*]
**              term = column op " "    op = "=" | ">" | ">=" | "<" | "<="
**              key  = column [" DESC"]
**            e.g. "execution_id= seq> ORDER BY seq" (no trailing space).
**            NULL when nothing is handed over (a full scan).
**
**   argv     xFilter receives one value per term, in the order of the terms
**            in idxStr, and binds them as ?1, ?2, ... of the storage query.
**
** ORDER BY is consumed whole (orderByConsumed=1) when every term is a column
** of the table, and appended to the storage query; SQLite only offers terms
** in the BINARY (or declared) collation and the default NULLS order. IN on
** a handed-over column works by SQLite calling xFilter once per value (SQLite
** then stops relying on orderByConsumed by itself).
**
** Cost tiers (estimatedCost and estimatedRows):
**   unique     equality on a VC_UNIQUE column (execution_id of executions,
**              event_id, idempotency_key, definition_id), or on the leading
**              id and its sub key (execution_id and step_id of steps,
**              execution_id and seq of events): 1 row, cost 1, and
**              SQLITE_INDEX_SCAN_UNIQUE.
**   key        equality on the leading id (execution_id of steps and
**              events): 10.
**   moderate   equality on status, type, step_id or definition_id: 1000.
**   scan       anything else: the table's rScan, a guess of its relative
**              size (definitions 1e3, executions 1e5, steps 1e6, events
**              1e7) so that joins start from the smaller table.
** Every other term handed over makes the plan cheaper, so that the plan
** that hands over more wins: an equality divides the rows by 10 and the
** cost by 2, a range both by 2 (down to 1 row and a cost of 2).
*/
static int vtBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo) {
    VtTab *pTab = (VtTab *)pVtab;
    const VtTable *pT = pTab->pT;
    sqlite3_str *pPlan = sqlite3_str_new(pTab->db);
    unsigned eqFlags = 0; /* VC_* of the columns handed over with "=" */
    int nArg = 0, nEq = 0, nKeyEq = 0, nModerateEq = 0;

    for (int i = 0; i < pInfo->nConstraint; i++) {
        const struct sqlite3_index_constraint *pC = &pInfo->aConstraint[i];
        if (!pC->usable || pC->iColumn < 0 || pC->iColumn >= pT->nCol) continue;
        const VtCol *pCol = &pT->aCol[pC->iColumn];
        const char *zOp = 0;
        for (int j = 0; j < VELT_COUNT(vtOps); j++) {
            if (vtOps[j].op == pC->op) zOp = vtOps[j].z;
        }
        if (zOp == 0) continue;
        if (pC->op == SQLITE_INDEX_CONSTRAINT_EQ ? !(pCol->flags & (VC_EQ | VC_RANGE))
                                                 : !(pCol->flags & VC_RANGE)) {
            continue;
        }
        const char *zColl = sqlite3_vtab_collation(pInfo, i);
        if (zColl && sqlite3_stricmp(zColl, "BINARY") != 0) continue;
        pInfo->aConstraintUsage[i].argvIndex = ++nArg;
        pInfo->aConstraintUsage[i].omit = 1;
        sqlite3_str_appendf(pPlan, "%s%s%s", nArg > 1 ? " " : "", pCol->zName, zOp);
        if (pC->op == SQLITE_INDEX_CONSTRAINT_EQ) {
            nEq++;
            eqFlags |= pCol->flags;
            if (pCol->flags & VC_KEY) nKeyEq++;
            if (pCol->flags & VC_MODERATE) nModerateEq++;
        }
    }

    int bOrder = pInfo->nOrderBy > 0;
    for (int i = 0; i < pInfo->nOrderBy; i++) {
        int iCol = pInfo->aOrderBy[i].iColumn;
        if (iCol < 0 || iCol >= pT->nCol) bOrder = 0;
    }
    if (bOrder) {
        sqlite3_str_appendall(pPlan, nArg ? " ORDER BY " : "ORDER BY ");
        for (int i = 0; i < pInfo->nOrderBy; i++) {
            sqlite3_str_appendf(pPlan, "%s%s%s", i ? ", " : "",
                                pT->aCol[pInfo->aOrderBy[i].iColumn].zName,
                                pInfo->aOrderBy[i].desc ? " DESC" : "");
        }
        pInfo->orderByConsumed = 1;
    }

    double rRows, rCost;
    int nTierEq; /* the equality terms that set the tier; the rest filter */
    if ((eqFlags & VC_UNIQUE) || ((eqFlags & VC_KEY) && (eqFlags & VC_SUBKEY))) {
        rRows = rCost = 1;
        nTierEq = nEq;
        pInfo->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;
    } else if (nKeyEq) {
        rRows = rCost = 10;
        nTierEq = nKeyEq;
    } else if (nModerateEq) {
        rRows = rCost = 1000 < pT->rScan ? 1000 : pT->rScan;
        nTierEq = 1;
    } else {
        rRows = rCost = pT->rScan;
        nTierEq = 0;
    }
    if (rRows > 1) {
        for (int i = nTierEq; i < nEq; i++) {
            rRows /= 10;
            rCost /= 2;
        }
        for (int i = nEq; i < nArg; i++) {
            rRows /= 2;
            rCost /= 2;
        }
        if (rRows < 1) rRows = 1;
        if (rCost < 2) rCost = 2;
    }
    pInfo->estimatedCost = rCost;
    pInfo->estimatedRows = (sqlite3_int64)rRows;

    sqlite3_uint64 mUsed = pInfo->colUsed;
    for (int i = 0; i < pT->nCol; i++) {
        if (pT->aCol[i].flags & VC_ID) mUsed |= (sqlite3_uint64)1 << i;
    }
    pInfo->idxNum = (int)(mUsed & (((sqlite3_uint64)1 << pT->nCol) - 1));

    int rc = sqlite3_str_errcode(pPlan);
    char *zPlan = sqlite3_str_finish(pPlan);
    if (rc != SQLITE_OK) {
        sqlite3_free(zPlan);
        return rc;
    }
    if (zPlan) {
        pInfo->idxStr = zPlan;
        pInfo->needToFreeIdxStr = 1;
    }
    return SQLITE_OK;
}

/* ------------------------------------------------------------ scanning */

static int vtFindCol(const VtTable *pT, const char *z, int n) {
    for (int i = 0; i < pT->nCol; i++) {
        if ((int)strlen(pT->aCol[i].zName) == n && memcmp(pT->aCol[i].zName, z, n) == 0) return i;
    }
    return -1;
}

static int vtNameLen(const char *z) {
    int n = 0;
    while ((z[n] >= 'a' && z[n] <= 'z') || z[n] == '_')
        n++;
    return n;
}

/*
** The storage query for a plan (see vtBestIndex): its text comes only from
** the descriptor and the operator table; idxStr just selects the pieces.
** Returns 0 if the plan is not one vtBestIndex makes, or on OOM (*pbNoMem).
*/
static char *vtPlanSql(const VtTable *pT, int idxNum, const char *zPlan, int nArg, int *pbNoMem) {
    sqlite3_str *pSql = sqlite3_str_new(0);
    int iArg = 0, bBad = 0;
    const char *z = zPlan;

    sqlite3_str_appendf(pSql, "SELECT %s", pT->zRowid);
    for (int i = 0; i < pT->nCol; i++) {
        sqlite3_str_appendf(pSql, ", %s", (idxNum >> i) & 1 ? pT->aCol[i].zExpr : "NULL");
    }
    sqlite3_str_appendf(pSql, " FROM %s", pT->zFrom);

    while (!bBad && *z && strncmp(z, "ORDER BY ", 9) != 0) {
        int n = vtNameLen(z);
        int iCol = vtFindCol(pT, z, n);
        const char *zOp = 0;
        z += n;
        for (int j = 0; zOp == 0 && j < VELT_COUNT(vtOps); j++) {
            int nOp = (int)strlen(vtOps[j].z);
            if (strncmp(z, vtOps[j].z, nOp) == 0 && (z[nOp] == ' ' || z[nOp] == 0))
                zOp = vtOps[j].z;
        }
        if (iCol < 0 || zOp == 0) {
            bBad = 1;
            break;
        }
        sqlite3_str_appendf(pSql, " %s %s %s ?%d", iArg ? "AND" : "WHERE", pT->aCol[iCol].zExpr,
                            zOp, iArg + 1);
        iArg++;
        z += strlen(zOp);
        if (*z == ' ') z++;
    }
    if (!bBad && *z) {
        z += 9;
        sqlite3_str_appendall(pSql, " ORDER BY ");
        for (int bFirst = 1; !bBad; bFirst = 0) {
            int n = vtNameLen(z);
            int iCol = vtFindCol(pT, z, n);
            if (iCol < 0) {
                bBad = 1;
                break;
            }
            z += n;
            int bDesc = strncmp(z, " DESC", 5) == 0;
            if (bDesc) z += 5;
            /* "+" stops the storage query from walking an index in the order
            ** of a value that changes during the scan; see "Rows that change
            ** while they are read". */
            sqlite3_str_appendf(pSql, "%s%s%s%s", bFirst ? "" : ", ",
                                pT->aCol[iCol].flags & VC_MOVES ? "+" : "", pT->aCol[iCol].zExpr,
                                bDesc ? " DESC" : "");
            if (*z == 0) break;
            if (strncmp(z, ", ", 2) != 0) bBad = 1;
            z += 2;
        }
    }
    if (iArg != nArg) bBad = 1;

    *pbNoMem = sqlite3_str_errcode(pSql) != SQLITE_OK;
    char *zSql = sqlite3_str_finish(pSql);
    if (bBad || *pbNoMem) {
        sqlite3_free(zSql);
        return 0;
    }
    return zSql;
}

/* Whether every storage table the virtual table reads exists in main. */
static int vtStoragePresent(const VtTab *pTab) {
    for (const char *const *pz = pTab->pT->azStorage; *pz; pz++) {
        if (sqlite3_table_column_metadata(pTab->db, "main", *pz, 0, 0, 0, 0, 0, 0) != SQLITE_OK) {
            return 0;
        }
    }
    return 1;
}

/* A storage query failed to prepare or to step with rc. Without storage
** (none yet, or it went away with a rolled-back velt_init()) the table is
** empty and that is no error: returns SQLITE_OK. Otherwise the error is
** reported as the table's. */
static int vtFail(VtTab *pTab, int rc) {
    vtSetError(&pTab->base, "%s: %s", pTab->pT->zName, sqlite3_errmsg(pTab->db));
    if ((rc & 0xff) != SQLITE_NOMEM && !vtStoragePresent(pTab)) {
        sqlite3_free(pTab->base.zErrMsg);
        pTab->base.zErrMsg = 0;
        return SQLITE_OK;
    }
    return rc;
}

/* Give back the cursor's statement: reset into its cache slot, or finalized
** if it was private. */
static void vtRelease(VtCursor *pCur) {
    if (pCur->pSlot) {
        sqlite3_reset(pCur->pStmt);
        sqlite3_clear_bindings(pCur->pStmt);
        pCur->pSlot->bBusy = 0;
    } else {
        sqlite3_finalize(pCur->pStmt);
    }
    pCur->pStmt = 0;
    pCur->pSlot = 0;
}

/* Take the cached statement of a plan, or prepare it: into the cache (an
** empty slot, else the least recently used idle one), or privately for this
** cursor when the cached one is busy with another cursor of this table (a
** self-join) or every slot is busy. pCur->pStmt stays 0 when the storage
** does not exist yet. */
static int vtAcquire(VtCursor *pCur, int idxNum, const char *zPlan, int nArg) {
    VtTab *pTab = (VtTab *)pCur->base.pVtab;
    VtSlot *pSlot = 0;
    int bPrivate = 0;
    for (int i = 0; i < VT_CACHE; i++) {
        VtSlot *s = &pTab->aSlot[i];
        if (s->pStmt && s->idxNum == idxNum && strcmp(s->zPlan, zPlan) == 0) {
            if (s->bBusy) {
                bPrivate = 1;
                break;
            }
            s->bBusy = 1;
            s->iUsed = ++pTab->iTick;
            pCur->pSlot = s;
            pCur->pStmt = s->pStmt;
            return SQLITE_OK;
        }
        if (s->bBusy) continue;
        if (pSlot == 0 || (pSlot->pStmt && (s->pStmt == 0 || s->iUsed < pSlot->iUsed))) {
            pSlot = s;
        }
    }
    if (bPrivate) pSlot = 0;

    int bNoMem = 0;
    char *zSql = vtPlanSql(pTab->pT, idxNum, zPlan, nArg, &bNoMem);
    if (zSql == 0) {
        if (bNoMem) return SQLITE_NOMEM;
        vtSetError(&pTab->base, "%s: unknown plan \"%s\"", pTab->pT->zName, zPlan);
        return SQLITE_ERROR;
    }
    char *zKey = 0;
    if (pSlot) {
        zKey = sqlite3_mprintf("%s", zPlan);
        if (zKey == 0) {
            sqlite3_free(zSql);
            return SQLITE_NOMEM;
        }
    }
    /* NO_VTAB: a view or virtual table posing as storage cannot lead back
    ** into these tables. */
    sqlite3_stmt *pStmt = 0;
    unsigned prepFlags = SQLITE_PREPARE_NO_VTAB | (pSlot ? SQLITE_PREPARE_PERSISTENT : 0);
    int rc = sqlite3_prepare_v3(pTab->db, zSql, -1, prepFlags, &pStmt, 0);
    sqlite3_free(zSql);
    if (rc != SQLITE_OK) {
        sqlite3_free(zKey);
        sqlite3_finalize(pStmt);
        return vtFail(pTab, rc);
    }
    if (pSlot) {
        sqlite3_finalize(pSlot->pStmt);
        sqlite3_free(pSlot->zPlan);
        pSlot->pStmt = pStmt;
        pSlot->idxNum = idxNum;
        pSlot->zPlan = zKey;
        pSlot->bBusy = 1;
        pSlot->iUsed = ++pTab->iTick;
    }
    pCur->pSlot = pSlot;
    pCur->pStmt = pStmt;
    return SQLITE_OK;
}

static int vtStep(VtCursor *pCur) {
    VtTab *pTab = (VtTab *)pCur->base.pVtab;
    int rc = sqlite3_step(pCur->pStmt);
    if (rc == SQLITE_ROW) return SQLITE_OK;
    pCur->bEof = 1;
    if (rc != SQLITE_DONE) rc = vtFail(pTab, rc);
    sqlite3_reset(pCur->pStmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
** Rows that change while they are read.
**
** SELECT velt_cancel_step(execution_id, step_id, NULL, 'admin')
**   FROM velt_steps WHERE status = 'waiting'
** visits each waiting step exactly once, although every call moves the row
** it was given. The storage query is an ordinary scan on this connection,
** and SQLite saves the position of a b-tree cursor before a write on the
** same connection and restores it after: the scan goes on after the key it
** last returned (at the next key, if that entry is gone). So a row is seen
** twice only if a write gives it a key ahead of the cursor, in the b-tree
** the scan walks. The scans these plans produce walk one of:
**   - the table, or an index keyed by ids, seq or an execution's
**     started_at: keys fixed at insert (an UPDATE keeps the rowid, and
**     triggers forbid changing ids);
**   - the steps' status index, for "status = ?": a step a call moves out of
**     that status leaves the range the scan walks; should it ever come
**     back, it comes back with its old key (status, execution_id, rowid),
**     which the cursor has passed. Statuses only move forward, and a
**     terminal one never changes (I1);
**   - the executions' (definition_id, status) index, for "definition_id =
**     ?": the only status changes calls make end an execution, and the
**     terminal statuses (cancelled, completed, failed) sort before the live
**     ones (pending, running), so the row moves behind the cursor;
**   - a sorter, which reads all its input before the first row.
** Two rules keep every other walk out. The VC_ID columns are always
** computed, so an index that covers the storage query is keyed by ids,
** never by a status (the steps' (status, execution_id) index cannot cover
** it). ORDER BY a VC_MOVES column sorts "+status", which SQLite cannot read
** from an index: walking the status index in alphabetical order, a start
** (pending -> running) would move a row ahead of the cursor. Rows inserted
** during the scan (a dispatch) are seen once or not at all, as in any
** SQLite query that writes the table it reads.
*/
static int vtFilter(sqlite3_vtab_cursor *pCursor, int idxNum, const char *idxStr, int argc,
                    sqlite3_value **argv) {
    VtCursor *pCur = (VtCursor *)pCursor;
    vtRelease(pCur);
    pCur->bEof = 1;
    int rc = vtAcquire(pCur, idxNum, idxStr ? idxStr : "", argc);
    if (rc != SQLITE_OK || pCur->pStmt == 0) return rc;
    for (int i = 0; i < argc; i++) {
        rc = sqlite3_bind_value(pCur->pStmt, i + 1, argv[i]);
        if (rc != SQLITE_OK) return rc;
    }
    pCur->bEof = 0;
    return vtStep(pCur);
}

static int vtNext(sqlite3_vtab_cursor *pCursor) {
    return vtStep((VtCursor *)pCursor);
}

static int vtEof(sqlite3_vtab_cursor *pCursor) {
    return ((VtCursor *)pCursor)->bEof;
}

static int vtColumn(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx, int i) {
    VtCursor *pCur = (VtCursor *)pCursor;
    sqlite3_result_value(ctx, sqlite3_column_value(pCur->pStmt, i + 1));
    return SQLITE_OK;
}

static int vtRowid(sqlite3_vtab_cursor *pCursor, sqlite_int64 *pRowid) {
    *pRowid = sqlite3_column_int64(((VtCursor *)pCursor)->pStmt, 0);
    return SQLITE_OK;
}

static int vtOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
    (void)pVtab;
    VtCursor *pCur = sqlite3_malloc64(sizeof(*pCur));
    if (pCur == 0) return SQLITE_NOMEM;
    memset(pCur, 0, sizeof(*pCur));
    pCur->bEof = 1;
    *ppCursor = &pCur->base;
    return SQLITE_OK;
}

static int vtClose(sqlite3_vtab_cursor *pCursor) {
    vtRelease((VtCursor *)pCursor);
    sqlite3_free(pCursor);
    return SQLITE_OK;
}

/* ------------------------------------------------------------ writing */

/* Writes are refused in xBegin, which SQLite runs once at the start of any
** INSERT, UPDATE or DELETE on the table, so that even a statement that
** matches no row fails; xUpdate refuses too, should it ever be reached. */
static int vtReadOnly(sqlite3_vtab *pVtab) {
    const VtTable *pT = ((VtTab *)pVtab)->pT;
    vtSetError(pVtab, "%s is read-only: %s", pT->zName, pT->zReadOnly);
    return SQLITE_READONLY;
}

static int vtUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv, sqlite_int64 *pRowid) {
    (void)argc, (void)argv, (void)pRowid;
    return vtReadOnly(pVtab);
}

/* ------------------------------------------------------- registration */

/* xCreate is 0: eponymous only, no CREATE VIRTUAL TABLE. */
static const sqlite3_module vtModule = {
    .iVersion = 0,
    .xCreate = 0,
    .xConnect = vtConnect,
    .xBestIndex = vtBestIndex,
    .xDisconnect = vtDisconnect,
    .xDestroy = 0,
    .xOpen = vtOpen,
    .xClose = vtClose,
    .xFilter = vtFilter,
    .xNext = vtNext,
    .xEof = vtEof,
    .xColumn = vtColumn,
    .xRowid = vtRowid,
    .xUpdate = vtUpdate,
    .xBegin = vtReadOnly,
};

/* One module per table, all sharing vtModule: xConnect finds the
** descriptor by the module's name (argv[0]). Each holds a reference on the
** connection state, dropped by SQLite when the module goes (or at once if
** registering fails). */
int velt_vtab_register(sqlite3 *db, VeltConn *p) {
    int rc = SQLITE_OK;
    for (int i = 0; rc == SQLITE_OK && i < VELT_COUNT(vtTables); i++) {
        velt_conn_ref(p);
        rc = sqlite3_create_module_v2(db, vtTables[i].zName, &vtModule, p, velt_conn_unref);
    }
    return rc;
}
