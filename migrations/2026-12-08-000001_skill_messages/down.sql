DROP TABLE skill_messages;
DROP TYPE skill_message_status;
