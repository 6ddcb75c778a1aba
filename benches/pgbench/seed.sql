-- The benchmarks' data, on a database the crate's migrations have made:
-- 20 tenants of 50 users, each user the author of one skill, and 200,000
-- messages among them, a quarter of them pending and unread, one a second
-- over the last 200,000 seconds. Ids are derived from numbers (md5), so that
-- every run seeds the same rows. `benches/operations.rs`, `tests/it/plans.rs`
-- and `scripts/bench-pgbench` all seed with this file.
--
-- A pending proposal's sender, recipient, subject and proposed parent are
-- never those of another pending one (one is pending per pair): the sender's
-- own skill under one of the five skills after it.
--
-- For the benchmarks, three tables of work items: `bench_pairs`, every
-- user with another user of the tenant and both their skills; `bench_targets`,
-- the pending unread messages, numbered; and `bench_proposals`, 103,488
-- proposals in tenant 0 that none of the seeded ones are, none to or from
-- user 0 (whose lists are read), numbered so that neighbours differ in sender.
--
-- The rows are consistent by construction: the foreign keys' checks, a
-- trigger each for every row, are skipped while they are written (as a
-- superuser may), which makes the seeding several times faster.

SET session_replication_role = replica;

INSERT INTO tenants (id, name, slug)
SELECT md5('tenant ' || t)::uuid, 'Tenant ' || t, 'tenant-' || t
FROM generate_series(0, 19) t;

INSERT INTO users (id, tenant_id, email, display_name)
SELECT md5('user ' || t || ' ' || u)::uuid, md5('tenant ' || t)::uuid,
       'user' || u || '@tenant' || t || '.example', 'User ' || u
FROM generate_series(0, 19) t, generate_series(0, 49) u;

INSERT INTO skills (id, tenant_id, author_id, name, slug)
SELECT md5('skill ' || t || ' ' || u)::uuid, md5('tenant ' || t)::uuid,
       md5('user ' || t || ' ' || u)::uuid, 'Skill ' || u, 'skill-' || u
FROM generate_series(0, 19) t, generate_series(0, 49) u;

INSERT INTO skill_messages (id, tenant_id, from_user_id, to_user_id, subject_skill_id,
                            proposed_parent_skill_id, message, status, read_at, responded_at,
                            created_at)
SELECT md5('message ' || i)::uuid, md5('tenant ' || t)::uuid,
       md5('user ' || t || ' ' || s)::uuid, md5('user ' || t || ' ' || r)::uuid,
       md5('skill ' || t || ' ' || s)::uuid, md5('skill ' || t || ' ' || p)::uuid,
       'Message ' || i,
       CASE WHEN i % 4 = 0 THEN 'pending' ELSE 'accepted' END::skill_message_status,
       CASE WHEN i % 4 = 0 THEN NULL ELSE at END,
       CASE WHEN i % 4 = 0 THEN NULL ELSE at END,
       at
FROM (
    SELECT i, i % 20 AS t, (i / 20) % 50 AS s, ((i / 20) % 50 + 1 + (i / 1000) % 49) % 50 AS r,
           ((i / 20) % 50 + 1 + (i / 1000) / 49) % 50 AS p,
           now() - (200000 - i) * interval '1 second' AS at
    FROM generate_series(0, 199999) i
) m;

RESET session_replication_role;

CREATE TABLE bench_pairs AS
SELECT (t * 50 + u) AS n, md5('tenant ' || t)::uuid AS tenant_id,
       md5('user ' || t || ' ' || u)::uuid AS user_id,
       md5('user ' || t || ' ' || (u + 1) % 50)::uuid AS other_user_id,
       md5('skill ' || t || ' ' || u)::uuid AS skill_id,
       md5('skill ' || t || ' ' || (u + 1) % 50)::uuid AS other_skill_id
FROM generate_series(0, 19) t, generate_series(0, 49) u;
ALTER TABLE bench_pairs ADD PRIMARY KEY (n);

CREATE TABLE bench_proposals AS
SELECT (row_number() OVER (ORDER BY q, v, u) - 1)::int AS n, md5('tenant 0')::uuid AS tenant_id,
       md5('user 0 ' || u)::uuid AS user_id, md5('user 0 ' || v)::uuid AS other_user_id,
       md5('skill 0 ' || u)::uuid AS skill_id, md5('skill 0 ' || (u + 6 + q) % 50)::uuid AS parent_skill_id
FROM generate_series(1, 49) u, generate_series(1, 49) v, generate_series(0, 43) q
WHERE u <> v;
ALTER TABLE bench_proposals ADD PRIMARY KEY (n);

CREATE TABLE bench_targets AS
SELECT (row_number() OVER (ORDER BY i) - 1)::int AS n, tenant_id, id AS message_id,
       from_user_id, to_user_id
FROM (SELECT substr(message, 9)::int AS i, * FROM skill_messages WHERE status = 'pending') m;
ALTER TABLE bench_targets ADD PRIMARY KEY (n);

ANALYZE;
