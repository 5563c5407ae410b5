-- velt storage, schema version 1.
--
-- Applied by the first writing call or by velt_init(), inside that call's
-- savepoint. Never edited after release: later changes are new numbered files.
--
-- The invariants of the contract (I1 to I5) are enforced here in plain SQL,
-- so they hold for any writer: the extension, or a person running SQL against
-- these tables with or without the extension loaded (or with
-- trusted_schema=OFF). That is why no JSON function appears here: SQLite
-- does not let schema objects call them when trusted_schema is OFF.

CREATE TABLE _velt_meta(
  key   TEXT PRIMARY KEY NOT NULL,
  value ANY
) STRICT;

-- One row per definition id: its current version and state.
CREATE TABLE _velt_definitions(
  definition_id TEXT PRIMARY KEY NOT NULL
    CHECK (length(definition_id) BETWEEN 3 AND 64),
  version       INTEGER NOT NULL CHECK (version >= 1),
  status        TEXT NOT NULL CHECK (status IN ('active', 'tombstoned')),
  version_id    INTEGER NOT NULL,  -- the _velt_definition_versions row in force
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;

-- Immutable snapshots, one per version; executions pin theirs.
CREATE TABLE _velt_definition_versions(
  version_id     INTEGER PRIMARY KEY,
  definition_id  TEXT NOT NULL,
  version        INTEGER NOT NULL CHECK (version >= 1),
  name           TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description    TEXT,
  scope          TEXT NOT NULL,
  nodes          TEXT NOT NULL,
  edges          TEXT NOT NULL,
  groups         TEXT,
  triggers       TEXT,
  tags           TEXT,
  custom         TEXT,
  webhook_config TEXT,
  compiled       TEXT NOT NULL,
  created_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX _velt_definition_versions_by_id
  ON _velt_definition_versions(definition_id, version);

CREATE TRIGGER _velt_definition_versions_immutable
BEFORE UPDATE ON _velt_definition_versions
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: definition versions are immutable');
END;

CREATE TABLE _velt_executions(
  execution_id       TEXT PRIMARY KEY NOT NULL
    CHECK (length(execution_id) BETWEEN 1 AND 200),
  definition_id      TEXT NOT NULL,
  definition_version INTEGER NOT NULL,
  version_id         INTEGER NOT NULL,  -- pinned _velt_definition_versions row
  status             TEXT NOT NULL
    CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
  correlation_id     TEXT NOT NULL,
  idempotency_key    TEXT NOT NULL,
  trigger_context    TEXT,
  options            TEXT,
  started_at         INTEGER NOT NULL,
  completed_at       INTEGER,
  cancelled_at       INTEGER,
  failure_reason     TEXT
) STRICT;
CREATE UNIQUE INDEX _velt_executions_idempotency ON _velt_executions(idempotency_key);
CREATE INDEX _velt_executions_started ON _velt_executions(started_at);
CREATE INDEX _velt_executions_definition ON _velt_executions(definition_id, status);

CREATE TABLE _velt_steps(
  execution_id TEXT NOT NULL,
  step_id      TEXT NOT NULL CHECK (length(step_id) BETWEEN 1 AND 16384),
  node_id      TEXT NOT NULL,
  node_type    TEXT NOT NULL
    CHECK (node_type IN ('agent', 'human', 'notification', 'webhook')),
  status       TEXT NOT NULL
    CHECK (status IN ('pending', 'running', 'waiting',
                      'completed', 'failed', 'skipped', 'cancelled', 'breached')),
  group_id     TEXT,
  input        TEXT,
  output       TEXT,
  error        TEXT,
  scheduled_at INTEGER NOT NULL,
  started_at   INTEGER,
  completed_at INTEGER,
  retry_count  INTEGER NOT NULL DEFAULT 0 CHECK (retry_count >= 0),
  fired_edges  INTEGER NOT NULL DEFAULT 0 CHECK (fired_edges >= 0),
  UNIQUE (execution_id, step_id)
) STRICT;
CREATE INDEX _velt_steps_status ON _velt_steps(status, execution_id);
CREATE INDEX _velt_steps_step ON _velt_steps(step_id);

CREATE TABLE _velt_events(
  execution_id TEXT NOT NULL,
  seq          INTEGER NOT NULL CHECK (seq >= 1),
  event_id     TEXT NOT NULL,
  type         TEXT NOT NULL,
  step_id      TEXT,
  timestamp    INTEGER NOT NULL,
  data         TEXT,
  -- The actor and reason of the event's data live in their own columns, so
  -- that I5 is a plain CHECK; readers put them back into data (the rule is in
  -- ext/statements.h, EVENT_DATA).
  actor_id     TEXT CHECK (actor_id IS NULL OR length(actor_id) BETWEEN 1 AND 256),
  reason       TEXT CHECK (reason IS NULL OR length(reason) <=
                 CASE WHEN type IN ('step.cancelled', 'execution.cancelled')
                      THEN 500 ELSE 2000 END),
  -- The types that getEvents returns and webhooks deliver.
  external     INTEGER GENERATED ALWAYS AS (type IN (
                 'execution.dispatched', 'execution.completed', 'execution.failed',
                 'execution.cancelled', 'step.awaiting-approval', 'step.completed',
                 'step.failed', 'step.breached', 'step.cancelled', 'group.quorum-met',
                 'loop.iteration-started', 'loop.exhausted')) VIRTUAL,
  PRIMARY KEY (execution_id, seq)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX _velt_events_event_id ON _velt_events(event_id);

-- I1: a terminal step never changes status, output, error or completed_at.
CREATE TRIGGER _velt_steps_terminal_is_final
BEFORE UPDATE ON _velt_steps
WHEN OLD.status IN ('completed', 'failed', 'skipped', 'cancelled', 'breached')
 AND (NEW.status IS NOT OLD.status OR NEW.output IS NOT OLD.output
      OR NEW.error IS NOT OLD.error OR NEW.completed_at IS NOT OLD.completed_at)
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: a terminal step never changes');
END;

-- A step's identity never changes (it would defeat I1, I3 and I4).
CREATE TRIGGER _velt_steps_identity_is_fixed
BEFORE UPDATE OF execution_id, step_id ON _velt_steps
WHEN NEW.execution_id IS NOT OLD.execution_id OR NEW.step_id IS NOT OLD.step_id
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: a step''s execution_id and step_id never change');
END;

-- I4 (steps side): no live step in a terminal (or missing) execution.
CREATE TRIGGER _velt_steps_live_needs_live_execution
BEFORE INSERT ON _velt_steps
WHEN NEW.status IN ('pending', 'running', 'waiting')
 AND NOT EXISTS (SELECT 1 FROM _velt_executions
                 WHERE execution_id = NEW.execution_id
                   AND status IN ('pending', 'running'))
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: a live step needs a live execution');
END;

-- Steps of a live execution are never deleted.
CREATE TRIGGER _velt_steps_delete_only_when_terminal
BEFORE DELETE ON _velt_steps
WHEN EXISTS (SELECT 1 FROM _velt_executions
             WHERE execution_id = OLD.execution_id AND status IN ('pending', 'running'))
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: steps of a live execution cannot be deleted');
END;

-- I4 (executions side): an execution becomes terminal only with no live step,
-- and a terminal execution stays as it is.
CREATE TRIGGER _velt_executions_terminal_needs_no_live_step
BEFORE UPDATE OF status ON _velt_executions
WHEN NEW.status IN ('completed', 'failed', 'cancelled')
 AND EXISTS (SELECT 1 FROM _velt_steps
             WHERE execution_id = NEW.execution_id
               AND status IN ('pending', 'running', 'waiting'))
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: an execution with live steps cannot end');
END;

CREATE TRIGGER _velt_executions_terminal_is_final
BEFORE UPDATE ON _velt_executions
WHEN OLD.status IN ('completed', 'failed', 'cancelled')
 AND (NEW.status IS NOT OLD.status OR NEW.execution_id IS NOT OLD.execution_id)
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: a terminal execution never changes');
END;

CREATE TRIGGER _velt_executions_identity_is_fixed
BEFORE UPDATE OF execution_id ON _velt_executions
WHEN NEW.execution_id IS NOT OLD.execution_id
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: an execution_id never changes');
END;

-- Whole terminal executions may be purged: deleting the execution row takes
-- its steps and events with it. A live execution cannot be deleted.
CREATE TRIGGER _velt_executions_delete_only_when_terminal
BEFORE DELETE ON _velt_executions
WHEN OLD.status NOT IN ('completed', 'failed', 'cancelled')
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: a live execution cannot be deleted');
END;

CREATE TRIGGER _velt_executions_purge_children
AFTER DELETE ON _velt_executions
BEGIN
  DELETE FROM _velt_events WHERE execution_id = OLD.execution_id;
  DELETE FROM _velt_steps WHERE execution_id = OLD.execution_id;
END;

-- I2: events are append-only.
CREATE TRIGGER _velt_events_no_update
BEFORE UPDATE ON _velt_events
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: events are append-only');
END;

CREATE TRIGGER _velt_events_delete_only_when_terminal
BEFORE DELETE ON _velt_events
WHEN EXISTS (SELECT 1 FROM _velt_executions
             WHERE execution_id = OLD.execution_id AND status IN ('pending', 'running'))
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: events of a live execution cannot be deleted');
END;

-- I3: seq is 1, 2, 3, ... per execution, and events belong to an execution.
CREATE TRIGGER _velt_events_seq_is_next
BEFORE INSERT ON _velt_events
WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM _velt_events
                     WHERE execution_id = NEW.execution_id)
  OR NOT EXISTS (SELECT 1 FROM _velt_executions WHERE execution_id = NEW.execution_id)
BEGIN
  SELECT RAISE(ABORT, 'FAILED_PRECONDITION: event seq must be the next number of an existing execution');
END;
