-- The role stays: it belongs to the cluster, and may serve other databases.
DO $$
DECLARE
    runtime_role text := coalesce(nullif(current_setting('skill_messages.runtime_role', true), ''),
                                  'skill_messages_app');
BEGIN
    DROP POLICY tenant_isolation ON skill_messages;
    ALTER TABLE skill_messages NO FORCE ROW LEVEL SECURITY;
    ALTER TABLE skill_messages DISABLE ROW LEVEL SECURITY;
    -- Revoking the table's privileges revokes its column privileges too.
    EXECUTE format('REVOKE ALL ON skill_messages FROM %I', runtime_role);
END
$$;
