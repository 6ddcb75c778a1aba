-- PostgreSQL cannot drop a value of an enum: make the type anew without it,
-- which is only possible while no message is withdrawn. The comment on the
-- type and the check on the status are kept as they are.
DO $$
DECLARE
    withdrawn bigint;
    type_comment text := obj_description('skill_message_status'::regtype, 'pg_type');
    status_check text := (
        SELECT pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = 'skill_messages'::regclass
          AND conname = 'skill_messages_responded_at_iff_responded'
    );
BEGIN
    -- On Citus, the type's commands may not follow a parallel query on the
    -- distributed table in one transaction.
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
    END IF;
    SELECT count(*) INTO withdrawn FROM skill_messages WHERE status::text = 'withdrawn';
    IF withdrawn > 0 THEN
        RAISE EXCEPTION 'cannot revert the withdrawn status: % skill messages are withdrawn',
            withdrawn
            USING HINT = 'Answer or delete those messages first: reverting would lose their status.';
    END IF;
    ALTER TABLE skill_messages DROP CONSTRAINT skill_messages_responded_at_iff_responded;
    ALTER TABLE skill_messages ALTER COLUMN status DROP DEFAULT;
    ALTER TYPE skill_message_status RENAME TO skill_message_status_with_withdrawn;
    CREATE TYPE skill_message_status AS ENUM ('pending', 'accepted', 'declined');
    EXECUTE format('COMMENT ON TYPE skill_message_status IS %L', type_comment);
    ALTER TABLE skill_messages ALTER COLUMN status TYPE skill_message_status
        USING status::text::skill_message_status;
    ALTER TABLE skill_messages ALTER COLUMN status SET DEFAULT 'pending';
    EXECUTE format(
        'ALTER TABLE skill_messages ADD CONSTRAINT skill_messages_responded_at_iff_responded %s',
        status_check
    );
    DROP TYPE skill_message_status_with_withdrawn;
END
$$;
