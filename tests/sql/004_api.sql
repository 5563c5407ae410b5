-- velt() and velt_api(): the REST envelopes, strict requests, the error
-- statuses, getEvents paging and execution cancel.
.read tests/sql/fixtures/two_reviews.sql
-- The whole HTTP body in, the whole response body out; errors never raise.
SELECT velt_api('executions/get', '{"data":{"executionId":"exec_nope"}}');
SELECT velt_api('steps/cancel', '{"data":{"executionId":"e","stepId":"s","actorId":"a","extra":1}}');
SELECT velt_api('steps/cancel', '{"data":{"executionId":"e","stepId":"s","actorId":"a","reason":null}}');
SELECT velt_api('steps/cancel', '{"data":{"executionId":"e","stepId":"s"}}');
SELECT velt_api('steps/cancel', '{"data":{"executionId":"e","executionId":"f","stepId":"s","actorId":"a"}}');
SELECT velt_api('steps/cancel', '{"data":{"executionId":"e","stepId":"s","actorId":"a"}');
SELECT velt_api('steps/cancel', '{"executionId":"e"}');
SELECT velt_api('steps/nope', '{"data":{}}');
SELECT velt_api('steps/cancel', NULL);
-- A used idempotency key returns the first execution and creates nothing.
SELECT 'dedup', velt('executions/dispatch', json_object('definitionId', 'two-reviews', 'idempotencyKey', 'run-1'))
  ->> '$.deduplicated', (SELECT count(*) FROM velt_executions);
SELECT 'suppressed is internal', type, external FROM velt_events WHERE type = 'idempotency.suppressed';
SELECT velt('executions/dispatch', json_object('definitionId', 'nope', 'idempotencyKey', 'run-1'));
SELECT velt('definitions/create', (SELECT json_remove(definition, '$.version', '$.compiled', '$.createdAt',
  '$.updatedAt', '$.status', '$.description', '$.groups', '$.triggers', '$.tags', '$.custom', '$.scope')
  FROM velt_definitions));
-- getEvents pages external events; nextCursor is the highest seq looked at.
SELECT velt('executions/getEvents', json_object('executionId', execution_id, 'pageSize', 1)) ->> '$.nextCursor',
       velt('executions/getEvents', json_object('executionId', execution_id, 'pageSize', 1)) ->> '$.hasMore'
  FROM velt_executions;
SELECT velt('executions/getEvents', json_object('executionId', execution_id, 'sinceSeq', 1, 'pageSize', 1))
         -> '$.events[0].type',
       velt('executions/getEvents', json_object('executionId', execution_id, 'sinceSeq', 1, 'pageSize', 1))
         ->> '$.nextCursor'
  FROM velt_executions;
SELECT json_array_length(velt('executions/getEvents', json_object('executionId', execution_id)) -> '$.events'),
       velt('executions/getEvents', json_object('executionId', execution_id)) ->> '$.nextCursor',
       velt('executions/getEvents', json_object('executionId', execution_id)) ->> '$.hasMore'
  FROM velt_executions;
SELECT velt('executions/getEvents', json_object('executionId', execution_id, 'pageSize', 501)) FROM velt_executions;
-- Cancel execution: each live step gets step.cancelled by the system, then
-- execution.cancelled; a second cancel changes nothing.
SELECT velt('executions/cancel', json_object('executionId', execution_id, 'reason', 'Campaign postponed'))
  FROM velt_executions;
SELECT seq, type, actor_id, reason FROM velt_events WHERE seq > 7 ORDER BY seq;
SELECT status, cancelled_at IS NOT NULL FROM velt_executions;
SELECT velt('executions/cancel', json_object('executionId', execution_id)) ->> '$.cancelled' FROM velt_executions;
SELECT 'no new event', (SELECT max(seq) FROM velt_events) = 11;
