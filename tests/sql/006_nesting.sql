-- How velt calls nest in the caller's statements and transactions.
.read tests/sql/fixtures/two_reviews.sql
-- A read may run inside a statement that writes.
CREATE TEMP TABLE snap(v);
INSERT INTO snap SELECT velt('executions/get', json_object('executionId', execution_id)) ->> '$.status'
  FROM velt_executions;
SELECT 'read inside INSERT ... SELECT', v FROM snap;
-- A write may not: SQLite could neither open a savepoint nor commit.
INSERT INTO snap SELECT velt_cancel_step(execution_id, step_id, NULL, 'a') FROM velt_steps;
SELECT 'refused write changed nothing', count(*) FROM velt_steps WHERE status = 'waiting';
-- Inside BEGIN ... ROLLBACK nothing of a cancel survives.
BEGIN;
SELECT 'cancelled in the transaction', velt_cancel_step(execution_id, step_id, 'x', 'a') ->> '$.cancelled'
  FROM velt_steps WHERE node_id = 'legal';
ROLLBACK;
SELECT 'after rollback', status FROM velt_steps WHERE node_id = 'legal';
SELECT 'no event survived', count(*) FROM velt_events WHERE type = 'step.cancelled';
-- A failed call inside BEGIN leaves the transaction usable.
BEGIN;
SELECT velt_cancel_step(execution_id, 'nope', NULL, 'a') FROM velt_executions;
SELECT 'still in the transaction', velt_cancel_step(execution_id, step_id, NULL, 'a') ->> '$.cancelled'
  FROM velt_steps WHERE node_id = 'brand';
COMMIT;
SELECT 'committed', node_id, status FROM velt_steps ORDER BY node_id;
