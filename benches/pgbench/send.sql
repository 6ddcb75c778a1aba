-- The floor for send_skill_message.
\set n random(0, :pairs - 1)
BEGIN;
SELECT set_config('app.current_tenant_id', tenant_id::text, true), tenant_id, user_id, other_user_id, skill_id, other_skill_id FROM bench_pairs WHERE n = :n \gset
INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message) VALUES (:tenant_id, :user_id, :other_user_id, :skill_id, :other_skill_id, 'Would you group this skill under yours?') RETURNING id, tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message, status, read_at, responded_at, created_at;
COMMIT;
