-- An admin session in the sqlite3 shell: define an approval workflow,
-- dispatch three runs, cancel one waiting review, read the audit trail.
-- Run it with `make demo` (a fresh demo.db), or by hand:
--   sqlite3 demo.db < sql/examples/admin_cancel.sql
.load ./velt
.headers on
.mode box

-- 1. A marketing-copy workflow: legal and brand review in parallel; a
--    rejection by either goes to the copywriter for rework.
SELECT json_extract(velt('definitions/create', '{
  "definitionId": "marketing-copy",
  "name": "Marketing copy approval",
  "nodes": [
    {"nodeId": "legal-review", "type": "human",
     "config": {"reviewers": [{"userId": "u_lee", "mandatory": true}]}},
    {"nodeId": "brand-review", "type": "human",
     "config": {"reviewers": [{"userId": "u_bo", "mandatory": true},
                              {"userId": "u_kim", "mandatory": false}]}},
    {"nodeId": "rework", "type": "notification",
     "config": {"channel": "email", "recipients": ["copy@acme.dev"],
                "bodyTemplate": "Please rework: {{input.decision}}"}}
  ],
  "edges": [
    {"from": "legal-review", "to": "rework", "on": "reject"},
    {"from": "brand-review", "to": "rework", "on": "reject"}
  ]
}'), '$.version') AS defined_version;

-- 2. Three campaigns go out for review (the idempotency key makes a
--    re-run of this script harmless).
SELECT c.value AS campaign,
       velt('executions/dispatch', json_object(
         'definitionId', 'marketing-copy',
         'idempotencyKey', 'campaign-' || c.value,
         'triggerContext', json_object('campaign', c.value))) ->> '$.executionId' AS execution_id
  FROM json_each('["spring","summer","autumn"]') AS c;

CREATE TEMP TABLE runs AS
SELECT trigger_context ->> '$.campaign' AS campaign, execution_id
  FROM velt_executions ORDER BY started_at, rowid;

SELECT r.campaign, s.node_id, s.status
  FROM runs r JOIN velt_steps s ON s.execution_id = r.execution_id
 ORDER BY r.rowid, s.node_id;

-- 3. The brand reviewer of the summer campaign is away: an admin cancels
--    that one step, inside a transaction as admin scripts should.
BEGIN IMMEDIATE;
SELECT velt_cancel_step(s.execution_id, s.step_id, 'Reviewer on leave', 'admin_jane') AS result
  FROM velt_steps s JOIN runs r ON r.execution_id = s.execution_id
 WHERE r.campaign = 'summer' AND s.node_id = 'brand-review' AND s.status = 'waiting';
COMMIT;

-- 4. The steps now: the cancelled review fired no rework step, and its
--    sibling legal review is still waiting.
SELECT r.campaign, s.node_id, s.status, s.completed_at IS NOT NULL AS ended
  FROM runs r JOIN velt_steps s ON s.execution_id = r.execution_id
 ORDER BY r.rowid, s.node_id;

-- 5. The audit trail of the summer campaign, as getEvents would page it
--    (external events) plus the engine's internal ones.
SELECT e.seq, e.type, e.external, e.actor_id, e.reason,
       substr(e.step_id, 1, 24) || CASE WHEN length(e.step_id) > 24 THEN '...' ELSE '' END AS step
  FROM velt_events e JOIN runs r ON r.execution_id = e.execution_id
 WHERE r.campaign = 'summer'
 ORDER BY e.seq;

-- 6. Cancelling the same step again is refused and changes nothing.
--    velt_api() answers with the REST error envelope instead of raising.
SELECT velt_api('steps/cancel', json_object('data', json_object(
         'executionId', s.execution_id, 'stepId', s.step_id, 'actorId', 'admin_jane'))) -> '$.error' AS second_cancel
  FROM velt_steps s JOIN runs r ON r.execution_id = s.execution_id
 WHERE r.campaign = 'summer' AND s.node_id = 'brand-review';
