-- A database of skill-messages 1.x, taken over by 2.0: its migrations made
-- the crate's objects, exactly as 2.0's do, and the tables tenants, users
-- and skills, which 2.0 leaves to the platform. Those become the reference
-- platform's, as its migration makes them: their policies no longer bind
-- their owner, and the runtime role reads only the columns the crate needs.
-- No row moves. Runs in the transaction that moves the history.
DO $$
DECLARE
    runtime_role text := coalesce(nullif(current_setting('skill_messages.runtime_role', true), ''),
                                  'skill_messages_app');
BEGIN
    ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
    ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
    ALTER TABLE skills NO FORCE ROW LEVEL SECURITY;
    EXECUTE format('REVOKE SELECT ON tenants, users, skills FROM %I', runtime_role);
    EXECUTE format('GRANT SELECT (id) ON tenants TO %I', runtime_role);
    EXECUTE format('GRANT SELECT (tenant_id, id, display_name) ON users TO %I', runtime_role);
    EXECUTE format('GRANT SELECT (tenant_id, id, author_id, name) ON skills TO %I', runtime_role);
    COMMENT ON TABLE tenants IS 'An organisation on the platform (the reference platform''s stand-in).';
    COMMENT ON COLUMN tenants.id IS 'The tenant''s id, the value of the tenant setting in its transactions.';
    COMMENT ON TABLE users IS 'A person in one tenant (the reference platform''s stand-in).';
    COMMENT ON TABLE skills IS 'A skill written by one user of a tenant (the reference platform''s stand-in).';
END
$$;

-- The column comments as 1.1 left them (1.0 had older ones).
COMMENT ON TYPE skill_message_status IS
    'Where a proposal stands: pending, then accepted or declined by its recipient or withdrawn by its sender, for good.';
COMMENT ON COLUMN skill_messages.status IS
    'Pending until the recipient accepts or declines it or the sender withdraws it; never changes after.';
COMMENT ON COLUMN skill_messages.responded_at IS
    'When the recipient accepted or declined it or the sender withdrew it; null exactly while pending, and never changes after.';
COMMENT ON COLUMN skill_messages.read_at IS
    'When the recipient first read it; unread while null, and never changes once set.';
COMMENT ON COLUMN skill_messages.to_user_id IS
    'The recipient, the only user who may mark it read, accept it or decline it.';
COMMENT ON COLUMN skill_messages.from_user_id IS
    'The sender, the only user who may withdraw it while it is pending.';
