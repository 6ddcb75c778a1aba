-- send: the transaction a tenant handle's `send` sends, pipelined as the
-- async handle sends it: BEGIN, the settings of its scope, the crate's
-- statement (word for word as the crate prepares it: tests/it/pgbench.rs
-- checks it) and COMMIT. scripts/bench-pgbench runs it as it is and without
-- the pipeline, one statement a round trip, on the data of seed.sql.
\set n (:base + :client_id * :per_client + :i) % 103488
\set i :i + 1
\if :prepared = 0
PREPARE crate_statement AS INSERT INTO "skill_messages" ("id", "tenant_id", "from_user_id", "to_user_id", "subject_skill_id", "proposed_parent_skill_id", "message") SELECT $1, "recipient"."tenant_id", $2, "recipient"."id", $3, $4, $5 FROM "users" AS "recipient" WHERE ((("recipient"."tenant_id" = $6) AND ("recipient"."id" = $7)) AND ((EXISTS (SELECT "users"."id", "users"."tenant_id", "users"."display_name" FROM "users" WHERE (("users"."tenant_id" = $8) AND ("users"."id" = $9))) AND EXISTS (SELECT "skills"."id", "skills"."tenant_id", "skills"."author_id", "skills"."name" FROM "skills" WHERE (("skills"."tenant_id" = $10) AND ("skills"."id" = $11)))) AND EXISTS (SELECT "skills"."id", "skills"."tenant_id", "skills"."author_id", "skills"."name" FROM "skills" WHERE (("skills"."tenant_id" = $12) AND ("skills"."id" = $13))))) ON CONFLICT DO NOTHING RETURNING "skill_messages"."id", "skill_messages"."tenant_id", "skill_messages"."from_user_id", "skill_messages"."to_user_id", "skill_messages"."subject_skill_id", "skill_messages"."proposed_parent_skill_id", "skill_messages"."message", "skill_messages"."status", "skill_messages"."read_at", "skill_messages"."responded_at", "skill_messages"."created_at";
\set prepared 1
\endif
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), set_config('bench.user', user_id::text, true), set_config('bench.other', other_user_id::text, true), set_config('bench.skill', skill_id::text, true), set_config('bench.parent', parent_skill_id::text, true) FROM bench_proposals WHERE n = :n;
EXECUTE crate_statement(gen_random_uuid(), current_setting('bench.user')::uuid, current_setting('bench.skill')::uuid, current_setting('bench.parent')::uuid, 'Shall we group them?', current_setting('app.current_tenant_id')::uuid, current_setting('bench.other')::uuid, current_setting('app.current_tenant_id')::uuid, current_setting('bench.user')::uuid, current_setting('app.current_tenant_id')::uuid, current_setting('bench.skill')::uuid, current_setting('app.current_tenant_id')::uuid, current_setting('bench.parent')::uuid);
COMMIT;
\endpipeline
