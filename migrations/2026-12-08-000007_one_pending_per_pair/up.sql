-- One pending proposal per pair: the same sender cannot propose the same
-- grouping (subject skill and proposed parent) to the same recipient twice
-- while the first is pending. A unique index keeps it for concurrent
-- senders too; without a proposed parent the subject stands in, which no
-- proposed parent can equal (skill_messages_parent_not_subject). A database
-- that holds such twins already fails here, naming one pair: answer or
-- withdraw the younger ones first. (On a Citus cluster DDL on the
-- distributed table runs in a DO block.)
DO $$
BEGIN
    CREATE UNIQUE INDEX skill_messages_one_pending_per_pair
        ON skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id,
                           coalesce(proposed_parent_skill_id, subject_skill_id))
        WHERE status = 'pending';
END
$$;
