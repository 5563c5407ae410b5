-- Loading registers functions and virtual tables and writes nothing;
-- velt_init() creates the storage; reading before that sees empty tables.
SELECT 'version matches the VERSION file', velt_version() = '0.1.0';
SELECT 'loading wrote nothing', (SELECT count(*) FROM sqlite_master) = 0;
SELECT 'velt_steps is empty without storage', (SELECT count(*) FROM velt_steps) = 0;
SELECT 'velt_events is empty without storage', (SELECT count(*) FROM velt_events) = 0;
SELECT 'reading wrote nothing', (SELECT count(*) FROM sqlite_master) = 0;
SELECT 'velt_init returns the schema version', velt_init() = 1;
SELECT 'velt_init is idempotent', velt_init() = 1;
SELECT 'storage tables exist', (SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master
  WHERE type = 'table' ORDER BY name));
SELECT 'schema_version recorded', (SELECT value FROM _velt_meta WHERE key = 'schema_version') = 1;
SELECT 'created_by recorded', (SELECT value FROM _velt_meta WHERE key = 'created_by') = velt_version();
SELECT 'user_version untouched', (SELECT user_version FROM pragma_user_version) = 0;
SELECT 'application_id untouched', (SELECT application_id FROM pragma_application_id) = 0;
SELECT 'functions', group_concat(name, ' ') FROM (SELECT DISTINCT name FROM pragma_function_list
  WHERE name LIKE 'velt%' ORDER BY name);
SELECT 'modules', group_concat(name, ' ') FROM (SELECT name FROM pragma_module_list
  WHERE name LIKE 'velt%' ORDER BY name);
-- A newer schema than this build understands is refused, with what to do.
UPDATE _velt_meta SET value = 99 WHERE key = 'schema_version';
SELECT velt_init();
SELECT velt_cancel_step('e', 's', NULL, 'admin');
UPDATE _velt_meta SET value = 1 WHERE key = 'schema_version';
-- The clock: fixed per connection, NULL returns to the real clock.
SELECT 'set clock', velt_set_clock(1777374504255) = 1777374504255;
SELECT 'now follows it', velt_now() = 1777374504255;
SELECT 'real clock again', velt_set_clock(NULL) > 1777374504255;
SELECT velt_set_clock('soon');
