-- A stand-in for the platform's own tables, for standing alone: the
-- quickstart, the tests and `docker compose`. A platform that adopts skill
-- messages has its own tenants, users and skills, and runs none of this (see
-- README, "Adding skill messages to an existing platform"). It provides what
-- the crate needs of a platform, and a little more (emails, slugs, times):
-- keys `(tenant_id, id)` led by the tenant, a display name, a skill's name
-- and author; and, as a platform does, it lets the crate's runtime role read
-- those columns, creating the role if it is missing. Its own tenancy is a
-- policy per table on the crate's tenant setting, enabled but not forced:
-- the tables' owner (the platform's migrations and administration) is not
-- bound by it, every other role is.
--
-- `reference_platform::run_migrations` sets the runtime role's and the
-- setting's names for the session (`skill_messages.runtime_role`,
-- `skill_messages.tenant_setting`); unset, they are `skill_messages_app`
-- and `app.current_tenant_id`.

CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE users (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    email text NOT NULL,
    display_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email)
);

CREATE TABLE skills (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    author_id uuid NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT skills_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT skills_tenant_id_slug_key UNIQUE (tenant_id, slug)
);

CREATE INDEX skills_tenant_id_author_id_idx ON skills (tenant_id, author_id);

COMMENT ON TABLE tenants IS 'An organisation on the platform (the reference platform''s stand-in).';
COMMENT ON COLUMN tenants.id IS 'The tenant''s id, the value of the tenant setting in its transactions.';
COMMENT ON COLUMN tenants.name IS 'Display name.';
COMMENT ON COLUMN tenants.slug IS 'Unique short name.';
COMMENT ON COLUMN tenants.created_at IS 'When the tenant was created.';
COMMENT ON TABLE users IS 'A person in one tenant (the reference platform''s stand-in).';
COMMENT ON COLUMN users.id IS 'The user''s id.';
COMMENT ON COLUMN users.tenant_id IS 'The tenant the user belongs to.';
COMMENT ON COLUMN users.email IS 'Email address, unique within the tenant.';
COMMENT ON COLUMN users.display_name IS 'Name shown to other users.';
COMMENT ON COLUMN users.created_at IS 'When the user was created.';
COMMENT ON TABLE skills IS 'A skill written by one user of a tenant (the reference platform''s stand-in).';
COMMENT ON COLUMN skills.id IS 'The skill''s id.';
COMMENT ON COLUMN skills.tenant_id IS 'The tenant the skill belongs to.';
COMMENT ON COLUMN skills.author_id IS 'The user who wrote the skill, in the same tenant.';
COMMENT ON COLUMN skills.name IS 'Display name.';
COMMENT ON COLUMN skills.slug IS 'Short name, unique within the tenant.';
COMMENT ON COLUMN skills.created_at IS 'When the skill was created.';

DO $$
DECLARE
    runtime_role text := coalesce(nullif(current_setting('skill_messages.runtime_role', true), ''),
                                  'skill_messages_app');
    tenant_setting text := coalesce(nullif(current_setting('skill_messages.tenant_setting', true), ''),
                                    'app.current_tenant_id');
    tenant text;
BEGIN
    -- On a Citus cluster, the platform's tables as the crate needs them:
    -- tenants a reference table, users and skills distributed by tenant.
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
        PERFORM create_reference_table('tenants');
        PERFORM create_distributed_table('users', 'tenant_id');
        PERFORM create_distributed_table('skills', 'tenant_id', colocate_with => 'users');
    END IF;
    ALTER TABLE users ADD CONSTRAINT users_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
    ALTER TABLE skills ADD CONSTRAINT skills_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
    ALTER TABLE skills ADD CONSTRAINT skills_author_fkey
        FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id);

    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = runtime_role) THEN
        BEGIN
            EXECUTE format('CREATE ROLE %I NOLOGIN', runtime_role);
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    EXECUTE format('GRANT SELECT (id) ON tenants TO %I', runtime_role);
    EXECUTE format('GRANT SELECT (tenant_id, id, display_name) ON users TO %I', runtime_role);
    EXECUTE format('GRANT SELECT (tenant_id, id, author_id, name) ON skills TO %I', runtime_role);

    tenant := format('(nullif(current_setting(%L, true), '''')::uuid)', tenant_setting);
    ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
    EXECUTE format('CREATE POLICY tenant_isolation ON tenants USING (id = %s) WITH CHECK (id = %s)',
                   tenant, tenant);
    ALTER TABLE users ENABLE ROW LEVEL SECURITY;
    EXECUTE format('CREATE POLICY tenant_isolation ON users USING (tenant_id = %s) '
                   'WITH CHECK (tenant_id = %s)', tenant, tenant);
    ALTER TABLE skills ENABLE ROW LEVEL SECURITY;
    EXECUTE format('CREATE POLICY tenant_isolation ON skills USING (tenant_id = %s) '
                   'WITH CHECK (tenant_id = %s)', tenant, tenant);
END
$$;
