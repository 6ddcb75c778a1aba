-- The maintenance role: what jobs that are not a tenant's request run as
-- (erasing a user, forgetting a skill, purging a tenant, the retention
-- sweep; README, "Data lifecycle"). It sees every tenant's messages through
-- a policy of its own, so that no tenant setting can be missing and no
-- statement of it silently affects 0 rows, and it may read, delete, and
-- update only what erasure clears. Its name comes from the session setting
-- `skill_messages.maintenance_role`, unset `skill_messages_maintenance`.
--
-- Beside them, the index of finished messages by when they finished, for the
-- retention sweep. On a Citus cluster DDL on the distributed table runs in a
-- DO block, where each statement has its own text.
DO $$
DECLARE
    maintenance_role text := coalesce(nullif(current_setting('skill_messages.maintenance_role', true), ''),
                                      'skill_messages_maintenance');
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = maintenance_role) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', maintenance_role);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'the maintenance role % does not exist, and % may not create it: a DBA creates it first (CREATE ROLE % NOLOGIN)',
                        maintenance_role, current_user, quote_ident(maintenance_role)
                    USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
    EXECUTE format('GRANT SELECT, DELETE ON skill_messages TO %I', maintenance_role);
    EXECUTE format('CREATE POLICY maintenance ON skill_messages TO %I USING (true) WITH CHECK (true)',
                   maintenance_role);
    CREATE INDEX skill_messages_finished_idx
        ON skill_messages (responded_at)
        WHERE status <> 'pending';
END
$$;
