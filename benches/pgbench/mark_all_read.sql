-- mark_all_read: the transaction a tenant handle's `mark_all_read` sends, pipelined as the
-- async handle sends it: BEGIN, the settings of its scope, the crate's
-- statement (word for word as the crate prepares it: tests/it/pgbench.rs
-- checks it) and COMMIT. scripts/bench-pgbench runs it as it is and without
-- the pipeline, one statement a round trip, on the data of seed.sql.
\set n :base + :client_id * :per_client + :i
\set i :i + 1
\if :prepared = 0
PREPARE crate_statement AS WITH marked AS (UPDATE skill_messages SET read_at = now() WHERE tenant_id = $1 AND id = ANY($3) AND (to_user_id = $2 AND read_at IS NULL) IS TRUE RETURNING 1) SELECT (SELECT count(*) FROM marked) AS marked, EXISTS (SELECT FROM users WHERE tenant_id = $1 AND id = $2) AS known;
\set prepared 1
\endif
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), set_config('bench.message', message_id::text, true), set_config('bench.to', to_user_id::text, true) FROM bench_targets WHERE n = :n;
EXECUTE crate_statement(current_setting('app.current_tenant_id')::uuid, current_setting('bench.to')::uuid, ARRAY[current_setting('bench.message')::uuid]);
COMMIT;
\endpipeline
