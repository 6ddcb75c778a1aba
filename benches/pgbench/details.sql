-- details: the transaction a tenant handle's `details` sends, pipelined as the
-- async handle sends it: BEGIN, the settings of its scope, the crate's
-- statement (word for word as the crate prepares it: tests/it/pgbench.rs
-- checks it) and COMMIT. scripts/bench-pgbench runs it as it is and without
-- the pipeline, one statement a round trip, on the data of seed.sql.
\set n random(0, 49999)
\if :prepared = 0
PREPARE crate_statement AS SELECT "skill_messages"."id", "skill_messages"."tenant_id", "skill_messages"."from_user_id", "skill_messages"."to_user_id", "skill_messages"."subject_skill_id", "skill_messages"."proposed_parent_skill_id", "skill_messages"."message", "skill_messages"."status", "skill_messages"."read_at", "skill_messages"."responded_at", "skill_messages"."created_at", "sender"."id", "sender"."tenant_id", "sender"."display_name", "recipient"."id", "recipient"."tenant_id", "recipient"."display_name", "subject_skill"."id", "subject_skill"."tenant_id", "subject_skill"."author_id", "subject_skill"."name", "proposed_parent_skill"."id", "proposed_parent_skill"."tenant_id", "proposed_parent_skill"."author_id", "proposed_parent_skill"."name" FROM (((("skill_messages" LEFT OUTER JOIN "users" AS "sender" ON (("sender"."tenant_id" = "skill_messages"."tenant_id") AND ("sender"."id" = "skill_messages"."from_user_id"))) LEFT OUTER JOIN "users" AS "recipient" ON (("recipient"."tenant_id" = "skill_messages"."tenant_id") AND ("recipient"."id" = "skill_messages"."to_user_id"))) INNER JOIN "skills" AS "subject_skill" ON (("subject_skill"."tenant_id" = "skill_messages"."tenant_id") AND ("subject_skill"."id" = "skill_messages"."subject_skill_id"))) LEFT OUTER JOIN "skills" AS "proposed_parent_skill" ON (("proposed_parent_skill"."tenant_id" = "skill_messages"."tenant_id") AND ("proposed_parent_skill"."id" = "skill_messages"."proposed_parent_skill_id"))) WHERE (("skill_messages"."tenant_id" = $1) AND ("skill_messages"."id" = $2));
\set prepared 1
\endif
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), set_config('bench.message', message_id::text, true) FROM bench_targets WHERE n = :n;
EXECUTE crate_statement(current_setting('app.current_tenant_id')::uuid, current_setting('bench.message')::uuid);
COMMIT;
\endpipeline
