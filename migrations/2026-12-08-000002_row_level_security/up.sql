-- Tenant isolation enforced by PostgreSQL itself, with the names of this
-- deployment: the runtime role its scopes run as, and the setting its
-- policy reads the tenant from. `run_migrations` sets both for the session
-- (`skill_messages.runtime_role`, `skill_messages.tenant_setting`); unset,
-- they are `skill_messages_app` and `app.current_tenant_id`.
--
-- The table shows and accepts only the rows of the transaction's tenant.
-- Unset, the setting is NULL; after an earlier transaction set it locally,
-- it is ''. `nullif` turns both into NULL, which equals nothing: no rows, no
-- writes, no error. The policy is forced, so it binds the table's owner too:
-- only superusers and BYPASSRLS roles escape it.
DO $$
DECLARE
    runtime_role text := coalesce(nullif(current_setting('skill_messages.runtime_role', true), ''),
                                  'skill_messages_app');
    tenant_setting text := coalesce(nullif(current_setting('skill_messages.tenant_setting', true), ''),
                                    'app.current_tenant_id');
    tenant text;
BEGIN
    -- Roles belong to the whole cluster. Where the role exists (a DBA made
    -- it, or another database's migration did), nothing is created, and the
    -- migrating user needs no CREATEROLE.
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = runtime_role) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', runtime_role);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'the runtime role % does not exist, and % may not create it: a DBA creates it first (CREATE ROLE % NOLOGIN)',
                        runtime_role, current_user, quote_ident(runtime_role)
                    USING ERRCODE = 'insufficient_privilege';
        END;
    END IF;
    -- What the service needs of its own table, and nothing else: no DELETE,
    -- no TRUNCATE, no ownership; inserts and updates only of the columns the
    -- service writes. (Citus computes column defaults on the coordinator and
    -- sends them to the shards as values: there the role inserts those too.)
    EXECUTE format('GRANT SELECT ON skill_messages TO %I', runtime_role);
    EXECUTE format('GRANT INSERT (id, tenant_id, from_user_id, to_user_id, subject_skill_id, '
                   'proposed_parent_skill_id, message) ON skill_messages TO %I', runtime_role);
    EXECUTE format('GRANT UPDATE (status, read_at, responded_at) ON skill_messages TO %I',
                   runtime_role);
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        EXECUTE format('GRANT INSERT (status, created_at) ON skill_messages TO %I', runtime_role);
    END IF;

    ALTER TABLE skill_messages ENABLE ROW LEVEL SECURITY;
    ALTER TABLE skill_messages FORCE ROW LEVEL SECURITY;
    tenant := format('(nullif(current_setting(%L, true), '''')::uuid)', tenant_setting);
    EXECUTE format('CREATE POLICY tenant_isolation ON skill_messages USING (tenant_id = %s) '
                   'WITH CHECK (tenant_id = %s)', tenant, tenant);
END
$$;
