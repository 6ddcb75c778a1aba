DO $$
BEGIN
    DROP TRIGGER skill_messages_status_order ON skill_messages;
    COMMENT ON TYPE skill_message_status IS
        'Where a proposal stands: pending, then accepted or declined by its recipient.';
    COMMENT ON COLUMN skill_messages.status IS 'Pending until the recipient accepts or declines.';
    COMMENT ON COLUMN skill_messages.responded_at IS
        'When the recipient accepted or declined; null exactly while pending.';
    COMMENT ON COLUMN skill_messages.read_at IS 'When the recipient first read it; unread while null.';
    COMMENT ON COLUMN skill_messages.to_user_id IS
        'The recipient, the only user who may mark it read or respond.';
    COMMENT ON COLUMN skill_messages.from_user_id IS 'The sender.';
END
$$;
DROP FUNCTION skill_messages_keep_status_order();
