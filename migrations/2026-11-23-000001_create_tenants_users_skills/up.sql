-- The tables a skill message refers to. Every row carries its tenant, and
-- `users` and `skills` expose `(tenant_id, id)` as a key so that rows of other
-- tables can only refer to them within the same tenant.

CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

COMMENT ON TABLE tenants IS 'An organisation on the skills platform; every other row belongs to exactly one tenant.';
COMMENT ON COLUMN tenants.id IS 'The tenant''s id, the value of `app.current_tenant_id` in its transactions.';
COMMENT ON COLUMN tenants.name IS 'Display name.';
COMMENT ON COLUMN tenants.slug IS 'Unique short name.';
COMMENT ON COLUMN tenants.created_at IS 'When the tenant was created.';

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email text NOT NULL,
    display_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_tenant_id_email_key UNIQUE (tenant_id, email),
    CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id)
);

COMMENT ON TABLE users IS 'A person in one tenant: a skill author, a message sender or recipient.';
COMMENT ON COLUMN users.id IS 'The user''s id.';
COMMENT ON COLUMN users.tenant_id IS 'The tenant the user belongs to.';
COMMENT ON COLUMN users.email IS 'Email address, unique within the tenant.';
COMMENT ON COLUMN users.display_name IS 'Name shown to other users.';
COMMENT ON COLUMN users.created_at IS 'When the user was created.';

CREATE TABLE skills (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    author_id uuid NOT NULL,
    name text NOT NULL,
    slug text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT skills_author_fkey FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id),
    CONSTRAINT skills_tenant_id_slug_key UNIQUE (tenant_id, slug),
    CONSTRAINT skills_tenant_id_id_key UNIQUE (tenant_id, id)
);

CREATE INDEX skills_tenant_id_author_id_idx ON skills (tenant_id, author_id);

COMMENT ON TABLE skills IS 'A skill published by one author of a tenant.';
COMMENT ON COLUMN skills.id IS 'The skill''s id.';
COMMENT ON COLUMN skills.tenant_id IS 'The tenant the skill belongs to.';
COMMENT ON COLUMN skills.author_id IS 'The user who wrote the skill, in the same tenant.';
COMMENT ON COLUMN skills.name IS 'Display name.';
COMMENT ON COLUMN skills.slug IS 'Short name, unique within the tenant.';
COMMENT ON COLUMN skills.created_at IS 'When the skill was created.';
