-- unread_count: the transaction a tenant handle's `unread_count` sends, pipelined as the
-- async handle sends it: BEGIN, the settings of its scope, the crate's
-- statement (word for word as the crate prepares it: tests/it/pgbench.rs
-- checks it) and COMMIT. scripts/bench-pgbench runs it as it is and without
-- the pipeline, one statement a round trip, on the data of seed.sql.
\set n 0
\if :prepared = 0
PREPARE crate_statement AS SELECT EXISTS (SELECT "users"."id", "users"."tenant_id", "users"."display_name" FROM "users" WHERE (("users"."tenant_id" = $1) AND ("users"."id" = $2))), (SELECT COUNT(*) FROM "skill_messages" WHERE ((("skill_messages"."tenant_id" = $3) AND ("skill_messages"."to_user_id" = $4)) AND ("skill_messages"."read_at" IS NULL)) LIMIT $5);
\set prepared 1
\endif
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), set_config('bench.user', user_id::text, true) FROM bench_pairs WHERE n = :n;
EXECUTE crate_statement(current_setting('app.current_tenant_id')::uuid, current_setting('bench.user')::uuid, current_setting('app.current_tenant_id')::uuid, current_setting('bench.user')::uuid, 1);
COMMIT;
\endpipeline
