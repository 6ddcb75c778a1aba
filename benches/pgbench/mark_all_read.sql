-- The floor for mark_all_read, opened as list.sql says: each transaction
-- marks read every unread message of a different digest user (seeded with
-- exactly four, all unread) up to the seeding's time, the position of
-- Cursor::up_to (that time, and the largest id); the users picked as
-- mark_read.sql picks its messages.
\set n :base + :client_id * :per_client + :i
\set i :i + 1
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, user_id, up_to FROM bench_digest WHERE n = :n \gset
UPDATE "skill_messages" SET "read_at" = CURRENT_TIMESTAMP WHERE (((("skill_messages"."tenant_id" = :tenant_id) AND ("skill_messages"."to_user_id" = :user_id)) AND ("skill_messages"."read_at" IS NULL)) AND ("skill_messages"."created_at", "skill_messages"."id") <= (:up_to, :max_id)) RETURNING "skill_messages"."id";
COMMIT;
