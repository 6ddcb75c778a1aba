-- The floor for the async face's one-call get_unread_count_for_user: the
-- transaction of ../count.sql in one pipeline, as list.sql says.
\set n random(0, :pairs - 1)
\if :prepared = 0
PREPARE bench_statement AS SELECT EXISTS (SELECT "users"."id", "users"."tenant_id", "users"."email", "users"."display_name", "users"."created_at" FROM "users" WHERE (("users"."tenant_id" = $1) AND ("users"."id" = $2))), (SELECT COUNT(*) FROM "skill_messages" WHERE ((("skill_messages"."tenant_id" = $3) AND ("skill_messages"."to_user_id" = $4)) AND ("skill_messages"."read_at" IS NULL)) LIMIT $5);
\set prepared 1
\endif
\startpipeline
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), set_config('search_path', :search_path, true), set_config('statement_timeout', :statement_timeout, true), set_config('role', 'skill_messages_app', true), set_config('bench.user_id', user_id::text, true) FROM bench_pairs WHERE n = :n;
EXECUTE bench_statement(current_setting('app.current_tenant_id')::uuid, current_setting('bench.user_id')::uuid, current_setting('app.current_tenant_id')::uuid, current_setting('bench.user_id')::uuid, 1);
COMMIT;
\endpipeline
