-- The virtual tables: read-only with a message naming what to use instead,
-- equality pushdown on ids (a lookup is an index seek, not a scan), ranges
-- on seq and ORDER BY seq consumed.
.read tests/sql/fixtures/two_reviews.sql
EXPLAIN QUERY PLAN SELECT * FROM velt_steps WHERE execution_id = 'x';
EXPLAIN QUERY PLAN SELECT * FROM velt_steps WHERE execution_id = 'x' AND step_id = 'y';
EXPLAIN QUERY PLAN SELECT * FROM velt_steps WHERE status = 'waiting';
EXPLAIN QUERY PLAN SELECT * FROM velt_events WHERE execution_id = 'x' AND seq > 3 ORDER BY seq;
EXPLAIN QUERY PLAN SELECT * FROM velt_events WHERE type = 'step.cancelled' ORDER BY seq DESC;
EXPLAIN QUERY PLAN SELECT * FROM velt_executions WHERE execution_id = 'x';
EXPLAIN QUERY PLAN SELECT * FROM velt_definitions WHERE definition_id = 'x';
-- The storage query behind an execution_id lookup uses the storage index.
EXPLAIN QUERY PLAN SELECT * FROM _velt_steps WHERE execution_id = 'x';
SELECT 'pushdown finds the steps', (SELECT count(*) FROM velt_steps
  WHERE execution_id = (SELECT execution_id FROM velt_executions)) = 2;
SELECT 'seq range', group_concat(seq) FROM (SELECT seq FROM velt_events WHERE seq BETWEEN 2 AND 4 ORDER BY seq);
SELECT 'order by seq desc', group_concat(seq) FROM (SELECT seq FROM velt_events ORDER BY seq DESC);
SELECT 'IN on ids', count(*) FROM velt_steps WHERE execution_id IN ('nope', (SELECT execution_id FROM velt_executions));
SELECT 'columns of velt_steps', group_concat(name, ' ') FROM pragma_table_info('velt_steps');
SELECT 'columns of velt_events', group_concat(name, ' ') FROM pragma_table_info('velt_events');
SELECT 'columns of velt_executions', group_concat(name, ' ') FROM pragma_table_info('velt_executions');
SELECT 'columns of velt_definitions', group_concat(name, ' ') FROM pragma_table_info('velt_definitions');
SELECT 'is_terminal', group_concat(is_terminal) FROM velt_steps;
SELECT 'definition column is the DefinitionView', definition ->> '$.compiled.forwardEdges[0].role'
  FROM velt_definitions;
UPDATE velt_steps SET status = 'cancelled';
DELETE FROM velt_events;
INSERT INTO velt_executions(execution_id) VALUES ('x');
DELETE FROM velt_definitions;
SELECT 'nothing changed', (SELECT count(*) FROM velt_steps WHERE status = 'waiting') = 2;
