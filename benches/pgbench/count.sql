-- The floor for get_unread_count_for_user.
\set n random(0, :pairs - 1)
BEGIN;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), user_id FROM bench_pairs WHERE n = :n \gset
SELECT EXISTS (SELECT id FROM users WHERE id = :user_id), (SELECT count(*) FROM skill_messages WHERE to_user_id = :user_id AND read_at IS NULL);
COMMIT;
