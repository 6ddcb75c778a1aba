-- The floor for update_message_status: each transaction accepts a different
-- pending message, as mark_read.sql picks them.
\set n :base + :client_id * :per_client + :i
\set i :i + 1
BEGIN;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), message_id, to_user_id FROM bench_pending WHERE n = :n \gset
UPDATE skill_messages SET status = 'accepted', responded_at = now(), read_at = coalesce(read_at, now()) WHERE id = :message_id AND to_user_id = :to_user_id AND status = 'pending' RETURNING id, tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message, status, read_at, responded_at, created_at;
COMMIT;
