-- The floor for update_message_status, opened as list.sql says: each
-- transaction accepts a different pending message, as mark_read.sql picks
-- them.
\set n :base + :client_id * :per_client + :i
\set i :i + 1
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, message_id, to_user_id FROM bench_pending WHERE n = :n \gset
UPDATE "skill_messages" SET "status" = :accepted, "responded_at" = CURRENT_TIMESTAMP, "read_at" = least("skill_messages"."read_at", greatest("skill_messages"."read_at", CURRENT_TIMESTAMP)) WHERE (((("skill_messages"."tenant_id" = :tenant_id) AND ("skill_messages"."id" = :message_id)) AND ("skill_messages"."to_user_id" = :to_user_id)) AND ("skill_messages"."status" = :pending)) RETURNING "skill_messages"."id", "skill_messages"."tenant_id", "skill_messages"."from_user_id", "skill_messages"."to_user_id", "skill_messages"."subject_skill_id", "skill_messages"."proposed_parent_skill_id", "skill_messages"."message", "skill_messages"."status", "skill_messages"."read_at", "skill_messages"."responded_at", "skill_messages"."created_at";
COMMIT;
