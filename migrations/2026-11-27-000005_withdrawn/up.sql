-- A sender may take back a pending proposal: the status `withdrawn`, after
-- `pending` like `accepted` and `declined`. Every existing row stays valid:
-- no row uses the new value yet.
ALTER TYPE skill_message_status ADD VALUE 'withdrawn';
