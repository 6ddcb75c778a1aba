-- Fails, naming the column, while a message of an erased user is kept: the
-- column cannot be NOT NULL again before the maintenance role deletes them.
DO $$
DECLARE
    maintenance_role text := coalesce(nullif(current_setting('skill_messages.maintenance_role', true), ''),
                                      'skill_messages_maintenance');
BEGIN
    EXECUTE format('REVOKE UPDATE (from_user_id, to_user_id, message, proposed_parent_skill_id) '
                   'ON skill_messages FROM %I', maintenance_role);
    ALTER TABLE skill_messages DROP CONSTRAINT skill_messages_a_party_remains;
    ALTER TABLE skill_messages ALTER COLUMN from_user_id SET NOT NULL;
    ALTER TABLE skill_messages ALTER COLUMN to_user_id SET NOT NULL;
    COMMENT ON COLUMN skill_messages.from_user_id IS 'The sender, the only user who may withdraw it while it is pending.';
    COMMENT ON COLUMN skill_messages.to_user_id IS 'The recipient, the only user who may mark it read, accept it or decline it.';
END
$$;
