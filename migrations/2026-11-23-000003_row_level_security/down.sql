DROP POLICY tenant_isolation ON skill_messages;
ALTER TABLE skill_messages NO FORCE ROW LEVEL SECURITY;
ALTER TABLE skill_messages DISABLE ROW LEVEL SECURITY;

DROP POLICY tenant_isolation ON skills;
ALTER TABLE skills NO FORCE ROW LEVEL SECURITY;
ALTER TABLE skills DISABLE ROW LEVEL SECURITY;

DROP POLICY tenant_isolation ON users;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;

DROP POLICY tenant_isolation ON tenants;
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY;
ALTER TABLE tenants DISABLE ROW LEVEL SECURITY;

-- Revoking table privileges revokes the column privileges too. The role
-- itself stays: it is shared by every database of the cluster that uses it.
REVOKE ALL ON tenants, users, skills, skill_messages FROM skill_messages_app;
