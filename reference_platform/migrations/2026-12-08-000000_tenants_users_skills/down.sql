DROP TABLE skills;
DROP TABLE users;
DROP TABLE tenants;
