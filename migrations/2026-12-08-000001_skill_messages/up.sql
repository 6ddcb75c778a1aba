-- Skill messages: one author proposes to another to group a skill under a
-- parent skill. The platform owns its tenants, users and skills (README,
-- "Adding skill messages to an existing platform", says what the crate needs
-- of them); this table refers to them only by composite keys `(tenant_id,
-- x)`, so that a message can never point at another tenant's user or skill,
-- whoever writes it. Its own key is led by `tenant_id`, which is what a Citus
-- cluster shards by.

CREATE TYPE skill_message_status AS ENUM ('pending', 'accepted', 'declined', 'withdrawn');

COMMENT ON TYPE skill_message_status IS
    'Where a proposal stands: pending, then accepted or declined by its recipient or withdrawn by its sender, for good.';

CREATE TABLE skill_messages (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    from_user_id uuid NOT NULL,
    to_user_id uuid NOT NULL,
    subject_skill_id uuid NOT NULL,
    proposed_parent_skill_id uuid,
    message text NOT NULL,
    status skill_message_status NOT NULL DEFAULT 'pending',
    read_at timestamptz,
    responded_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT skill_messages_pkey PRIMARY KEY (tenant_id, id),
    -- 1 to 4000 characters once Unicode white space (Rust's `str::trim`) is
    -- trimmed from both ends.
    CONSTRAINT skill_messages_message_length CHECK (
        char_length(btrim(message, U&' \0009\000A\000B\000C\000D\0085\00A0\1680\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2028\2029\202F\205F\3000'))
            BETWEEN 1 AND 4000
    ),
    CONSTRAINT skill_messages_not_to_self CHECK (from_user_id <> to_user_id),
    CONSTRAINT skill_messages_parent_not_subject CHECK (
        proposed_parent_skill_id IS NULL OR proposed_parent_skill_id <> subject_skill_id
    ),
    CONSTRAINT skill_messages_responded_at_iff_responded CHECK (
        (status = 'pending') = (responded_at IS NULL)
    )
);

-- A user's inbox, newest first; also the index of the recipient foreign key.
CREATE INDEX skill_messages_inbox_idx
    ON skill_messages (tenant_id, to_user_id, created_at DESC, id DESC);
-- Unread messages only: the unread count and the unread-only inbox.
CREATE INDEX skill_messages_unread_idx
    ON skill_messages (tenant_id, to_user_id, created_at DESC, id DESC)
    WHERE read_at IS NULL;
-- Messages a user sent; also the index of the sender foreign key.
CREATE INDEX skill_messages_sent_idx
    ON skill_messages (tenant_id, from_user_id, created_at DESC, id DESC);
CREATE INDEX skill_messages_subject_skill_idx
    ON skill_messages (tenant_id, subject_skill_id);
CREATE INDEX skill_messages_proposed_parent_skill_idx
    ON skill_messages (tenant_id, proposed_parent_skill_id);

COMMENT ON TABLE skill_messages IS 'A proposal from one author to another to group a skill under a parent skill.';
COMMENT ON COLUMN skill_messages.id IS 'The message''s id.';
COMMENT ON COLUMN skill_messages.tenant_id IS 'The tenant the message belongs to, like every row it refers to.';
COMMENT ON COLUMN skill_messages.from_user_id IS 'The sender, the only user who may withdraw it while it is pending.';
COMMENT ON COLUMN skill_messages.to_user_id IS 'The recipient, the only user who may mark it read, accept it or decline it.';
COMMENT ON COLUMN skill_messages.subject_skill_id IS 'The skill the message is about.';
COMMENT ON COLUMN skill_messages.proposed_parent_skill_id IS 'The skill proposed as the subject''s parent, if any.';
COMMENT ON COLUMN skill_messages.message IS 'The text: 1 to 4000 characters after trimming white space.';
COMMENT ON COLUMN skill_messages.status IS 'Pending until the recipient accepts or declines it or the sender withdraws it; never changes after.';
COMMENT ON COLUMN skill_messages.read_at IS 'When the recipient first read it; unread while null, and never changes once set.';
COMMENT ON COLUMN skill_messages.responded_at IS 'When the recipient accepted or declined it or the sender withdrew it; null exactly while pending, and never changes after.';
COMMENT ON COLUMN skill_messages.created_at IS 'When the message was sent.';

-- The platform's tables, by the keys the crate needs of them. On a Citus
-- cluster the table is first distributed by tenant, beside the platform's
-- users (which must be distributed by tenant_id, and tenants a reference
-- table); statements after the distribution run in a DO block, where each
-- has its own text.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
        PERFORM create_distributed_table('skill_messages', 'tenant_id', colocate_with => 'users');
    END IF;
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
