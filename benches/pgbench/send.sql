-- The floor for send_skill_message, opened as list.sql says: the row is
-- inserted only if both users and both skills are the tenant's. The casts
-- give the selected values the types the crate binds them with.
\set n random(0, :pairs - 1)
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, user_id, other_user_id, skill_id, other_skill_id FROM bench_pairs WHERE n = :n \gset
INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message) SELECT :tenant_id::uuid, :user_id::uuid, :other_user_id::uuid, :skill_id::uuid, :other_skill_id::uuid, :message::text WHERE EXISTS (SELECT id, tenant_id, email, display_name, created_at FROM users WHERE tenant_id = :tenant_id AND id = :user_id) AND EXISTS (SELECT id, tenant_id, email, display_name, created_at FROM users WHERE tenant_id = :tenant_id AND id = :other_user_id) AND EXISTS (SELECT id, tenant_id, author_id, name, slug, created_at FROM skills WHERE tenant_id = :tenant_id AND id = :skill_id) AND EXISTS (SELECT id, tenant_id, author_id, name, slug, created_at FROM skills WHERE tenant_id = :tenant_id AND id = :other_skill_id) RETURNING id, tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message, status, read_at, responded_at, created_at;
COMMIT;
