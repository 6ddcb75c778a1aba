//! Seeded tenants: what most tests start from.

use super::reference::{skills, tenants, users};
use diesel::prelude::*;
use skill_messages::{NewSkillMessage, SkillId, TenantId, UserId};

/// One seeded tenant: three users and three skills.
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
}

impl Fixture {
    /// Alice proposes to Bob that her skill go under his.
    pub fn proposal<'a>(&self, text: &'a str) -> NewSkillMessage<'a> {
        NewSkillMessage {
            from_user_id: self.alice,
            to_user_id: self.bob,
            subject_skill_id: self.skill,
            proposed_parent_skill_id: Some(self.parent),
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
    Fixture {
        tenant,
        alice,
        bob,
        carol,
        skill: skill(alice, "rust"),
        parent: skill(bob, "programming"),
        other_skill: skill(carol, "postgres"),
    }
}
