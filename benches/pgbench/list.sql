-- The floor for get_messages_for_user (first page of 20, and one more row to
-- know whether a page follows): the crate's transaction as four statements.
-- Run by benches/service/pgbench.rs; see BENCHMARKS.md.
--
-- Every script opens the transaction as the crate's pool scope does: BEGIN
-- READ COMMITTED READ WRITE, then the tenant, the search path and the
-- statement timeout (:search_path and :statement_timeout, the pool's values)
-- and the runtime role. The crate sends them as one batch of three
-- statements; a prepared statement cannot hold three, so BEGIN goes alone and
-- set_config('role', ..., true), which is what SET LOCAL ROLE does, joins the
-- other settings in the statement that also reads the work item. COMMIT
-- stands for the crate's `RESET ROLE; RESET app.current_tenant_id; COMMIT`,
-- whose resets have nothing to undo here. The middle statement is the
-- crate's, word for word as it prepares it, with the values it binds as
-- parameters: benches/service/statements.rs holds the crate's statements,
-- and the benchmark checks both that they are what the crate prepares and
-- that each script's statement is one of them.
\set n random(0, :pairs - 1)
\set limit 21
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, user_id FROM bench_pairs WHERE n = :n \gset
SELECT "skill_messages"."id", "skill_messages"."tenant_id", "skill_messages"."from_user_id", "skill_messages"."to_user_id", "skill_messages"."subject_skill_id", "skill_messages"."proposed_parent_skill_id", "skill_messages"."message", "skill_messages"."status", "skill_messages"."read_at", "skill_messages"."responded_at", "skill_messages"."created_at" FROM "skill_messages" WHERE (("skill_messages"."tenant_id" = :tenant_id) AND ("skill_messages"."to_user_id" = :user_id)) ORDER BY "skill_messages"."created_at" DESC, "skill_messages"."id" DESC LIMIT :limit;
COMMIT;
