-- Back to a read_at that, once set, never changes; a message marked unread
-- since is simply unread.
-- (On a Citus cluster, DDL runs in a DO block.)
DO $$
BEGIN
    CREATE OR REPLACE FUNCTION skill_messages_keep_status_order() RETURNS trigger
    LANGUAGE plpgsql AS $fn$
    BEGIN
        IF OLD.status <> 'pending' AND NEW.status <> OLD.status THEN
            RAISE EXCEPTION 'skill message % is %, and cannot become % (skill_messages_status_order)', OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'skill_messages_status_order',
                      TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
        END IF;
        IF OLD.responded_at IS NOT NULL AND NEW.responded_at IS DISTINCT FROM OLD.responded_at THEN
            RAISE EXCEPTION 'skill message % was answered or withdrawn at %, which cannot change (skill_messages_status_order)',
                    OLD.id, OLD.responded_at
                USING ERRCODE = 'check_violation', CONSTRAINT = 'skill_messages_status_order',
                      TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
        END IF;
        IF OLD.read_at IS NOT NULL AND NEW.read_at IS DISTINCT FROM OLD.read_at THEN
            RAISE EXCEPTION 'skill message % was read at %, which cannot change (skill_messages_status_order)', OLD.id, OLD.read_at
                USING ERRCODE = 'check_violation', CONSTRAINT = 'skill_messages_status_order',
                      TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
        END IF;
        RETURN NEW;
    END
    $fn$;

    COMMENT ON COLUMN skill_messages.read_at IS 'When the recipient first read it; unread while null, and never changes once set.';
END
$$;
