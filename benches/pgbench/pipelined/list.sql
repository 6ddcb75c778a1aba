-- The floor for the async face's one-call get_messages_for_user: the
-- transaction of ../list.sql sent whole in one pipeline, one round trip, as
-- AsyncPool's one-call methods send theirs. Run by
-- benches/service/async_face.rs with -M prepared, as the other scripts: each
-- statement of the pipeline is prepared on its connection the first time;
-- see BENCHMARKS.md.
--
-- pgbench cannot \gset inside a pipeline, so the values the crate binds
-- cannot come back to the client before its statement is sent: the
-- statement that sets the tenant also reads the work item into settings of
-- the transaction (bench.*), and the crate's statement, word for word as it
-- prepares it, is prepared once per connection by PREPARE (its parameters
-- typed by the server as pgbench's prepared statements' are) and run by
-- EXECUTE with those settings as its values: the same plan cache, no
-- parse or plan per call. The crate sends BEGIN and the settings as one
-- simple query, then its statement and COMMIT, both prepared: the server's
-- work per call is the same but for the extra settings and the EXECUTE's
-- few microseconds.
\set n random(0, :pairs - 1)
\if :prepared = 0
PREPARE bench_statement AS SELECT "skill_messages"."id", "skill_messages"."tenant_id", "skill_messages"."from_user_id", "skill_messages"."to_user_id", "skill_messages"."subject_skill_id", "skill_messages"."proposed_parent_skill_id", "skill_messages"."message", "skill_messages"."status", "skill_messages"."read_at", "skill_messages"."responded_at", "skill_messages"."created_at" FROM "skill_messages" WHERE (("skill_messages"."tenant_id" = $1) AND ("skill_messages"."to_user_id" = $2)) ORDER BY "skill_messages"."created_at" DESC, "skill_messages"."id" DESC LIMIT $3;
\set prepared 1
\endif
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), set_config('bench.user_id', user_id::text, true) FROM bench_pairs WHERE n = :n;
EXECUTE bench_statement(current_setting('app.current_tenant_id')::uuid, current_setting('bench.user_id')::uuid, 21);
COMMIT;
\endpipeline
