DO $$
BEGIN
    DROP INDEX skill_messages_one_pending_per_pair;
END
$$;
