-- mark_read: the transaction a tenant handle's `mark_read` sends, pipelined as the
-- async handle sends it: BEGIN, the settings of its scope, the crate's
-- statement (word for word as the crate prepares it: tests/it/pgbench.rs
-- checks it) and COMMIT. scripts/bench-pgbench runs it as it is and without
-- the pipeline, one statement a round trip, on the data of seed.sql.
\set n :base + :client_id * :per_client + :i
\set i :i + 1
\if :prepared = 0
PREPARE crate_statement AS UPDATE "skill_messages" SET "read_at" = CURRENT_TIMESTAMP WHERE (((("skill_messages"."tenant_id" = $1) AND ("skill_messages"."id" = $2)) AND ("skill_messages"."to_user_id" = $3)) AND ("skill_messages"."read_at" IS NULL)) RETURNING "skill_messages"."id", "skill_messages"."tenant_id", "skill_messages"."from_user_id", "skill_messages"."to_user_id", "skill_messages"."subject_skill_id", "skill_messages"."proposed_parent_skill_id", "skill_messages"."message", "skill_messages"."status", "skill_messages"."read_at", "skill_messages"."responded_at", "skill_messages"."created_at";
\set prepared 1
\endif
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), set_config('bench.message', message_id::text, true), set_config('bench.to', to_user_id::text, true) FROM bench_targets WHERE n = :n;
EXECUTE crate_statement(current_setting('app.current_tenant_id')::uuid, current_setting('bench.message')::uuid, current_setting('bench.to')::uuid);
COMMIT;
\endpipeline
