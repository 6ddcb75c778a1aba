-- The floor for get_messages_for_user (first page of 20, and one more row to
-- know whether a page follows): the same transaction as four statements.
-- Run by benches/service.rs; see BENCHMARKS.md.
\set n random(0, :pairs - 1)
BEGIN;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), user_id FROM bench_pairs WHERE n = :n \gset
SELECT id, tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message, status, read_at, responded_at, created_at FROM skill_messages WHERE to_user_id = :user_id ORDER BY created_at DESC, id DESC LIMIT 21;
COMMIT;
