//! The data: tenants, users, skills and messages seeded with server-side
//! SQL, and the work items the crate and pgbench share.

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use skill_messages::{SkillId, SkillMessageId, TenantId, UserId};

use crate::server_timed::timing_functions;

pub struct Size {
    pub name: &'static str,
    pub tenants: usize,
    pub users: usize,
    pub skills: usize,
    pub messages: usize,
}

pub const DEFAULT: Size = Size {
    name: "default",
    tenants: 100,
    users: 50,
    skills: 100,
    messages: 200_000,
};

pub const LARGE: Size = Size {
    name: "large",
    tenants: 1_000,
    users: 50,
    skills: 100,
    messages: 1_000_000,
};

/// Messages received by the one user of the deep-paging test.
pub const HEAVY_INBOX: usize = 100_000;

/// The tenants, users, skills and messages of `size`, and the work items
/// (`bench_pairs`, `bench_unread`, `bench_pending`), as SQL that runs on
/// plain PostgreSQL and, through the coordinator, on Citus.
fn data_sql(size: &Size) -> String {
    let per_tenant = size.messages / size.tenants;
    format!(
        "SELECT setseed(0.42);
         INSERT INTO tenants (name, slug)
           SELECT 'Tenant ' || t, 'tenant-' || t FROM generate_series(1, {tenants}) t;
         INSERT INTO users (tenant_id, email, display_name)
           SELECT t.id, 'user' || u || '@' || t.slug || '.example', 'User ' || u
           FROM tenants t, generate_series(1, {users}) u;
         CREATE TEMP TABLE tu AS
           SELECT tenant_id, array_agg(id ORDER BY id) AS ids FROM users GROUP BY tenant_id;
         INSERT INTO skills (tenant_id, author_id, name, slug)
           SELECT tu.tenant_id, tu.ids[1 + (s - 1) % {users}], 'Skill ' || s, 'skill-' || s
           FROM tu, generate_series(1, {skills}) s;
         CREATE TEMP TABLE ts AS
           SELECT tenant_id, array_agg(id ORDER BY id) AS ids FROM skills GROUP BY tenant_id;
         INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id,
                                     proposed_parent_skill_id, message, status, read_at,
                                     responded_at, created_at)
           SELECT tenant_id, us[f], us[1 + (f - 1 + o) % {users}], ss[s],
                  CASE WHEN rp < 0.8 THEN ss[1 + (s - 1 + p) % {skills}] END,
                  'Would you group skill ' || s || ' under yours? #' || g,
                  (CASE WHEN rs < 0.70 THEN 'pending' WHEN rs < 0.85 THEN 'accepted'
                        ELSE 'declined' END)::skill_message_status,
                  CASE WHEN rs >= 0.30 THEN created + (now() - created) * rr END,
                  CASE WHEN rs >= 0.70 THEN created + (now() - created) * rr END,
                  created
           FROM (SELECT tu.tenant_id, tu.ids AS us, ts.ids AS ss, g,
                        1 + floor(random() * {users})::int AS f,
                        1 + floor(random() * ({users} - 1))::int AS o,
                        1 + floor(random() * {skills})::int AS s,
                        1 + floor(random() * ({skills} - 1))::int AS p,
                        random() AS rp, random() AS rs, random() AS rr,
                        now() - random() * interval '90 days' AS created
                 FROM tu JOIN ts USING (tenant_id), generate_series(1, {per_tenant}) g) m;
         -- Work items: the same for the crate and for pgbench.
         CREATE TABLE bench_pairs AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, tu.tenant_id,
                  tu.ids[i] AS user_id, tu.ids[1 + i % {users}] AS other_user_id,
                  ts.ids[i] AS skill_id, ts.ids[1 + i % {skills}] AS other_skill_id
           FROM tu JOIN ts USING (tenant_id), generate_series(1, {users}) i;
         CREATE TABLE bench_unread AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, tenant_id,
                  id AS message_id, to_user_id
           FROM skill_messages WHERE read_at IS NULL;
         CREATE TABLE bench_pending AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, tenant_id,
                  id AS message_id, to_user_id
           FROM skill_messages WHERE status = 'pending' AND read_at IS NOT NULL;
         ALTER TABLE bench_pairs ADD PRIMARY KEY (n);
         ALTER TABLE bench_unread ADD PRIMARY KEY (n);
         ALTER TABLE bench_pending ADD PRIMARY KEY (n);
         GRANT SELECT ON bench_pairs, bench_unread, bench_pending TO skill_messages_app;",
        tenants = size.tenants,
        users = size.users,
        skills = size.skills,
    )
}

/// Only [`data_sql`], with the foreign keys checked, for the scale-out
/// section: on plain PostgreSQL or on a Citus coordinator, whose workers
/// check the keys of their shards.
pub fn seed_data(admin: &mut PgConnection, size: &Size, citus: bool) {
    admin
        .batch_execute(&data_sql(size))
        .expect("seed the database");
    // Named, so that Citus vacuums and analyzes the shards too.
    admin
        .batch_execute(
            "VACUUM ANALYZE tenants, users, skills, skill_messages, bench_pairs, bench_unread, \
             bench_pending",
        )
        .expect("vacuum and analyze");
    let checkpoint = if citus {
        "CHECKPOINT; SELECT run_command_on_workers('CHECKPOINT')"
    } else {
        "CHECKPOINT"
    };
    admin.batch_execute(checkpoint).expect("checkpoint");
}

/// Fills the database with server-side SQL: [`data_sql`], the user with
/// [`HEAVY_INBOX`] messages, and the timing functions. Foreign-key triggers
/// are off while it runs (the data is consistent by construction); the
/// superuser is not bound by the policies.
pub fn seed(admin: &mut PgConnection, size: &Size) {
    let sql = format!(
        "SET session_replication_role = replica;
         {data}
         -- One user who received {HEAVY_INBOX} messages, for deep pages.
         INSERT INTO tenants (name, slug) VALUES ('Heavy', 'heavy');
         INSERT INTO users (tenant_id, email, display_name)
           SELECT id, u || '@heavy.example', u FROM tenants, unnest(ARRAY['reader', 'writer']) u
           WHERE slug = 'heavy';
         INSERT INTO skills (tenant_id, author_id, name, slug)
           SELECT tenant_id, id, 'Skill of ' || display_name, 'skill-' || display_name
           FROM users WHERE email LIKE '%@heavy.example';
         INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id,
                                     message, created_at)
           SELECT w.tenant_id, w.id, r.id, s.id, 'Deep message #' || g,
                  now() - g * interval '1 minute'
           FROM users w, users r, skills s, generate_series(1, {HEAVY_INBOX}) g
           WHERE w.email = 'writer@heavy.example' AND r.email = 'reader@heavy.example'
             AND s.author_id = w.id;
         SET session_replication_role = DEFAULT;
         {timing_functions}",
        data = data_sql(size),
        timing_functions = timing_functions(),
    );
    admin.batch_execute(&sql).expect("seed the database");
    settle(admin);
}

/// Users seeded for `mark_all_read`, each for one call (`bench_digest`):
/// enough for the beyond section's measurements at 1,000 calls.
pub const DIGEST_USERS: usize = 24_000;

/// Unread messages each digest user received: what one `mark_all_read`
/// marks.
pub const DIGEST_UNREAD: usize = 4;

/// Adds what the calls beyond the five act on: [`DIGEST_USERS`] users
/// spread over the tenants (the deep-paging one aside), each the recipient
/// of exactly [`DIGEST_UNREAD`] messages, unread and pending, from users of
/// its tenant, sent during the day before the seeding and of nobody else's
/// (`bench_digest`: a `mark_all_read` up to the seeding's time marks all of
/// them and nothing else); and the seeded unread messages, pending, in an
/// order of their own, with their senders (`bench_withdraw`).
pub fn seed_beyond(admin: &mut PgConnection, size: &Size) {
    let per_tenant = DIGEST_USERS.div_ceil(size.tenants);
    let sql = format!(
        "SET session_replication_role = replica;
         SELECT setseed(0.17);
         CREATE TABLE bench_withdraw AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, m.tenant_id,
                  m.id AS message_id, m.from_user_id
           FROM bench_unread b JOIN skill_messages m ON (m.tenant_id, m.id) = (b.tenant_id, b.message_id);
         CREATE TEMP TABLE regular_users AS
           SELECT u.tenant_id, array_agg(u.id ORDER BY u.id) AS ids
           FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.slug <> 'heavy'
           GROUP BY u.tenant_id;
         CREATE TEMP TABLE regular_skills AS
           SELECT tenant_id, array_agg(id ORDER BY id) AS ids FROM skills
           WHERE tenant_id IN (SELECT tenant_id FROM regular_users) GROUP BY tenant_id;
         INSERT INTO users (tenant_id, email, display_name)
           SELECT t.id, 'digest' || d || '@' || t.slug || '.example', 'Digest ' || d
           FROM tenants t, generate_series(1, {per_tenant}) d WHERE t.slug <> 'heavy';
         INSERT INTO skill_messages (tenant_id, from_user_id, to_user_id, subject_skill_id,
                                     message, created_at)
           SELECT u.tenant_id, ru.ids[1 + floor(random() * {users})::int], u.id,
                  rs.ids[1 + floor(random() * {skills})::int], 'Digest message #' || k,
                  now() - random() * interval '1 day'
           FROM users u JOIN regular_users ru USING (tenant_id) JOIN regular_skills rs USING (tenant_id),
                generate_series(1, {DIGEST_UNREAD}) k
           WHERE u.email LIKE 'digest%';
         CREATE TABLE bench_digest AS
           SELECT (row_number() OVER (ORDER BY random()) - 1)::int AS n, tenant_id,
                  id AS user_id, now() AS up_to
           FROM users WHERE email LIKE 'digest%';
         ALTER TABLE bench_digest ADD PRIMARY KEY (n);
         ALTER TABLE bench_withdraw ADD PRIMARY KEY (n);
         GRANT SELECT ON bench_digest, bench_withdraw TO skill_messages_app;
         SET session_replication_role = DEFAULT;
         DROP TABLE regular_users, regular_skills;",
        users = size.users,
        skills = size.skills,
    );
    admin.batch_execute(&sql).expect("seed the digest users");
    settle(admin);
}

/// Starts from settled tables and an empty write-ahead log backlog.
fn settle(admin: &mut PgConnection) {
    for sql in ["VACUUM ANALYZE", "CHECKPOINT"] {
        admin
            .batch_execute(sql)
            .expect("vacuum, analyze and checkpoint");
    }
}

/// A sender, a recipient and two skills of one tenant.
#[derive(QueryableByName, Clone, Copy)]
pub struct Pair {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub tenant_id: TenantId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub other_user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub skill_id: SkillId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub other_skill_id: SkillId,
}

/// A message and its recipient.
#[derive(QueryableByName, Clone, Copy)]
pub struct Target {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub tenant_id: TenantId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub message_id: SkillMessageId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub to_user_id: UserId,
}

/// A user with [`DIGEST_UNREAD`] unread messages, all sent before
/// `up_to`.
#[derive(QueryableByName, Clone, Copy)]
pub struct Digest {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub tenant_id: TenantId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub up_to: DateTime<Utc>,
}

/// A pending message and its sender.
#[derive(QueryableByName, Clone, Copy)]
pub struct Sent {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub tenant_id: TenantId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub message_id: SkillMessageId,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub from_user_id: UserId,
}

/// The work items, in the order of their `n`; `digest` and `withdraw` are
/// empty unless [`seed_beyond`] ran.
pub struct Items {
    pub pairs: Vec<Pair>,
    pub unread: Vec<Target>,
    pub pending: Vec<Target>,
    pub digest: Vec<Digest>,
    pub withdraw: Vec<Sent>,
}

impl Items {
    pub fn load(admin: &mut PgConnection) -> Self {
        let pairs = diesel::sql_query("SELECT * FROM bench_pairs ORDER BY n")
            .load(admin)
            .expect("load the pairs");
        let targets = |table: &str, admin: &mut PgConnection| {
            diesel::sql_query(format!("SELECT * FROM {table} ORDER BY n"))
                .load::<Target>(admin)
                .expect("load the targets")
        };
        #[derive(QueryableByName)]
        struct Exists {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            exists: bool,
        }
        let beyond = diesel::sql_query("SELECT to_regclass('bench_digest') IS NOT NULL AS exists")
            .get_result::<Exists>(admin)
            .expect("look for the digest users")
            .exists;
        let (digest, withdraw) = if beyond {
            (
                diesel::sql_query("SELECT * FROM bench_digest ORDER BY n")
                    .load(admin)
                    .expect("load the digest users"),
                diesel::sql_query("SELECT * FROM bench_withdraw ORDER BY n")
                    .load(admin)
                    .expect("load the messages to withdraw"),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Items {
            pairs,
            unread: targets("bench_unread", admin),
            pending: targets("bench_pending", admin),
            digest,
            withdraw,
        }
    }
}
