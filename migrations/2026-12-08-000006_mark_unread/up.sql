-- Mark as unread: the recipient may clear `read_at`, and a later read sets
-- it anew. A `read_at` that is set still never moves to another time: it
-- is cleared, or it stays.
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
        IF OLD.read_at IS NOT NULL AND NEW.read_at IS NOT NULL AND NEW.read_at <> OLD.read_at THEN
            RAISE EXCEPTION 'skill message % was read at %, which cannot move (skill_messages_status_order)', OLD.id, OLD.read_at
                USING ERRCODE = 'check_violation', CONSTRAINT = 'skill_messages_status_order',
                      TABLE = TG_TABLE_NAME, SCHEMA = TG_TABLE_SCHEMA;
        END IF;
        RETURN NEW;
    END
    $fn$;

    COMMENT ON COLUMN skill_messages.read_at IS
        'When the recipient read it; unread while null. Once set it never moves: marking it unread clears it, and a later read sets it anew.';
END
$$;
