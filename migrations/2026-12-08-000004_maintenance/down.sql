-- The role stays: it belongs to the cluster, and may serve other databases.
DO $$
DECLARE
    maintenance_role text := coalesce(nullif(current_setting('skill_messages.maintenance_role', true), ''),
                                      'skill_messages_maintenance');
BEGIN
    DROP INDEX skill_messages_finished_idx;
    DROP POLICY maintenance ON skill_messages;
    -- Revoking the table's privileges revokes its column privileges too.
    EXECUTE format('REVOKE ALL ON skill_messages FROM %I', maintenance_role);
END
$$;
