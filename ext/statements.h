/*
** Every SQL statement velt runs against its storage, by name.
**
** Each is prepared once per connection (conn.c keeps the cache) and always
** run with bound parameters: no statement text is ever built from a request.
** The storage tables themselves are in sql/migrations/.
*/
#ifndef VELT_STATEMENTS_H
#define VELT_STATEMENTS_H

/* clang-format off */

/* An event's data as readers see it: the stored data object with the actor
** and reason columns put back (see the _velt_events comment in 0001). The
** reason key is present, maybe null, whenever an actor is, and always for
** execution.cancelled. */
#define VELT_EVENT_DATA(e)                                                                      \
    "CASE WHEN " e ".actor_id IS NULL AND " e ".reason IS NULL AND " e                          \
    ".type <> 'execution.cancelled' THEN json(" e ".data)"                                      \
    " WHEN " e ".actor_id IS NULL THEN json_set(coalesce(" e ".data, '{}'), '$.reason', " e     \
    ".reason) ELSE json_set(coalesce(" e ".data, '{}'), '$.actorId', " e ".actor_id,"           \
    " '$.reason', " e ".reason) END"

#define VELT_STEP_VIEW(s)                                                                       \
    "json_object('stepId', " s ".step_id, 'nodeId', " s ".node_id, 'nodeType', " s              \
    ".node_type, 'status', " s ".status, 'groupId', " s ".group_id, 'startedAt', " s            \
    ".started_at, 'completedAt', " s ".completed_at, 'output', json(coalesce(" s                \
    ".output, '{}')), 'error', json(" s ".error))"

#define VELT_DEFINITION_VIEW(d, v)                                                              \
    "json_object('definitionId', " d ".definition_id, 'name', " v ".name, 'description', " v    \
    ".description, 'version', " d ".version, 'scope', json(" v ".scope), 'nodes', json(" v      \
    ".nodes), 'edges', json(" v ".edges), 'groups', json(" v ".groups), 'compiled', json(" v    \
    ".compiled), 'triggers', json(" v ".triggers), 'tags', json(" v ".tags), 'custom', json(" v \
    ".custom), 'createdAt', " d ".created_at, 'updatedAt', " d ".updated_at, 'status', " d      \
    ".status)"

#define VELT_LIVE "('pending', 'running', 'waiting')"

/* X(name, sql) */
#define VELT_STATEMENTS(X)                                                                      \
    X(BEGIN_READ, "BEGIN")                                                                      \
    X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                           \
    X(COMMIT, "COMMIT")                                                                         \
    X(ROLLBACK, "ROLLBACK")                                                                     \
    X(SAVEPOINT, "SAVEPOINT velt")                                                              \
    X(RELEASE, "RELEASE velt")                                                                  \
    X(ROLLBACK_TO, "ROLLBACK TO velt")                                                          \
    X(SCHEMA_VERSION, "SELECT value FROM main._velt_meta WHERE key = 'schema_version'")         \
    /* steps */                                                                                 \
    X(STEP_MOVE, "UPDATE main._velt_steps SET status = ?3,"                                     \
                 " started_at = CASE WHEN ?3 = 'running' THEN ?4 ELSE started_at END,"          \
                 " completed_at = CASE WHEN ?5 THEN ?4 ELSE completed_at END,"                  \
                 " output = coalesce(?6, output), error = coalesce(?7, error)"                  \
                 " WHERE execution_id = ?1 AND step_id = ?2 AND status IN (?8, ?9, ?10)")       \
    X(STEP_STATUS, "SELECT status FROM main._velt_steps WHERE execution_id = ?1 AND step_id = ?2") \
    X(STEP_INSERT, "INSERT INTO main._velt_steps(execution_id, step_id, node_id, node_type,"    \
                   " status, group_id, input, output, scheduled_at, started_at, completed_at)"  \
                   " VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9, ?10)")                   \
    X(STEP_EXISTS, "SELECT 1 FROM main._velt_steps WHERE execution_id = ?1 AND step_id = ?2")   \
    X(STEP_FIRED, "UPDATE main._velt_steps SET fired_edges = ?3"                                \
                  " WHERE execution_id = ?1 AND step_id = ?2")                                  \
    X(STEP_FOR_EDGES, "SELECT node_id, status, output, retry_count FROM main._velt_steps"       \
                      " WHERE execution_id = ?1 AND step_id = ?2")                              \
    X(STEPS_LIVE_ANY, "SELECT 1 FROM main._velt_steps WHERE execution_id = ?1"                  \
                      " AND status IN " VELT_LIVE " LIMIT 1")                                   \
    X(STEPS_UNHANDLED, "SELECT step_id, status FROM main._velt_steps WHERE execution_id = ?1"   \
                       " AND status IN ('failed', 'breached') AND fired_edges = 0"              \
                       " ORDER BY rowid LIMIT 1")                                               \
    X(STEPS_LIVE_LIST, "SELECT step_id FROM main._velt_steps WHERE execution_id = ?1"           \
                       " AND status IN " VELT_LIVE " ORDER BY rowid")                           \
    /* executions */                                                                            \
    X(EXEC_STATUS, "SELECT status FROM main._velt_executions WHERE execution_id = ?1")          \
    X(EXEC_FINISH, "UPDATE main._velt_executions SET status = ?2, completed_at = ?3,"           \
                   " cancelled_at = CASE WHEN ?2 = 'cancelled' THEN ?3 END, failure_reason = ?4" \
                   " WHERE execution_id = ?1 AND status IN ('pending', 'running')")             \
    X(EXEC_INSERT, "INSERT INTO main._velt_executions(execution_id, definition_id,"             \
                   " definition_version, version_id, status, correlation_id, idempotency_key,"  \
                   " trigger_context, options, started_at)"                                     \
                   " VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8, ?9)")                   \
    X(EXEC_BY_KEY, "SELECT execution_id, correlation_id, definition_id"                         \
                   " FROM main._velt_executions WHERE idempotency_key = ?1")                    \
    X(EXEC_CONTEXT, "SELECT x.version_id, x.trigger_context, v.nodes, v.compiled"               \
                    " FROM main._velt_executions x"                                             \
                    " JOIN main._velt_definition_versions v ON v.version_id = x.version_id"     \
                    " WHERE x.execution_id = ?1")                                               \
    X(EXEC_VIEW, "SELECT json_object('executionId', x.execution_id, 'status', x.status,"        \
                 " 'startedAt', x.started_at, 'completedAt', x.completed_at,"                   \
                 " 'cancelledAt', x.cancelled_at, 'definitionId', x.definition_id,"             \
                 " 'definitionVersion', x.definition_version, 'correlationId', x.correlation_id," \
                 " 'idempotencyKey', x.idempotency_key, 'failureReason', json(x.failure_reason)," \
                 " 'steps', (SELECT json_group_array(json(sv)) FROM (SELECT " VELT_STEP_VIEW("s") \
                 " AS sv FROM main._velt_steps s WHERE s.execution_id = x.execution_id"         \
                 " ORDER BY s.rowid)))"                                                         \
                 " FROM main._velt_executions x WHERE x.execution_id = ?1")                     \
    /* events */                                                                                \
    X(EVENT_INSERT, "INSERT INTO main._velt_events(execution_id, seq, event_id, type, step_id," \
                    " timestamp, data, actor_id, reason) VALUES (?1, (SELECT coalesce(max(seq), 0) + 1" \
                    " FROM main._velt_events WHERE execution_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8)") \
    X(EVENTS_PAGE, "SELECT e.seq, e.external, json_object('eventId', e.event_id, 'seq', e.seq,"  \
                   " 'type', e.type, 'stepId', e.step_id, 'timestamp', e.timestamp,"            \
                   " 'correlationId', x.correlation_id, 'data', " VELT_EVENT_DATA("e") ")"      \
                   " FROM main._velt_events e JOIN main._velt_executions x"                     \
                   " ON x.execution_id = e.execution_id"                                        \
                   " WHERE e.execution_id = ?1 AND e.seq > ?2 ORDER BY e.seq")                  \
    X(EVENTS_EXTERNAL_AFTER, "SELECT 1 FROM main._velt_events WHERE execution_id = ?1"          \
                             " AND seq > ?2 AND external LIMIT 1")                              \
    /* definitions */                                                                           \
    X(DEF_HEAD, "SELECT d.status, d.version, d.version_id FROM main._velt_definitions d"        \
                " WHERE d.definition_id = ?1")                                                  \
    X(DEF_VIEW, "SELECT " VELT_DEFINITION_VIEW("d", "v") " FROM main._velt_definitions d"       \
                " JOIN main._velt_definition_versions v ON v.version_id = d.version_id"         \
                " WHERE d.definition_id = ?1 AND d.status = 'active'")                          \
    X(DEF_VERSION_INSERT, "INSERT INTO main._velt_definition_versions(definition_id, version,"  \
                          " name, description, scope, nodes, edges, groups, triggers, tags,"    \
                          " custom, webhook_config, compiled, created_at)"                      \
                          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)") \
    X(DEF_INSERT, "INSERT OR REPLACE INTO main._velt_definitions(definition_id, version,"       \
                  " status, version_id, created_at, updated_at)"                                \
                  " VALUES (?1, ?2, 'active', ?3, ?4, ?4)")                                     \
    X(DEF_FOR_DISPATCH, "SELECT d.status, d.version, d.version_id, v.nodes, v.compiled,"        \
                        " v.groups FROM main._velt_definitions d"                               \
                        " JOIN main._velt_definition_versions v ON v.version_id = d.version_id" \
                        " WHERE d.definition_id = ?1")

/* clang-format on */

#define VELT_STMT_ENUM(name, sql) VELT_STMT_##name,
enum { VELT_STATEMENTS(VELT_STMT_ENUM) VELT_STMT_COUNT };
#undef VELT_STMT_ENUM

extern const char *const velt_statement_sql[VELT_STMT_COUNT];

#endif
