/*
** The step state machine, as data, and the one write path for a step.
**
** velt_step_status says which statuses are live, terminal, and fan-out
** eligible (SPEC 6.1). velt_transitions says, for each action, from which
** statuses it may start, where it ends and which event records it. Every
** path that changes a step's status goes through velt_step_move(): a single
** guarded UPDATE (compare-and-set on the current status, as pgflow does)
** followed by the event, in the caller's savepoint. Of two racing calls on
** one step exactly one changes a row; the other is told why it did not.
*/
#include "velt_int.h"

#include <string.h>

const VeltStatusInfo velt_step_status[ST__COUNT] = {
    [ST_PENDING] = {"pending", 1, 0},     [ST_RUNNING] = {"running", 1, 0},
    [ST_WAITING] = {"waiting", 1, 0},     [ST_COMPLETED] = {"completed", 0, 1},
    [ST_FAILED] = {"failed", 0, 1},       [ST_SKIPPED] = {"skipped", 0, 1},
    [ST_CANCELLED] = {"cancelled", 0, 0}, [ST_BREACHED] = {"breached", 0, 1},
};

int velt_step_status_find(const char *z) {
    for (int i = 0; z && i < ST__COUNT; i++) {
        if (strcmp(velt_step_status[i].zName, z) == 0) return i;
    }
    return -1;
}

static const VeltTransition velt_transitions[] = {
    {"cancel", VELT_LIVE_MASK, ST_CANCELLED, "step.cancelled"},
    {"start", 1u << ST_PENDING, ST_RUNNING, "step.started"},
    {"complete", (1u << ST_RUNNING) | (1u << ST_WAITING), ST_COMPLETED, "step.completed"},
    {"fail", (1u << ST_RUNNING) | (1u << ST_WAITING), ST_FAILED, "step.failed"},
    {"breach", VELT_LIVE_MASK, ST_BREACHED, "step.breached"},
};

const VeltTransition *velt_transition_find(const char *zAction) {
    for (int i = 0; i < VELT_COUNT(velt_transitions); i++) {
        if (strcmp(velt_transitions[i].zAction, zAction) == 0) return &velt_transitions[i];
    }
    return 0;
}

/* Append one event with the next seq of its execution. zData is the data
** object without actorId/reason, which have their own columns (see
** sql/migrations/0001_init.sql). */
int velt_event_append_full(VeltConn *p, const char *zExec, const char *zType, const char *zStep,
                           const char *zData, const char *zActor, const char *zReason, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_EVENT_INSERT, e);
    if (pStmt == 0) return e->status;
    /* evt_<ms><random>: ids grow with time, so the unique index on them is
    ** appended to rather than written at random places. */
    char zId[40], zRand[16];
    i64 now = velt_now(p);
    velt_random_alnum(zRand, 10);
    sqlite3_snprintf(sizeof(zId), zId, "evt_%013lld%s", now, zRand);
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, zId, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 3, zType, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 4, zStep, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 5, now);
    sqlite3_bind_text(pStmt, 6, zData, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 7, zActor, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 8, zReason, -1, SQLITE_STATIC);
    return velt_exec_stmt(p, pStmt, e);
}

int velt_event_append(VeltConn *p, const char *zExec, const char *zType, const char *zStep,
                      const char *zData, VeltErr *e) {
    return velt_event_append_full(p, zExec, zType, zStep, zData, 0, 0, e);
}

/* Why a guarded UPDATE changed nothing: execution, then step, then state. */
static int diagnose(VeltConn *p, const VeltMove *m, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_STEP_STATUS, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, m->zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, m->zStep, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW) {
        int eStatus = velt_step_status_find((const char *)sqlite3_column_text(pStmt, 0));
        sqlite3_reset(pStmt);
        if (eStatus < 0) {
            return velt_err(e, VS_FAILED_PRECONDITION, "step '%s' has an unknown status", m->zStep);
        }
        if (!velt_step_status[eStatus].bLive) {
            return velt_err(e, VS_FAILED_PRECONDITION, "step '%s' is already %s", m->zStep,
                            velt_step_status[eStatus].zName);
        }
        return velt_err(e, VS_FAILED_PRECONDITION, "step '%s' is %s; %s needs it to be %s",
                        m->zStep, velt_step_status[eStatus].zName, m->pT->zAction,
                        m->pT->fromMask == (1u << ST_PENDING) ? "pending" : "running or waiting");
    }
    sqlite3_reset(pStmt);
    if (rc != SQLITE_DONE) return velt_err_sqlite(e, p->db, rc);
    pStmt = velt_stmt(p, VELT_STMT_EXEC_STATUS, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, m->zExec, -1, SQLITE_STATIC);
    rc = sqlite3_step(pStmt);
    sqlite3_reset(pStmt);
    if (rc == SQLITE_DONE) return velt_err(e, VS_NOT_FOUND, "execution '%s' not found", m->zExec);
    if (rc != SQLITE_ROW) return velt_err_sqlite(e, p->db, rc);
    return velt_err(e, VS_NOT_FOUND, "step '%s' not found in execution '%s'", m->zStep, m->zExec);
}

int velt_step_move(VeltConn *p, const VeltMove *m, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_STEP_MOVE, e);
    if (pStmt == 0) return e->status;
    const VeltTransition *t = m->pT;
    sqlite3_bind_text(pStmt, 1, m->zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, m->zStep, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 3, velt_step_status[t->eTo].zName, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 4, velt_now(p));
    sqlite3_bind_int(pStmt, 5, !velt_step_status[t->eTo].bLive);
    sqlite3_bind_text(pStmt, 6, m->zOutput, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 7, m->zError, -1, SQLITE_STATIC);
    int iParam = 8;
    for (int i = 0; i < ST__COUNT && iParam <= 10; i++) {
        if (t->fromMask & (1u << i)) {
            sqlite3_bind_text(pStmt, iParam++, velt_step_status[i].zName, -1, SQLITE_STATIC);
        }
    }
    while (iParam <= 10)
        sqlite3_bind_null(pStmt, iParam++);
    if (velt_exec_stmt(p, pStmt, e)) return e->status;
    if (sqlite3_changes(p->db) != 1) return diagnose(p, m, e);
    return velt_event_append_full(p, m->zExec, t->zEvent, m->zStep, m->zEventData, m->zActor,
                                  m->zReason, e);
}
