-- Back to keys on `id` alone, and on a Citus cluster to local tables.

DO $$
DECLARE
    citus boolean := EXISTS (SELECT FROM pg_extension WHERE extname = 'citus');
    kept record;
BEGIN
    IF citus THEN
        SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
    END IF;
    ALTER TABLE skill_messages
        DROP CONSTRAINT skill_messages_tenant_id_fkey,
        DROP CONSTRAINT skill_messages_from_user_fkey,
        DROP CONSTRAINT skill_messages_to_user_fkey,
        DROP CONSTRAINT skill_messages_subject_skill_fkey,
        DROP CONSTRAINT skill_messages_proposed_parent_skill_fkey;
    ALTER TABLE skills
        DROP CONSTRAINT skills_tenant_id_fkey,
        DROP CONSTRAINT skills_author_fkey;
    ALTER TABLE users DROP CONSTRAINT users_tenant_id_fkey;

    IF citus THEN
        REVOKE INSERT (status, created_at) ON skill_messages FROM skill_messages_app;
        -- undistribute_table makes each table anew, without the comments
        -- on it and its columns: keep them, and comment again.
        CREATE TEMP TABLE kept_comments ON COMMIT DROP AS
            SELECT c.relname, a.attname, d.description
            FROM pg_description d
            JOIN pg_class c ON c.oid = d.objoid
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
            WHERE d.classoid = 'pg_class'::regclass
              AND c.oid IN ('tenants'::regclass, 'users'::regclass, 'skills'::regclass,
                            'skill_messages'::regclass);
        PERFORM undistribute_table('skill_messages');
        PERFORM undistribute_table('skills');
        PERFORM undistribute_table('users');
        PERFORM undistribute_table('tenants');
        FOR kept IN SELECT * FROM kept_comments LOOP
            IF kept.attname IS NULL THEN
                EXECUTE format('COMMENT ON TABLE %I IS %L', kept.relname, kept.description);
            ELSE
                EXECUTE format('COMMENT ON COLUMN %I.%I IS %L',
                               kept.relname, kept.attname, kept.description);
            END IF;
        END LOOP;
    END IF;
END
$$;

REVOKE INSERT (id) ON skill_messages FROM skill_messages_app;

ALTER TABLE users
    DROP CONSTRAINT users_pkey,
    ADD CONSTRAINT users_pkey PRIMARY KEY (id),
    ADD CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id),
    ADD CONSTRAINT users_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE;

ALTER TABLE skills
    DROP CONSTRAINT skills_pkey,
    ADD CONSTRAINT skills_pkey PRIMARY KEY (id),
    ADD CONSTRAINT skills_tenant_id_id_key UNIQUE (tenant_id, id),
    ADD CONSTRAINT skills_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    ADD CONSTRAINT skills_author_fkey
        FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id);

ALTER TABLE skill_messages
    DROP CONSTRAINT skill_messages_pkey,
    ADD CONSTRAINT skill_messages_pkey PRIMARY KEY (id),
    ADD CONSTRAINT skill_messages_tenant_id_fkey
        FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    ADD CONSTRAINT skill_messages_from_user_fkey
        FOREIGN KEY (tenant_id, from_user_id) REFERENCES users (tenant_id, id),
    ADD CONSTRAINT skill_messages_to_user_fkey
        FOREIGN KEY (tenant_id, to_user_id) REFERENCES users (tenant_id, id),
    ADD CONSTRAINT skill_messages_subject_skill_fkey
        FOREIGN KEY (tenant_id, subject_skill_id) REFERENCES skills (tenant_id, id),
    ADD CONSTRAINT skill_messages_proposed_parent_skill_fkey
        FOREIGN KEY (tenant_id, proposed_parent_skill_id) REFERENCES skills (tenant_id, id);
