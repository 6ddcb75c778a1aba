-- Tenant isolation enforced by PostgreSQL itself.
--
-- Each table shows and accepts only the rows of the transaction's tenant, read
-- from the setting `app.current_tenant_id`. Unset, the setting is NULL; after
-- an earlier transaction set it locally, it is ''. `nullif` turns both into
-- NULL, which equals nothing: no rows, no writes, no error.
--
-- The policies are forced, so they bind the tables' owner too. Only superusers
-- and BYPASSRLS roles escape them: services run as `skill_messages_app`.

-- Roles belong to the whole cluster: create the runtime role once, and let a
-- concurrent migration of another database win the race quietly.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'skill_messages_app') THEN
        CREATE ROLE skill_messages_app NOLOGIN;
    END IF;
EXCEPTION
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- What the service needs, and nothing else: no DELETE, no TRUNCATE, no
-- ownership; inserts and updates only of the columns the service writes.
GRANT SELECT ON tenants, users, skills, skill_messages TO skill_messages_app;
GRANT INSERT (tenant_id, from_user_id, to_user_id, subject_skill_id, proposed_parent_skill_id, message)
    ON skill_messages TO skill_messages_app;
GRANT UPDATE (status, read_at, responded_at) ON skill_messages TO skill_messages_app;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    WITH CHECK (id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

ALTER TABLE skills ENABLE ROW LEVEL SECURITY;
ALTER TABLE skills FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON skills
    USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);

ALTER TABLE skill_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE skill_messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON skill_messages
    USING (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid);
