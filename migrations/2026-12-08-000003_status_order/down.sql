-- Citus drops a trigger of a distributed table (on every shard) only when
-- asked to, as it creates one, and then drops the function only if the
-- shards were not reached in parallel.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.enable_unsafe_triggers = on;
        SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
    END IF;
    DROP TRIGGER skill_messages_status_order ON skill_messages;
END
$$;
DROP FUNCTION skill_messages_keep_status_order();
