/*
** Per-connection state: the clock, the statement cache and transactions.
**
** Statements are prepared once per connection and kept here. A statement
** kept past sqlite3_close() would make the close fail with SQLITE_BUSY, so
** the cache lives only while an eponymous virtual table of this connection
** is connected ("anchored"): SQLite disconnects eponymous tables at the start
** of sqlite3_close(), before it looks for unfinalized statements, and our
** xDisconnect finalizes the cache (vtab.c). If anchoring is impossible (a
** user table shadows the name), statements are finalized after every call.
**
** Transactions follow SPEC section 4: inside the caller's transaction a call
** nests as SAVEPOINT velt; in autocommit mode a writing call takes the write
** lock first (BEGIN IMMEDIATE, so a busy timeout makes callers queue) and
** commits at its end; a reading call holds one snapshot (BEGIN ... COMMIT).
*/
#include "velt_int.h"

#include <string.h>

const char *const velt_statement_sql[VELT_STMT_COUNT] = {
#define VELT_STMT_SQL(name, sql) sql,
    VELT_STATEMENTS(VELT_STMT_SQL)
#undef VELT_STMT_SQL
};

VeltConn *velt_conn_new(sqlite3 *db) {
    VeltConn *p = sqlite3_malloc64(sizeof(*p));
    if (p == 0) return 0;
    memset(p, 0, sizeof(*p));
    p->db = db;
    p->nRef = 1;
    return p;
}

void velt_conn_ref(VeltConn *p) {
    p->nRef++;
}

void velt_conn_flush(VeltConn *p) {
    for (int i = 0; i < VELT_STMT_COUNT; i++) {
        sqlite3_finalize(p->aStmt[i]);
        p->aStmt[i] = 0;
    }
}

void velt_conn_unref(void *pArg) {
    VeltConn *p = pArg;
    if (p == 0 || --p->nRef > 0) return;
    velt_conn_flush(p);
    sqlite3_free(p);
}

/* Epoch milliseconds: the fixed clock, or the VFS's current time. */
static i64 read_clock(VeltConn *p) {
    if (p->bFixedClock) return p->iClock;
    sqlite3_vfs *pVfs = 0;
    if (sqlite3_file_control(p->db, "main", SQLITE_FCNTL_VFS_POINTER, &pVfs) != SQLITE_OK ||
        pVfs == 0) {
        pVfs = sqlite3_vfs_find(0);
    }
    i64 jd = 0;
    if (pVfs->iVersion >= 2 && pVfs->xCurrentTimeInt64) {
        pVfs->xCurrentTimeInt64(pVfs, &jd);
    } else {
        double r = 0;
        pVfs->xCurrentTime(pVfs, &r);
        jd = (i64)(r * 86400000.0);
    }
    return jd - 210866760000000LL; /* Julian day ms of 1970-01-01 */
}

/* During a call, the time the call started: every row and event a call
** writes carries the same time, and the clock is read once per call. */
i64 velt_now(VeltConn *p) {
    return p->nActive > 0 ? p->iCallNow : read_clock(p);
}

sqlite3_stmt *velt_stmt(VeltConn *p, int i, VeltErr *e) {
    if (p->aStmt[i] == 0) {
        int rc = sqlite3_prepare_v3(p->db, velt_statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                    &p->aStmt[i], 0);
        if (rc != SQLITE_OK) {
            velt_err_sqlite(e, p->db, rc);
            sqlite3_finalize(p->aStmt[i]);
            p->aStmt[i] = 0;
            return 0;
        }
    }
    return p->aStmt[i];
}

/* Step a statement that returns no row (or whose rows are not wanted), then
** reset it. */
int velt_exec_stmt(VeltConn *p, sqlite3_stmt *pStmt, VeltErr *e) {
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
        sqlite3_reset(pStmt);
        return 0;
    }
    velt_err_sqlite(e, p->db, rc);
    sqlite3_reset(pStmt);
    return e->status;
}

static int run(VeltConn *p, int iStmt, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, iStmt, e);
    if (pStmt == 0) return e->status;
    return velt_exec_stmt(p, pStmt, e);
}

void velt_call_enter(VeltConn *p) {
    if (p->nActive++ > 0) return;
    p->iCallNow = read_clock(p);
    if (!p->bAnchored) velt_conn_anchor(p);
}

void velt_call_leave(VeltConn *p) {
    if (--p->nActive == 0 && !p->bAnchored) velt_conn_flush(p);
}

/* Is a statement that writes running on this connection? SQLite can then
** neither open a savepoint nor commit, so a call could not be made atomic.
** This also stops side effects from schema objects that run inside writes
** (CHECK, DEFAULT, stored generated columns): SQLite before 3.50 does not
** apply SQLITE_DIRECTONLY to non-deterministic functions in CHECK. */
int velt_writer_running(sqlite3 *db) {
    for (sqlite3_stmt *s = sqlite3_next_stmt(db, 0); s; s = sqlite3_next_stmt(db, s)) {
        if (sqlite3_stmt_busy(s) && !sqlite3_stmt_readonly(s)) return 1;
    }
    return 0;
}

const char velt_writer_running_msg[] =
    "%s cannot run inside a statement that writes (INSERT ... SELECT, or a CHECK, DEFAULT or "
    "generated column): run it in a SELECT of its own, then store its result";

int velt_txn_begin(VeltConn *p, VeltTxn *t, int bWrite, VeltErr *e) {
    t->eMode = VELT_TXN_NONE;
    if (bWrite && velt_writer_running(p->db)) {
        e->status = VS_SQLITE;
        e->rc = SQLITE_ERROR;
        e->zMsg = sqlite3_mprintf(velt_writer_running_msg, "a velt call that writes");
        if (e->zMsg == 0) e->rc = SQLITE_NOMEM;
        return e->status;
    }
    if (!bWrite) {
        /* A read needs one snapshot across its statements: any transaction
        ** already open (the caller's, or the one of the statement calling
        ** us) holds one for the whole connection. */
        if (!sqlite3_get_autocommit(p->db) || sqlite3_txn_state(p->db, 0) != SQLITE_TXN_NONE) {
            return 0;
        }
        t->eMode = VELT_TXN_READ;
    } else {
        t->eMode = sqlite3_get_autocommit(p->db) ? VELT_TXN_WRITE : VELT_TXN_SAVEPOINT;
    }
    /* Prepare what ends the transaction before it starts: after an
    ** out-of-memory SQLite interrupts every statement still to be prepared
    ** in this call, and the undo must be able to run even then (stepping
    ** it makes SQLite roll the whole transaction back). */
    static const int aEnd[] = {VELT_STMT_COMMIT, VELT_STMT_ROLLBACK, VELT_STMT_RELEASE,
                               VELT_STMT_ROLLBACK_TO};
    for (int i = 0; i < VELT_COUNT(aEnd); i++) {
        if (velt_stmt(p, aEnd[i], e) == 0) {
            t->eMode = VELT_TXN_NONE;
            return e->status;
        }
    }
    int iStmt = t->eMode == VELT_TXN_SAVEPOINT ? VELT_STMT_SAVEPOINT
                : t->eMode == VELT_TXN_WRITE   ? VELT_STMT_BEGIN_WRITE
                                               : VELT_STMT_BEGIN_READ;
    if (run(p, iStmt, e)) {
        t->eMode = VELT_TXN_NONE;
        return e->status;
    }
    return 0;
}

/* Finish what velt_txn_begin started: commit or release on success, undo
** everything on failure. A failed commit is undone too. The error of the
** call (if any) is kept; cleanup failures never replace it. */
int velt_txn_end(VeltConn *p, VeltTxn *t, int bOk, VeltErr *e) {
    VeltErr ignore = {0};
    switch (t->eMode) {
    case VELT_TXN_SAVEPOINT:
        if (bOk && run(p, VELT_STMT_RELEASE, e) == 0) break;
        /* ROLLBACK TO fails harmlessly if SQLite already rolled the whole
        ** transaction back (it does so on some I/O and memory errors). */
        run(p, VELT_STMT_ROLLBACK_TO, &ignore);
        velt_err_clear(&ignore);
        run(p, VELT_STMT_RELEASE, &ignore);
        break;
    case VELT_TXN_READ:
    case VELT_TXN_WRITE:
        if (bOk && run(p, VELT_STMT_COMMIT, e) == 0) break;
        if (!sqlite3_get_autocommit(p->db)) run(p, VELT_STMT_ROLLBACK, &ignore);
        break;
    default:
        break;
    }
    velt_err_clear(&ignore);
    t->eMode = VELT_TXN_NONE;
    return e->status;
}
