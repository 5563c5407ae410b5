-- The engine behind dispatch: mock agents complete at once, approve and
-- reject edges fire with chained step ids, other agents stay pending, the
-- execution rolls up when no step is live.
SELECT velt_set_clock(1700000000000) IS NOT NULL;
SELECT velt('definitions/create', '{
  "definitionId": "auto-publish", "name": "Auto publish",
  "nodes": [
    {"nodeId": "check", "type": "agent", "config": {"agentId": "__mock__", "url": "https://acme.dev"}},
    {"nodeId": "publish", "type": "agent", "config": {"agentId": "publisher", "urlPath": "documentUrl"}},
    {"nodeId": "rework", "type": "webhook", "config": {"url": "https://hooks.acme.dev/rework"}},
    {"nodeId": "custom", "type": "notification", "config": {"channel": "slack", "slackTarget": "C123",
      "bodyTemplate": "big"}}],
  "edges": [{"from": "check", "to": "publish", "on": "approve"},
            {"from": "check", "to": "rework", "on": "reject"},
            {"from": "check", "to": "custom", "on": "custom",
             "when": "{\"op\":\"gt\",\"args\":[{\"var\":\"execution.input.amount\"},1000]}"}]}') ->> '$.version';
SELECT velt('executions/dispatch', json_object('definitionId', 'auto-publish',
  'triggerContext', json_object('amount', 5000))) ->> '$.deduplicated';
SELECT step_id, node_id, node_type, status, input FROM velt_steps ORDER BY rowid;
SELECT seq, type, external FROM velt_events ORDER BY seq;
-- Cancelling the pending steps ends the run: completed, nothing failed.
SELECT count(velt_cancel_step(execution_id, step_id, NULL, 'ops')) FROM velt_steps WHERE status = 'pending';
SELECT status, failure_reason FROM velt_executions;
-- A small amount: the custom edge does not fire.
SELECT velt('executions/dispatch', json_object('definitionId', 'auto-publish',
  'triggerContext', json_object('amount', 10))) IS NOT NULL;
SELECT 'custom edge skipped', count(*) FROM velt_steps
 WHERE execution_id = (SELECT execution_id FROM velt_executions ORDER BY rowid DESC LIMIT 1);
-- The whole execution view.
SELECT velt('executions/get', json_object('executionId', execution_id)) FROM velt_executions ORDER BY rowid LIMIT 1;
