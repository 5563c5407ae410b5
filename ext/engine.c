/*
** The engine: what happens to an execution when its steps move.
**
** Scheduling (SPEC 6.2): a human step goes straight to waiting
** (step.scheduled, step.started internal; step.awaiting-approval external);
** an agent whose agentId is __mock__ completes at once with
** {decision:"approve", synthetic:true, agentId:"__mock__"}; other agent,
** notification and webhook steps stay pending for the host's worker.
**
** Edges (SPEC 6.3): when a step ends in a fan-out-eligible status
** (completed, skipped, breached, failed) every compiled forward edge of its
** node is evaluated with when.c against {output, step, execution:{input}}
** (always edges have no condition); each edge that fires spawns the step
** "<parent>__to__<node>" whose input is the parent's output. Steps that
** finish at once are fanned out breadth first, so events come in a stable
** order. A cancelled step never fans out.
**
** Roll-up (SPEC 6.4): when no step of a running execution is live, it
** becomes failed if some failed or breached step fired no edge, otherwise
** completed.
*/
#include "velt_int.h"

#include <string.h>

/* What the engine needs of an execution: its pinned graph and input. */
typedef struct Run {
    const char *zExec;
    cJSON *pNodes;
    cJSON *pCompiled;
    cJSON *pInput; /* triggerContext, or NULL */
} Run;

static void run_free(Run *r) {
    cJSON_Delete(r->pNodes);
    cJSON_Delete(r->pCompiled);
    cJSON_Delete(r->pInput);
    memset(r, 0, sizeof(*r));
}

static cJSON *parse_column(sqlite3_stmt *pStmt, int i) {
    const char *z = (const char *)sqlite3_column_text(pStmt, i);
    return z ? cJSON_Parse(z) : 0;
}

static int run_load(VeltConn *p, const char *zExec, Run *r, VeltErr *e) {
    memset(r, 0, sizeof(*r));
    r->zExec = zExec;
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_EXEC_CONTEXT, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW) {
        int bInput = sqlite3_column_type(pStmt, 1) != SQLITE_NULL;
        if (bInput) r->pInput = parse_column(pStmt, 1);
        r->pNodes = parse_column(pStmt, 2);
        r->pCompiled = parse_column(pStmt, 3);
        if (r->pNodes == 0 || r->pCompiled == 0 || (bInput && r->pInput == 0)) velt_err_nomem(e);
    } else if (rc == SQLITE_DONE) {
        velt_err(e, VS_NOT_FOUND, "execution '%s' not found", zExec);
    } else {
        velt_err_sqlite(e, p->db, rc);
    }
    sqlite3_reset(pStmt);
    if (e->status) run_free(r);
    return e->status;
}

static const cJSON *find_node(const Run *r, const char *zNode) {
    const cJSON *pNode;
    cJSON_ArrayForEach(pNode, r->pNodes) {
        const cJSON *pId = cJSON_GetObjectItemCaseSensitive(pNode, "nodeId");
        if (cJSON_IsString(pId) && strcmp(pId->valuestring, zNode) == 0) return pNode;
    }
    return 0;
}

/* A queue of steps that finished at once and still have to fan out. */
typedef struct Queue {
    char **az;
    int n, nAlloc, iNext;
} Queue;

static int queue_push(Queue *q, const char *z, VeltErr *e) {
    if (q->n == q->nAlloc) {
        int nNew = q->nAlloc ? q->nAlloc * 2 : 8;
        char **azNew = sqlite3_realloc64(q->az, sizeof(char *) * (sqlite3_uint64)nNew);
        if (azNew == 0) return velt_err_nomem(e);
        q->az = azNew;
        q->nAlloc = nNew;
    }
    q->az[q->n] = sqlite3_mprintf("%s", z);
    if (q->az[q->n] == 0) return velt_err_nomem(e);
    q->n++;
    return 0;
}

static void queue_free(Queue *q) {
    for (int i = 0; i < q->n; i++)
        sqlite3_free(q->az[i]);
    sqlite3_free(q->az);
    memset(q, 0, sizeof(*q));
}

static int append_data(VeltConn *p, const char *zExec, const char *zType, const char *zStep,
                       sqlite3_str *s, VeltErr *e) {
    char *zData = 0;
    if (velt_str_finish(s, &zData, e)) return e->status;
    velt_event_append(p, zExec, zType, zStep, zData, e);
    sqlite3_free(zData);
    return e->status;
}

/* Insert a new step for pNode and bring it to its first resting status. */
static int schedule(VeltConn *p, Run *r, const char *zStep, const cJSON *pNode, const char *zInput,
                    Queue *q, VeltErr *e) {
    const char *zType = velt_json_get_str(pNode, "type", 0);
    const cJSON *pConfig = cJSON_GetObjectItemCaseSensitive(pNode, "config");
    const char *zAgent = velt_json_get_str(pConfig, "agentId", 0);
    int bHuman = zType && strcmp(zType, "human") == 0;
    int bMock = zType && strcmp(zType, "agent") == 0 && zAgent && strcmp(zAgent, "__mock__") == 0;
    const char *zStatus = bHuman ? "waiting" : bMock ? "completed" : "pending";
    const char *zOutput =
        bMock ? "{\"decision\":\"approve\",\"synthetic\":true,\"agentId\":\"__mock__\"}" : 0;
    i64 now = velt_now(p);

    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_STEP_INSERT, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, r->zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, zStep, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 3, velt_json_get_str(pNode, "nodeId", 0), -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 4, zType, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 5, zStatus, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 6, zInput, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 7, zOutput, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 8, now);
    if (bHuman || bMock) {
        sqlite3_bind_int64(pStmt, 9, now);
    } else {
        sqlite3_bind_null(pStmt, 9);
    }
    if (bMock) {
        sqlite3_bind_int64(pStmt, 10, now);
    } else {
        sqlite3_bind_null(pStmt, 10);
    }
    if (velt_exec_stmt(p, pStmt, e)) return e->status;

    if (velt_event_append(p, r->zExec, "step.scheduled", zStep, 0, e)) return e->status;
    if (!bHuman && !bMock) return 0;
    if (velt_event_append(p, r->zExec, "step.started", zStep, 0, e)) return e->status;
    sqlite3_str *s = sqlite3_str_new(p->db);
    if (bMock) {
        sqlite3_str_appendall(s, "{\"agentId\":\"__mock__\",\"synthetic\":true,"
                                 "\"decision\":\"approve\"}");
        if (append_data(p, r->zExec, "step.completed", zStep, s, e)) return e->status;
        return queue_push(q, zStep, e);
    }
    /* Human: every reviewer counts; legacy reviewerIds are all mandatory. */
    int nReviewer = 0, nMandatory = 0;
    const cJSON *pList = cJSON_GetObjectItemCaseSensitive(pConfig, "reviewers");
    const cJSON *pR;
    cJSON_ArrayForEach(pR, pList) {
        nReviewer++;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pR, "mandatory"))) nMandatory++;
    }
    pList = cJSON_GetObjectItemCaseSensitive(pConfig, "reviewerIds");
    if (cJSON_IsArray(pList)) nReviewer = nMandatory = cJSON_GetArraySize(pList);
    sqlite3_str_appendf(s, "{\"waitingForReviewers\":%d,\"mandatoryCount\":%d,\"resumeKey\":",
                        nReviewer, nMandatory);
    char *zKey = sqlite3_mprintf("human:%s", zStep);
    if (zKey == 0) {
        sqlite3_free(sqlite3_str_finish(s));
        return velt_err_nomem(e);
    }
    velt_json_str(s, zKey, -1);
    sqlite3_free(zKey);
    sqlite3_str_appendchar(s, 1, '}');
    return append_data(p, r->zExec, "step.awaiting-approval", zStep, s, e);
}

/* The context a `when` expression sees, or NULL when out of memory. */
static cJSON *edge_context(const Run *r, const char *zStep, const char *zNode, const char *zStatus,
                           const char *zOutput, int nRetry) {
    cJSON *pCtx = cJSON_CreateObject();
    if (pCtx == 0) return 0;
    cJSON *pStep = cJSON_CreateObject();
    cJSON *pExec = cJSON_CreateObject();
    int ok = velt_json_add(pCtx, "step", pStep);
    ok = velt_json_add(pCtx, "execution", pExec) && ok;
    ok = ok && velt_json_add(pCtx, "output", zOutput ? cJSON_Parse(zOutput) : cJSON_CreateObject());
    ok = ok && velt_json_add(pExec, "input",
                             r->pInput ? cJSON_Duplicate(r->pInput, 1) : cJSON_CreateNull());
    ok = ok && cJSON_AddStringToObject(pStep, "stepId", zStep) &&
         cJSON_AddStringToObject(pStep, "nodeId", zNode) &&
         cJSON_AddStringToObject(pStep, "status", zStatus) &&
         cJSON_AddNumberToObject(pStep, "retryCount", nRetry);
    if (ok) return pCtx;
    cJSON_Delete(pCtx);
    return 0;
}

/* Evaluate the outgoing edges of a step that just ended. */
static int fan_out(VeltConn *p, Run *r, const char *zStep, Queue *q, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_STEP_FOR_EDGES, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, r->zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, zStep, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(pStmt);
        if (rc == SQLITE_DONE) return velt_err(e, VS_NOT_FOUND, "step '%s' not found", zStep);
        return velt_err_sqlite(e, p->db, rc);
    }
    char *zNode = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 0));
    char *zStatus = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 1));
    const char *zOut = (const char *)sqlite3_column_text(pStmt, 2);
    char *zOutput = zOut ? sqlite3_mprintf("%s", zOut) : 0;
    int nRetry = sqlite3_column_int(pStmt, 3);
    sqlite3_reset(pStmt);
    int eStatus = velt_step_status_find(zStatus);
    cJSON *pCtx = 0;
    int nFired = 0;
    if (zNode == 0 || zStatus == 0 || (zOut && zOutput == 0)) {
        velt_err_nomem(e);
    } else if (eStatus >= 0 && velt_step_status[eStatus].bFanOut) {
        pCtx = edge_context(r, zStep, zNode, zStatus, zOutput, nRetry);
        if (pCtx == 0) velt_err_nomem(e);
        const cJSON *pEdges = cJSON_GetObjectItemCaseSensitive(r->pCompiled, "forwardEdges");
        const cJSON *pEdge;
        cJSON_ArrayForEach(pEdge, pEdges) {
            if (e->status) break;
            const char *zFrom = velt_json_get_str(pEdge, "from", 0);
            const char *zTo = velt_json_get_str(pEdge, "to", 0);
            if (!zFrom || !zTo || strcmp(zFrom, zNode) != 0) continue;
            /* always edges have no condition; every other role's condition
            ** (a literal null included) is evaluated. */
            const cJSON *pWhen = cJSON_GetObjectItemCaseSensitive(pEdge, "when");
            const char *zRole = velt_json_get_str(pEdge, "role", 0);
            int bFire = 1;
            if ((zRole == 0 || strcmp(zRole, "always") != 0) &&
                velt_when_eval(pWhen, pCtx, &bFire)) {
                velt_err_nomem(e);
                break;
            }
            if (!bFire) continue;
            nFired++;
            char *zChild = sqlite3_mprintf("%s__to__%s", zStep, zTo);
            const cJSON *pNode = find_node(r, zTo);
            if (zChild == 0) {
                velt_err_nomem(e);
            } else if (pNode == 0) {
                velt_err(e, VS_FAILED_PRECONDITION, "edge to unknown node '%s'", zTo);
            } else if (strlen(zChild) > 16384) {
                velt_err(e, VS_FAILED_PRECONDITION,
                         "step id chain from '%s' passes 16384 characters", zStep);
            } else {
                /* Two fired edges to the same node name the same step: one step. */
                sqlite3_stmt *pEx = velt_stmt(p, VELT_STMT_STEP_EXISTS, e);
                if (pEx) {
                    sqlite3_bind_text(pEx, 1, r->zExec, -1, SQLITE_STATIC);
                    sqlite3_bind_text(pEx, 2, zChild, -1, SQLITE_STATIC);
                    int rcEx = sqlite3_step(pEx);
                    sqlite3_reset(pEx);
                    if (rcEx == SQLITE_DONE) {
                        schedule(p, r, zChild, pNode, zOutput ? zOutput : "{}", q, e);
                    } else if (rcEx != SQLITE_ROW) {
                        velt_err_sqlite(e, p->db, rcEx);
                    }
                }
            }
            sqlite3_free(zChild);
        }
    }
    if (e->status == VS_OK && nFired > 0) {
        sqlite3_stmt *pF = velt_stmt(p, VELT_STMT_STEP_FIRED, e);
        if (pF) {
            sqlite3_bind_text(pF, 1, r->zExec, -1, SQLITE_STATIC);
            sqlite3_bind_text(pF, 2, zStep, -1, SQLITE_STATIC);
            sqlite3_bind_int(pF, 3, nFired);
            velt_exec_stmt(p, pF, e);
        }
    }
    cJSON_Delete(pCtx);
    sqlite3_free(zNode);
    sqlite3_free(zStatus);
    sqlite3_free(zOutput);
    return e->status;
}

static int drain(VeltConn *p, Run *r, Queue *q, VeltErr *e) {
    while (e->status == VS_OK && q->iNext < q->n) {
        fan_out(p, r, q->az[q->iNext++], q, e);
    }
    return e->status;
}

static int finish(VeltConn *p, const char *zExec, const char *zStatus, const char *zFailure,
                  int *pbChanged, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_EXEC_FINISH, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, zStatus, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 3, velt_now(p));
    sqlite3_bind_text(pStmt, 4, zFailure, -1, SQLITE_STATIC);
    if (velt_exec_stmt(p, pStmt, e)) return e->status;
    *pbChanged = sqlite3_changes(p->db) == 1;
    return 0;
}

int velt_engine_rollup(VeltConn *p, const char *zExec, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_STEPS_LIVE_ANY, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    sqlite3_reset(pStmt);
    if (rc == SQLITE_ROW) return 0;
    if (rc != SQLITE_DONE) return velt_err_sqlite(e, p->db, rc);

    pStmt = velt_stmt(p, VELT_STMT_STEPS_UNHANDLED, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    rc = sqlite3_step(pStmt);
    char *zFailure = 0;
    if (rc == SQLITE_ROW) {
        sqlite3_str *s = sqlite3_str_new(p->db);
        const char *zStatus = (const char *)sqlite3_column_text(pStmt, 1);
        sqlite3_str_appendf(s, "{\"code\":\"%s\",\"message\":",
                            zStatus && strcmp(zStatus, "breached") == 0 ? "step-breached"
                                                                        : "step-failed");
        char *zMsg = sqlite3_mprintf("step %s %s and no edge handled it",
                                     sqlite3_column_text(pStmt, 0), zStatus);
        if (zMsg == 0) velt_err_nomem(e);
        velt_json_str(s, zMsg ? zMsg : "", -1);
        sqlite3_free(zMsg);
        sqlite3_str_appendchar(s, 1, '}');
        velt_str_finish(s, &zFailure, e);
    } else if (rc != SQLITE_DONE) {
        velt_err_sqlite(e, p->db, rc);
    }
    sqlite3_reset(pStmt);
    int bChanged = 0;
    if (e->status == VS_OK &&
        finish(p, zExec, zFailure ? "failed" : "completed", zFailure, &bChanged, e) == 0 &&
        bChanged) {
        velt_event_append(p, zExec, zFailure ? "execution.failed" : "execution.completed", 0, 0, e);
    }
    sqlite3_free(zFailure);
    return e->status;
}

/* Start a new execution's root steps (its row and execution.dispatched are
** written by the caller). */
int velt_engine_start(VeltConn *p, const char *zExec, char **azRoot, const char **azNode, int nRoot,
                      VeltErr *e) {
    Run r;
    Queue q = {0};
    if (run_load(p, zExec, &r, e)) return e->status;
    for (int i = 0; i < nRoot && e->status == VS_OK; i++) {
        schedule(p, &r, azRoot[i], find_node(&r, azNode[i]), 0, &q, e);
    }
    if (drain(p, &r, &q, e) == 0) velt_engine_rollup(p, zExec, e);
    queue_free(&q);
    run_free(&r);
    return e->status;
}

int velt_engine_cancel_execution(VeltConn *p, const char *zExec, const char *zReason, int *pbDone,
                                 VeltErr *e) {
    *pbDone = 0;
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_EXEC_STATUS, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    int bLive =
        rc == SQLITE_ROW && (strcmp((const char *)sqlite3_column_text(pStmt, 0), "running") == 0 ||
                             strcmp((const char *)sqlite3_column_text(pStmt, 0), "pending") == 0);
    sqlite3_reset(pStmt);
    if (rc == SQLITE_DONE) return velt_err(e, VS_NOT_FOUND, "execution '%s' not found", zExec);
    if (rc != SQLITE_ROW) return velt_err_sqlite(e, p->db, rc);
    if (!bLive) return 0;

    /* Collect first: the loop below changes the rows the query reads. */
    Queue live = {0};
    pStmt = velt_stmt(p, VELT_STMT_STEPS_LIVE_LIST, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
        if (queue_push(&live, (const char *)sqlite3_column_text(pStmt, 0), e)) break;
    }
    if (rc != SQLITE_DONE && e->status == VS_OK) velt_err_sqlite(e, p->db, rc);
    sqlite3_reset(pStmt);
    VeltMove m = {0};
    m.zExec = zExec;
    m.pT = velt_transition_find("cancel");
    m.zActor = "system:execution-cancel";
    m.zReason = zReason;
    for (int i = 0; i < live.n && e->status == VS_OK; i++) {
        m.zStep = live.az[i];
        velt_step_move(p, &m, e);
    }
    queue_free(&live);
    int bChanged = 0;
    if (e->status == VS_OK && finish(p, zExec, "cancelled", 0, &bChanged, e) == 0 && bChanged) {
        velt_event_append_full(p, zExec, "execution.cancelled", 0, 0, 0, zReason, e);
        *pbDone = 1;
    }
    return e->status;
}
