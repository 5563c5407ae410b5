/*
** Cancel Step: POST /v2/workflow/steps/cancel, and velt_cancel_step().
**
**   SELECT velt_cancel_step('exec_...', 'step_...', 'Reviewer unavailable', 'admin_jane');
**   SELECT velt('steps/cancel', json_object('executionId', 'exec_...',
**               'stepId', 'step_...', 'actorId', 'admin_jane'));
**
** A live step (pending, running or waiting) becomes cancelled with
** completed_at set; none of its outgoing edges fires; its siblings are not
** touched; step.cancelled {actorId, reason} is appended; then the execution
** rolls up (it ends when this was its last live step). A terminal step is
** FAILED_PRECONDITION and its message names the status.
*/
#include "velt_int.h"

enum { F_EXECUTION_ID, F_STEP_ID, F_REASON, F_ACTOR_ID };
static const VField aCancelFields[] = {
    [F_EXECUTION_ID] = {"executionId", VK_STRING, VF_REQUIRED, 1, 200, 0, 0},
    [F_STEP_ID] = {"stepId", VK_STRING, VF_REQUIRED, 1, 16384, 0, 0},
    [F_REASON] = {"reason", VK_STRING, 0, 0, 500, 0, 0},
    [F_ACTOR_ID] = {"actorId", VK_STRING, VF_REQUIRED, 1, 256, 0, 0},
};
const VSchema velt_schema_steps_cancel = VELT_SCHEMA(aCancelFields);

int velt_steps_cancel(VeltConn *p, const VVal *a, sqlite3_str *pOut, VeltErr *e) {
    VeltMove m = {0};
    m.zExec = a[F_EXECUTION_ID].z;
    m.zStep = a[F_STEP_ID].z;
    m.pT = velt_transition_find("cancel");
    m.zActor = a[F_ACTOR_ID].z;
    m.zReason = a[F_REASON].t == VT_STRING ? a[F_REASON].z : 0;
    if (velt_step_move(p, &m, e)) return e->status;
    if (velt_engine_rollup(p, m.zExec, e)) return e->status;
    sqlite3_str_appendall(pOut, "{\"cancelled\":true,\"executionId\":");
    velt_json_str(pOut, a[F_EXECUTION_ID].z, a[F_EXECUTION_ID].n);
    sqlite3_str_appendall(pOut, ",\"stepId\":");
    velt_json_str(pOut, a[F_STEP_ID].z, a[F_STEP_ID].n);
    sqlite3_str_appendchar(pOut, 1, '}');
    return 0;
}
