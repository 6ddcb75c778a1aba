-- Erasure that keeps the counterpart's history (`Erasure::Anonymise`): the
-- erased user's side of a message becomes NULL, which refers to no user, and
-- the text they wrote becomes a tombstone. Only the maintenance role may
-- write those columns; the runtime role's inserts still name both users (its
-- statements always do), and a message erased on both sides is deleted. (On
-- a Citus cluster DDL on the distributed table runs in a DO block.)
DO $$
DECLARE
    maintenance_role text := coalesce(nullif(current_setting('skill_messages.maintenance_role', true), ''),
                                      'skill_messages_maintenance');
BEGIN
    ALTER TABLE skill_messages ALTER COLUMN from_user_id DROP NOT NULL;
    ALTER TABLE skill_messages ALTER COLUMN to_user_id DROP NOT NULL;
    ALTER TABLE skill_messages ADD CONSTRAINT skill_messages_a_party_remains
        CHECK (from_user_id IS NOT NULL OR to_user_id IS NOT NULL);
    COMMENT ON COLUMN skill_messages.from_user_id IS
        'The sender, the only user who may withdraw it while it is pending; null once the sender was erased.';
    COMMENT ON COLUMN skill_messages.to_user_id IS
        'The recipient, the only user who may mark it read or unread, accept it or decline it; null once the recipient was erased.';
    EXECUTE format('GRANT UPDATE (from_user_id, to_user_id, message, proposed_parent_skill_id) '
                   'ON skill_messages TO %I', maintenance_role);
END
$$;
