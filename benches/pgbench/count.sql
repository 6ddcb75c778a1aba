-- The floor for get_unread_count_for_user, opened as list.sql says.
\set n random(0, :pairs - 1)
\set one 1
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), tenant_id, user_id FROM bench_pairs WHERE n = :n \gset
SELECT EXISTS (SELECT "users"."id", "users"."tenant_id", "users"."email", "users"."display_name", "users"."created_at" FROM "users" WHERE (("users"."tenant_id" = :tenant_id) AND ("users"."id" = :user_id))), (SELECT COUNT(*) FROM "skill_messages" WHERE ((("skill_messages"."tenant_id" = :tenant_id) AND ("skill_messages"."to_user_id" = :user_id)) AND ("skill_messages"."read_at" IS NULL)) LIMIT :one);
COMMIT;
