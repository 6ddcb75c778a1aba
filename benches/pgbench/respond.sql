-- The floor for update_message_status, opened as list.sql says: each
-- transaction accepts a different pending message, as mark_read.sql picks
-- them.
\set n :base + :client_id * :per_client + :i
\set i :i + 1
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, message_id, to_user_id FROM bench_pending WHERE n = :n \gset
UPDATE skill_messages SET status = :accepted, responded_at = CURRENT_TIMESTAMP, read_at = coalesce(read_at, CURRENT_TIMESTAMP) WHERE tenant_id = :tenant_id AND id = :message_id AND to_user_id = :to_user_id AND status = :pending RETURNING id, tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message, status, read_at, responded_at, created_at;
COMMIT;
