-- The floor for get_sent_messages_for_user (first page of 20, and one more
-- row to know whether a page follows), opened as list.sql says: a random
-- user's sent messages.
\set n random(0, :pairs - 1)
\set limit 21
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, user_id FROM bench_pairs WHERE n = :n \gset
SELECT "skill_messages"."id", "skill_messages"."tenant_id", "skill_messages"."from_user_id", "skill_messages"."to_user_id", "skill_messages"."subject_skill_id", "skill_messages"."proposed_parent_skill_id", "skill_messages"."message", "skill_messages"."status", "skill_messages"."read_at", "skill_messages"."responded_at", "skill_messages"."created_at" FROM "skill_messages" WHERE (("skill_messages"."tenant_id" = :tenant_id) AND ("skill_messages"."from_user_id" = :user_id)) ORDER BY "skill_messages"."created_at" DESC, "skill_messages"."id" DESC LIMIT :limit;
COMMIT;
