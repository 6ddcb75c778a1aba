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
-- crate's, with the values it binds as parameters.
\set n random(0, :pairs - 1)
\set limit 21
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, user_id FROM bench_pairs WHERE n = :n \gset
SELECT id, tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message, status, read_at, responded_at, created_at FROM skill_messages WHERE tenant_id = :tenant_id AND to_user_id = :user_id ORDER BY created_at DESC, id DESC LIMIT :limit;
COMMIT;
