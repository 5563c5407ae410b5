/*
** Executions: dispatch, get, cancel and getEvents (SPEC 6.0, 6.5, 6.6, 6.7).
**
**   SELECT velt('executions/dispatch', json_object('definitionId', 'po-approval',
**               'idempotencyKey', 'po-1042', 'triggerContext', json('{"amount":1200}')));
**   SELECT velt('executions/get', json_object('executionId', 'exec_...'));
**   SELECT velt('executions/cancel', json_object('executionId', 'exec_...', 'reason', 'dup'));
**   SELECT velt('executions/getEvents', json_object('executionId', 'exec_...', 'sinceSeq', 5));
**
** Dispatch pins the definition's current version, appends
** execution.dispatched {definitionId, definitionVersion, rootStepIds} and
** then schedules the root steps (nodes with no incoming edge). A used
** idempotencyKey returns the first execution with deduplicated:true and
** creates nothing; with another definitionId it is FAILED_PRECONDITION.
** Fields only a hosted service acts on (webhookUrl/webhookSecret,
** organizationId, documentId, folderId) are validated and stored.
*/
#include "velt_int.h"

#include <string.h>

/* ^[A-Za-z0-9:_\-.]{1,200}$ */
static int check_key(const VVal *v, VIssues *pI) {
    for (int i = 0; i < v->n; i++) {
        char c = v->z[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '-' || c == '.')) {
            return velt_issue(pI, "invalid_string", "must match ^[A-Za-z0-9:_\\-.]{1,200}$");
        }
    }
    return 0;
}

enum {
    D_DEFINITION_ID,
    D_IDEMPOTENCY_KEY,
    D_CORRELATION_ID,
    D_TRIGGER_CONTEXT,
    D_ORGANIZATION_ID,
    D_DOCUMENT_ID,
    D_FOLDER_ID,
    D_WEBHOOK_URL,
    D_WEBHOOK_SECRET
};
static const VField aDispatch[] = {
    [D_DEFINITION_ID] = {"definitionId", VK_STRING, VF_REQUIRED, 1, 64, 0, 0},
    [D_IDEMPOTENCY_KEY] = {"idempotencyKey", VK_STRING, 0, 1, 200, 0, check_key},
    [D_CORRELATION_ID] = {"correlationId", VK_STRING, 0, 1, 200, 0, check_key},
    [D_TRIGGER_CONTEXT] = {"triggerContext", VK_MAP, 0, 0, 0, 0, 0},
    [D_ORGANIZATION_ID] = {"organizationId", VK_STRING, 0, 1, 200, 0, 0},
    [D_DOCUMENT_ID] = {"documentId", VK_STRING, 0, 1, 200, 0, 0},
    [D_FOLDER_ID] = {"folderId", VK_STRING, 0, 1, 200, 0, 0},
    [D_WEBHOOK_URL] = {"webhookUrl", VK_STRING, 0, 1, 2000, 0, velt_check_https_url},
    [D_WEBHOOK_SECRET] = {"webhookSecret", VK_STRING, 0, 16, 512, 0, 0},
};
const VSchema velt_schema_executions_dispatch = VELT_SCHEMA(aDispatch);

enum { G_EXECUTION_ID };
static const VField aGet[] = {
    [G_EXECUTION_ID] = {"executionId", VK_STRING, VF_REQUIRED, 1, 200, 0, 0},
};
const VSchema velt_schema_executions_get = VELT_SCHEMA(aGet);

enum { C_EXECUTION_ID, C_REASON };
static const VField aCancel[] = {
    [C_EXECUTION_ID] = {"executionId", VK_STRING, VF_REQUIRED, 1, 200, 0, 0},
    [C_REASON] = {"reason", VK_STRING, 0, 0, 500, 0, 0},
};
const VSchema velt_schema_executions_cancel = VELT_SCHEMA(aCancel);

enum { E_EXECUTION_ID, E_SINCE_SEQ, E_PAGE_SIZE };
static const VField aEvents[] = {
    [E_EXECUTION_ID] = {"executionId", VK_STRING, VF_REQUIRED, 1, 200, 0, 0},
    [E_SINCE_SEQ] = {"sinceSeq", VK_INT, 0, 0, 9007199254740991LL, 0, 0},
    [E_PAGE_SIZE] = {"pageSize", VK_INT, 0, 1, 500, 0, 0},
};
const VSchema velt_schema_executions_get_events = VELT_SCHEMA(aEvents);

static char *json_text(const VVal *v) {
    char *z = cJSON_PrintUnformatted(v->j);
    if (z == 0) return 0;
    char *zOut = sqlite3_mprintf("%s", z);
    cJSON_free(z);
    return zOut;
}

/* Write-only dispatch fields, kept as one JSON object. */
static int options_json(const VVal *a, char **pz, VeltErr *e) {
    static const int aiField[] = {D_ORGANIZATION_ID, D_DOCUMENT_ID, D_FOLDER_ID, D_WEBHOOK_URL,
                                  D_WEBHOOK_SECRET};
    sqlite3_str *s = sqlite3_str_new(0);
    int n = 0;
    for (int i = 0; i < VELT_COUNT(aiField); i++) {
        const VVal *v = &a[aiField[i]];
        if (v->t != VT_STRING) continue;
        sqlite3_str_appendchar(s, 1, n++ ? ',' : '{');
        velt_json_str(s, aDispatch[aiField[i]].zName, -1);
        sqlite3_str_appendchar(s, 1, ':');
        velt_json_str(s, v->z, v->n);
    }
    if (n) sqlite3_str_appendchar(s, 1, '}');
    if (velt_str_finish(s, pz, e)) return e->status;
    if (n == 0) {
        sqlite3_free(*pz);
        *pz = 0;
    }
    return 0;
}

static int dedup(VeltConn *p, const VVal *a, sqlite3_str *pOut, int *pbDone, VeltErr *e) {
    *pbDone = 0;
    if (a[D_IDEMPOTENCY_KEY].t != VT_STRING) return 0;
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_EXEC_BY_KEY, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, a[D_IDEMPOTENCY_KEY].z, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW) {
        char *zExec = sqlite3_mprintf("%s", sqlite3_column_text(pStmt, 0));
        if (strcmp((const char *)sqlite3_column_text(pStmt, 2), a[D_DEFINITION_ID].z) != 0) {
            velt_err(e, VS_FAILED_PRECONDITION, "idempotencyKey '%s' was used for definition '%s'",
                     a[D_IDEMPOTENCY_KEY].z, sqlite3_column_text(pStmt, 2));
        } else {
            sqlite3_str_appendall(pOut, "{\"executionId\":");
            velt_json_str(pOut, (const char *)sqlite3_column_text(pStmt, 0), -1);
            sqlite3_str_appendall(pOut, ",\"correlationId\":");
            velt_json_str(pOut, (const char *)sqlite3_column_text(pStmt, 1), -1);
            sqlite3_str_appendall(pOut, ",\"deduplicated\":true}");
            *pbDone = 1;
        }
        sqlite3_reset(pStmt);
        if (zExec == 0) velt_err_nomem(e);
        if (*pbDone && e->status == VS_OK) {
            velt_event_append(p, zExec, "idempotency.suppressed", 0, 0, e);
        }
        sqlite3_free(zExec);
        return e->status;
    }
    sqlite3_reset(pStmt);
    if (rc != SQLITE_DONE) return velt_err_sqlite(e, p->db, rc);
    return 0;
}

/* Roots: nodes that no forward edge enters and no loop's exhausted route
** targets (SPEC 6.0: such nodes are reached only through their edges). */
static int find_roots(const cJSON *pNodes, const cJSON *pCompiled, const char ***pazNode, int *pn,
                      VeltErr *e) {
    const cJSON *pEdges = cJSON_GetObjectItemCaseSensitive(pCompiled, "forwardEdges");
    int n = 0;
    const char **az =
        sqlite3_malloc64(sizeof(char *) * (sqlite3_uint64)(cJSON_GetArraySize(pNodes) + 1));
    if (az == 0) return velt_err_nomem(e);
    const cJSON *pNode;
    cJSON_ArrayForEach(pNode, pNodes) {
        const cJSON *pId = cJSON_GetObjectItemCaseSensitive(pNode, "nodeId");
        if (!cJSON_IsString(pId)) continue;
        int bEntered = 0;
        const cJSON *pEdge;
        cJSON_ArrayForEach(pEdge, pEdges) {
            const cJSON *pTo = cJSON_GetObjectItemCaseSensitive(pEdge, "to");
            if (cJSON_IsString(pTo) && strcmp(pTo->valuestring, pId->valuestring) == 0)
                bEntered = 1;
        }
        const cJSON *pLoop;
        cJSON_ArrayForEach(pLoop, cJSON_GetObjectItemCaseSensitive(pCompiled, "loops")) {
            const cJSON *pEx = cJSON_GetObjectItemCaseSensitive(pLoop, "onExhausted");
            const cJSON *pTo = cJSON_GetObjectItemCaseSensitive(pEx, "routeToNodeId");
            if (cJSON_IsString(pTo) && strcmp(pTo->valuestring, pId->valuestring) == 0)
                bEntered = 1;
        }
        if (!bEntered) az[n++] = pId->valuestring;
    }
    *pazNode = az;
    *pn = n;
    return 0;
}

int velt_executions_dispatch(VeltConn *p, const VVal *a, sqlite3_str *pOut, VeltErr *e) {
    const char *zDef = a[D_DEFINITION_ID].z;
    if ((a[D_WEBHOOK_URL].t == VT_STRING) != (a[D_WEBHOOK_SECRET].t == VT_STRING)) {
        return velt_err(e, VS_INVALID_ARGUMENT,
                        "webhookUrl and webhookSecret must be provided together");
    }
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_DEF_FOR_DISPATCH, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zDef, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(pStmt);
        if (rc == SQLITE_DONE) return velt_err(e, VS_NOT_FOUND, "definition '%s' not found", zDef);
        return velt_err_sqlite(e, p->db, rc);
    }
    int bActive = strcmp((const char *)sqlite3_column_text(pStmt, 0), "active") == 0;
    int iVersion = sqlite3_column_int(pStmt, 1);
    i64 iVersionId = sqlite3_column_int64(pStmt, 2);
    cJSON *pNodes = cJSON_Parse((const char *)sqlite3_column_text(pStmt, 3));
    cJSON *pCompiled = cJSON_Parse((const char *)sqlite3_column_text(pStmt, 4));
    const char *zGroups = (const char *)sqlite3_column_text(pStmt, 5);
    int bGroups = zGroups && strcmp(zGroups, "[]") != 0;
    sqlite3_reset(pStmt);

    const char **azNode = 0;
    char **azRoot = 0;
    int nRoot = 0;
    char *zOptions = 0, *zContext = 0;
    char zExec[40], zCorr[40];
    int bDone = 0;
    if (pNodes == 0 || pCompiled == 0) {
        velt_err_nomem(e);
    } else if (!bActive) {
        velt_err(e, VS_FAILED_PRECONDITION, "definition '%s' is deleted", zDef);
    } else if (bGroups ||
               cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(pCompiled, "loops")) > 0) {
        velt_err(e, VS_FAILED_PRECONDITION,
                 "definition '%s' uses %s, which this version of velt stores but does not run yet",
                 zDef, bGroups ? "parallel groups" : "loops");
    } else if (dedup(p, a, pOut, &bDone, e) == 0 && !bDone &&
               find_roots(pNodes, pCompiled, &azNode, &nRoot, e) == 0) {
        if (nRoot == 0)
            velt_err(e, VS_FAILED_PRECONDITION, "definition '%s' has no root nodes", zDef);
    }
    if (e->status == VS_OK && !bDone) {
        i64 now = velt_now(p);
        char zRand[16];
        velt_random_alnum(zRand, 8);
        sqlite3_snprintf(sizeof(zExec), zExec, "exec_%013lld_%s", now, zRand);
        velt_random_alnum(zRand, 12);
        sqlite3_snprintf(sizeof(zCorr), zCorr, "corr_%s", zRand);
        azRoot = sqlite3_malloc64(sizeof(char *) * (sqlite3_uint64)(nRoot + 1));
        if (azRoot == 0) velt_err_nomem(e);
        for (int i = 0; azRoot && i < nRoot; i++) {
            velt_random_alnum(zRand, 6);
            azRoot[i] = sqlite3_mprintf("step_%s_%lld_%s", azNode[i], now, zRand);
            if (azRoot[i] == 0) velt_err_nomem(e);
        }
        if (a[D_TRIGGER_CONTEXT].t == VT_OBJECT &&
            (zContext = json_text(&a[D_TRIGGER_CONTEXT])) == 0) {
            velt_err_nomem(e);
        }
        options_json(a, &zOptions, e);
    }
    if (e->status == VS_OK && !bDone) {
        const char *zCorrId = a[D_CORRELATION_ID].t == VT_STRING ? a[D_CORRELATION_ID].z : zCorr;
        const char *zKey = a[D_IDEMPOTENCY_KEY].t == VT_STRING ? a[D_IDEMPOTENCY_KEY].z : zExec;
        pStmt = velt_stmt(p, VELT_STMT_EXEC_INSERT, e);
        if (pStmt) {
            sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
            sqlite3_bind_text(pStmt, 2, zDef, -1, SQLITE_STATIC);
            sqlite3_bind_int(pStmt, 3, iVersion);
            sqlite3_bind_int64(pStmt, 4, iVersionId);
            sqlite3_bind_text(pStmt, 5, zCorrId, -1, SQLITE_STATIC);
            sqlite3_bind_text(pStmt, 6, zKey, -1, SQLITE_STATIC);
            sqlite3_bind_text(pStmt, 7, zContext, -1, SQLITE_STATIC);
            sqlite3_bind_text(pStmt, 8, zOptions, -1, SQLITE_STATIC);
            sqlite3_bind_int64(pStmt, 9, velt_now(p));
            velt_exec_stmt(p, pStmt, e);
        }
        sqlite3_str *s = sqlite3_str_new(p->db);
        sqlite3_str_appendall(s, "{\"definitionId\":");
        velt_json_str(s, zDef, -1);
        sqlite3_str_appendf(s, ",\"definitionVersion\":%d,\"rootStepIds\":[", iVersion);
        for (int i = 0; i < nRoot; i++) {
            if (i) sqlite3_str_appendchar(s, 1, ',');
            velt_json_str(s, azRoot[i], -1);
        }
        sqlite3_str_appendall(s, "]}");
        char *zData = 0;
        if (velt_str_finish(s, &zData, e) == 0 && e->status == VS_OK) {
            velt_event_append(p, zExec, "execution.dispatched", 0, zData, e);
        }
        sqlite3_free(zData);
        if (e->status == VS_OK) velt_engine_start(p, zExec, azRoot, azNode, nRoot, e);
        sqlite3_str_appendall(pOut, "{\"executionId\":");
        velt_json_str(pOut, zExec, -1);
        sqlite3_str_appendall(pOut, ",\"correlationId\":");
        velt_json_str(pOut, zCorrId, -1);
        sqlite3_str_appendall(pOut, ",\"deduplicated\":false}");
    }
    for (int i = 0; azRoot && i < nRoot; i++)
        sqlite3_free(azRoot[i]);
    sqlite3_free(azRoot);
    sqlite3_free(azNode);
    sqlite3_free(zOptions);
    sqlite3_free(zContext);
    cJSON_Delete(pNodes);
    cJSON_Delete(pCompiled);
    return e->status;
}

int velt_executions_get(VeltConn *p, const VVal *a, sqlite3_str *pOut, VeltErr *e) {
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_EXEC_VIEW, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, a[G_EXECUTION_ID].z, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW) {
        sqlite3_str_appendall(pOut, (const char *)sqlite3_column_text(pStmt, 0));
    } else if (rc == SQLITE_DONE) {
        velt_err(e, VS_NOT_FOUND, "execution '%s' not found", a[G_EXECUTION_ID].z);
    } else {
        velt_err_sqlite(e, p->db, rc);
    }
    sqlite3_reset(pStmt);
    return e->status;
}

int velt_executions_cancel(VeltConn *p, const VVal *a, sqlite3_str *pOut, VeltErr *e) {
    int bDone = 0;
    const char *zReason = a[C_REASON].t == VT_STRING ? a[C_REASON].z : 0;
    if (velt_engine_cancel_execution(p, a[C_EXECUTION_ID].z, zReason, &bDone, e)) return e->status;
    sqlite3_str_appendf(pOut, "{\"cancelled\":%s,\"executionId\":", bDone ? "true" : "false");
    velt_json_str(pOut, a[C_EXECUTION_ID].z, a[C_EXECUTION_ID].n);
    sqlite3_str_appendchar(pOut, 1, '}');
    return 0;
}

/* External events after sinceSeq, oldest first; nextCursor is the highest
** seq looked at (internal ones included), hasMore whether an external event
** lies beyond it. */
int velt_executions_get_events(VeltConn *p, const VVal *a, sqlite3_str *pOut, VeltErr *e) {
    const char *zExec = a[E_EXECUTION_ID].z;
    i64 iSince = a[E_SINCE_SEQ].t == VT_NUMBER ? (i64)a[E_SINCE_SEQ].r : 0;
    int nPage = a[E_PAGE_SIZE].t == VT_NUMBER ? (int)a[E_PAGE_SIZE].r : 100;
    sqlite3_stmt *pStmt = velt_stmt(p, VELT_STMT_EXEC_STATUS, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    int rc = sqlite3_step(pStmt);
    sqlite3_reset(pStmt);
    if (rc == SQLITE_DONE) return velt_err(e, VS_NOT_FOUND, "execution '%s' not found", zExec);
    if (rc != SQLITE_ROW) return velt_err_sqlite(e, p->db, rc);

    pStmt = velt_stmt(p, VELT_STMT_EVENTS_PAGE, e);
    if (pStmt == 0) return e->status;
    sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 2, iSince);
    sqlite3_str_appendall(pOut, "{\"executionId\":");
    velt_json_str(pOut, zExec, -1);
    sqlite3_str_appendall(pOut, ",\"events\":[");
    i64 iCursor = iSince;
    int n = 0;
    while (n < nPage && (rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
        iCursor = sqlite3_column_int64(pStmt, 0);
        if (!sqlite3_column_int(pStmt, 1)) continue;
        if (n++) sqlite3_str_appendchar(pOut, 1, ',');
        sqlite3_str_appendall(pOut, (const char *)sqlite3_column_text(pStmt, 2));
    }
    sqlite3_reset(pStmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return velt_err_sqlite(e, p->db, rc);
    int bMore = 0;
    if (n == nPage) {
        pStmt = velt_stmt(p, VELT_STMT_EVENTS_EXTERNAL_AFTER, e);
        if (pStmt == 0) return e->status;
        sqlite3_bind_text(pStmt, 1, zExec, -1, SQLITE_STATIC);
        sqlite3_bind_int64(pStmt, 2, iCursor);
        rc = sqlite3_step(pStmt);
        sqlite3_reset(pStmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return velt_err_sqlite(e, p->db, rc);
        bMore = rc == SQLITE_ROW;
    }
    sqlite3_str_appendf(pOut, "],\"nextCursor\":%lld,\"hasMore\":%s}", iCursor,
                        bMore ? "true" : "false");
    return 0;
}
