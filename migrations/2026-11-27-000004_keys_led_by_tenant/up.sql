-- Keys led by the tenant, and on a Citus cluster the tables distributed by it.
--
-- Every primary key of a table that belongs to a tenant becomes
-- `(tenant_id, id)`, the key the foreign keys already use, so that Citus can
-- shard `users`, `skills` and `skill_messages` by `tenant_id` and keep each
-- tenant's rows, and every statement about them, on one shard. On plain
-- PostgreSQL the keys change and nothing else does.
--
-- Citus forwards the whole text of a multi-statement string to the workers for
-- some DDL on distributed tables, so every statement after the distribution is
-- inside a DO block, where each runs with its own text.

ALTER TABLE skill_messages
    DROP CONSTRAINT skill_messages_tenant_id_fkey,
    DROP CONSTRAINT skill_messages_from_user_fkey,
    DROP CONSTRAINT skill_messages_to_user_fkey,
    DROP CONSTRAINT skill_messages_subject_skill_fkey,
    DROP CONSTRAINT skill_messages_proposed_parent_skill_fkey,
    DROP CONSTRAINT skill_messages_pkey,
    ADD CONSTRAINT skill_messages_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE skills
    DROP CONSTRAINT skills_tenant_id_fkey,
    DROP CONSTRAINT skills_author_fkey,
    DROP CONSTRAINT skills_pkey,
    DROP CONSTRAINT skills_tenant_id_id_key,
    ADD CONSTRAINT skills_pkey PRIMARY KEY (tenant_id, id);

ALTER TABLE users
    DROP CONSTRAINT users_tenant_id_fkey,
    DROP CONSTRAINT users_pkey,
    DROP CONSTRAINT users_tenant_id_id_key,
    ADD CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id);

-- The service now gives each message its id (a UUIDv7, in time order).
GRANT INSERT (id) ON skill_messages TO skill_messages_app;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        -- Foreign keys to a reference table need one connection per node.
        SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
        PERFORM create_reference_table('tenants');
        PERFORM create_distributed_table('users', 'tenant_id');
        PERFORM create_distributed_table('skills', 'tenant_id', colocate_with => 'users');
        PERFORM create_distributed_table('skill_messages', 'tenant_id', colocate_with => 'users');
        -- Citus computes column defaults on the coordinator and sends them to
        -- the shards as values, so the role inserts those columns too.
        GRANT INSERT (status, created_at) ON skill_messages TO skill_messages_app;
    END IF;

    ALTER TABLE users ADD CONSTRAINT users_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
    ALTER TABLE skills ADD CONSTRAINT skills_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
    ALTER TABLE skills ADD CONSTRAINT skills_author_fkey
        FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id);
    ALTER TABLE skill_messages ADD CONSTRAINT skill_messages_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;
    ALTER TABLE skill_messages ADD CONSTRAINT skill_messages_from_user_fkey
        FOREIGN KEY (tenant_id, from_user_id) REFERENCES users (tenant_id, id);
    ALTER TABLE skill_messages ADD CONSTRAINT skill_messages_to_user_fkey
        FOREIGN KEY (tenant_id, to_user_id) REFERENCES users (tenant_id, id);
    ALTER TABLE skill_messages ADD CONSTRAINT skill_messages_subject_skill_fkey
        FOREIGN KEY (tenant_id, subject_skill_id) REFERENCES skills (tenant_id, id);
    ALTER TABLE skill_messages ADD CONSTRAINT skill_messages_proposed_parent_skill_fkey
        FOREIGN KEY (tenant_id, proposed_parent_skill_id) REFERENCES skills (tenant_id, id);
END
$$;
