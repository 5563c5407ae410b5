-- Cancel Step end to end: a waiting review is cancelled by an admin; its
-- reject edge does not fire; its sibling keeps waiting; the audit event
-- records who and why; a second cancel is refused and changes nothing.
.read tests/sql/fixtures/two_reviews.sql
SELECT velt_set_clock(1777374600000) IS NOT NULL;
SELECT 'result', velt_cancel_step(execution_id, step_id, 'Reviewer on leave', 'admin_jane') ->> '$.cancelled'
  FROM velt_steps WHERE node_id = 'legal';
SELECT 'result is JSON', json_type(velt_cancel_step(execution_id, step_id, NULL, 'admin_jane'))
  FROM velt_steps WHERE node_id = 'brand';
SELECT node_id, status, completed_at FROM velt_steps ORDER BY node_id;
SELECT 'no step spawned by the reject edge', (SELECT count(*) FROM velt_steps) = 2;
SELECT seq, type, external, actor_id, reason, data FROM velt_events ORDER BY seq;
SELECT 'execution completed after its last live step', status, completed_at FROM velt_executions;
-- Already terminal: FAILED_PRECONDITION naming the status; nothing changes.
SELECT velt_cancel_step(execution_id, step_id, NULL, 'admin_jane') FROM velt_steps WHERE node_id = 'legal';
SELECT 'still 10 events', (SELECT count(*) FROM velt_events) = 10;
-- Not found: the execution first, then the step within it.
SELECT velt_cancel_step('exec_nope', 'step_nope', NULL, 'admin_jane');
SELECT velt_cancel_step(execution_id, 'step_nope', NULL, 'admin_jane') FROM velt_executions;
-- velt() and velt_api() reach the same handler.
SELECT velt('steps/cancel', json_object('executionId', execution_id, 'stepId', 'step_nope', 'actorId', 'a'))
  FROM velt_executions;
SELECT velt_api('/v2/workflow/steps/cancel', json_object('data', json_object('executionId', execution_id,
  'stepId', step_id, 'actorId', 'a'))) FROM velt_steps WHERE node_id = 'legal';
