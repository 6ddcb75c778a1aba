//! Seeded tenants: what most tests start from.

use std::collections::HashMap;
use std::sync::Mutex;

use super::reference::{skills, tenants, users};
use diesel::prelude::*;
use skill_messages::{NewSkillMessage, SkillId, TenantId, UserId};

/// How many topic skills a seeded tenant has besides its three: enough for
/// [`Fixture::proposal`] to make 10,100 different proposals after the first.
pub const TOPICS: usize = 101;

/// How many proposals [`Fixture::proposal`] has made in each tenant.
static PROPOSED: Mutex<Option<HashMap<TenantId, usize>>> = Mutex::new(None);

/// One seeded tenant: three users and three skills, and carol's topics.
#[derive(Debug, Clone, Copy)]
pub struct Fixture {
    pub tenant: TenantId,
    pub alice: UserId,
    pub bob: UserId,
    pub carol: UserId,
    /// Alice's skill, the usual subject.
    pub skill: SkillId,
    /// Bob's skill, the usual proposed parent.
    pub parent: SkillId,
    /// Carol's skill.
    pub other_skill: SkillId,
    /// Carol's topic skills, which proposals after the first are about.
    pub topics: [SkillId; TOPICS],
}

impl Fixture {
    /// Alice proposes to Bob: the first time in a tenant, that her skill go
    /// under his; each time after, that one of carol's topics go under
    /// another, each pair of topics once (one proposal per pair is pending
    /// at a time, and tests send many).
    pub fn proposal<'a>(&self, text: &'a str) -> NewSkillMessage<'a> {
        let k = {
            let mut proposed = PROPOSED.lock().expect("the proposal counts");
            let count = proposed
                .get_or_insert_with(HashMap::new)
                .entry(self.tenant)
                .or_insert(0);
            *count += 1;
            *count - 1
        };
        let (subject, parent) = match k {
            0 => (self.skill, self.parent),
            k => {
                let j = k - 1;
                assert!(j < TOPICS * (TOPICS - 1), "more proposals than topic pairs");
                let first = j % TOPICS;
                let second = (first + 1 + (j / TOPICS) % (TOPICS - 1)) % TOPICS;
                (self.topics[first], self.topics[second])
            }
        };
        NewSkillMessage {
            from_user_id: self.alice,
            to_user_id: self.bob,
            subject_skill_id: subject,
            proposed_parent_skill_id: Some(parent),
            message: text,
        }
    }
}

/// Creates a tenant with users alice, bob and carol and a skill each, in
/// the reference platform's tables; `admin` must bypass their policies (a
/// superuser, or their owner).
pub fn seed_tenant(admin: &mut PgConnection, slug: &str) -> Fixture {
    let tenant: TenantId = diesel::insert_into(tenants::table)
        .values((tenants::name.eq(slug), tenants::slug.eq(slug)))
        .returning(tenants::id)
        .get_result(admin)
        .expect("insert a tenant");
    let mut user = |name: &str| -> UserId {
        diesel::insert_into(users::table)
            .values((
                users::tenant_id.eq(tenant),
                users::email.eq(format!("{name}@{slug}.example")),
                users::display_name.eq(name),
            ))
            .returning(users::id)
            .get_result(admin)
            .expect("insert a user")
    };
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    let mut skill = |author: UserId, name: &str| -> SkillId {
        diesel::insert_into(skills::table)
            .values((
                skills::tenant_id.eq(tenant),
                skills::author_id.eq(author),
                skills::name.eq(name),
                skills::slug.eq(name),
            ))
            .returning(skills::id)
            .get_result(admin)
            .expect("insert a skill")
    };
    let (skill, parent, other_skill) = (
        skill(alice, "rust"),
        skill(bob, "programming"),
        skill(carol, "postgres"),
    );
    let topics: Vec<SkillId> = diesel::sql_query(format!(
        "INSERT INTO skills (tenant_id, author_id, name, slug) \
         SELECT $1, $2, 'topic ' || i, 'topic-' || i FROM generate_series(1, {TOPICS}) i \
         RETURNING id"
    ))
    .bind::<diesel::sql_types::Uuid, _>(tenant)
    .bind::<diesel::sql_types::Uuid, _>(carol)
    .load::<Topic>(admin)
    .expect("insert the topics")
    .into_iter()
    .map(|topic| topic.id)
    .collect();
    Fixture {
        tenant,
        alice,
        bob,
        carol,
        skill,
        parent,
        other_skill,
        topics: topics.try_into().expect("every topic"),
    }
}

#[derive(QueryableByName)]
struct Topic {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: SkillId,
}
