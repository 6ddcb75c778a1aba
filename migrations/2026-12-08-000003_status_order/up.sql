-- The status order, kept by the database whoever writes: a proposal is
-- pending until its recipient accepts or declines it or its sender withdraws
-- it, and then never changes again. `responded_at` is set exactly when it
-- leaves pending (the check skill_messages_responded_at_iff_responded) and
-- never changes after; `read_at`, once set, never changes.
--
-- A change against the order fails with a check violation naming the
-- constraint skill_messages_status_order, as a CHECK would, and naming it in
-- its message too (Citus relays a worker's message but not the constraint
-- field): a CHECK sees only the new row, so a trigger compares it with the
-- old one.

CREATE FUNCTION skill_messages_keep_status_order() RETURNS trigger
LANGUAGE plpgsql AS $$
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
$$;

COMMENT ON FUNCTION skill_messages_keep_status_order() IS
    'Refuses an update of a skill message against the status order: see the trigger skill_messages_status_order.';

-- Citus creates triggers on distributed tables (on every shard, where the
-- rows are) only when asked to; this one reads nothing but the row.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.enable_unsafe_triggers = on;
    END IF;
    CREATE TRIGGER skill_messages_status_order
        BEFORE UPDATE ON skill_messages
        FOR EACH ROW EXECUTE FUNCTION skill_messages_keep_status_order();
END
$$;
