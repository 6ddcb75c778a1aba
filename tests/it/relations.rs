//! Every foreign key has a relation: diesel's `belongs_to` where it can be
//! derived, named helpers where a table is referred to twice, and the alias
//! join that loads a message with all four rows it refers to.

use crate::common::{Fixture, TOPICS, TestDb, seed_tenant};
use diesel::pg::Pg;
use diesel::prelude::*;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Error, Names, NewSkillMessage, Skill, SkillId, SkillMessage, SkillMessageId, TenantConn,
    TenantRow as Tenant, User, UserId, with_tenant,
};

/// Tenant A with four messages in different directions, and tenant B with
/// one, so that every helper has rows to include and rows to leave out.
struct World {
    db: TestDb,
    a: Fixture,
    b: Fixture,
    /// alice -> bob about alice's skill, proposing bob's as parent.
    proposal: SkillMessage,
    /// bob -> alice about bob's skill, no parent.
    reply: SkillMessage,
    /// carol -> bob about carol's skill, proposing alice's skill as parent.
    carol_to_bob: SkillMessage,
    /// alice -> carol about alice's skill, proposing carol's as parent.
    alice_to_carol: SkillMessage,
}

fn world() -> World {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "tenant-a");
    let b = seed_tenant(&mut admin, "tenant-b");
    let mut conn = db.app();
    let send = |conn: &mut PgConnection, f: &Fixture, new: NewSkillMessage<'_>| {
        with_tenant(conn, &Names::default(), f.tenant, |tx| tx.send(new)).expect("send")
    };
    let message = |from, to, subject, parent: Option<SkillId>| NewSkillMessage {
        from_user_id: from,
        to_user_id: to,
        subject_skill_id: subject,
        proposed_parent_skill_id: parent,
        message: "grouping proposal",
    };
    let proposal = send(&mut conn, &a, a.proposal("rust under programming?"));
    let reply = send(&mut conn, &a, message(a.bob, a.alice, a.parent, None));
    let carol_to_bob = send(
        &mut conn,
        &a,
        message(a.carol, a.bob, a.other_skill, Some(a.skill)),
    );
    let alice_to_carol = send(
        &mut conn,
        &a,
        message(a.alice, a.carol, a.skill, Some(a.other_skill)),
    );
    send(&mut conn, &b, b.proposal("the same in tenant B"));
    World {
        db,
        a,
        b,
        proposal,
        reply,
        carol_to_bob,
        alice_to_carol,
    }
}

fn sorted<T: Ord>(mut ids: Vec<T>) -> Vec<T> {
    ids.sort();
    ids
}

#[test]
fn the_named_helpers_follow_each_foreign_key_to_users_and_skills() {
    let w = world();
    let mut conn = w.db.app();
    let a = w.a;
    let check = |tx: &mut TenantConn<'_>| -> Result<(), skill_messages::Error> {
        let conn = tx.connection();
        let users: Vec<User> = skill_messages::platform::users::table
            .select(User::as_select())
            .load(conn)?;
        let skills: Vec<Skill> = skill_messages::platform::skills::table
            .select(Skill::as_select())
            .load(conn)?;
        let user = |id: UserId| users.iter().find(|u| u.id == id).expect("seeded user");
        let skill = |id: SkillId| skills.iter().find(|s| s.id == id).expect("seeded skill");
        let (alice, bob, carol) = (user(a.alice), user(a.bob), user(a.carol));
        let (rust, programming) = (skill(a.skill), skill(a.parent));

        let cases: [(&str, messages::BoxedQuery<'_, Pg>, Vec<SkillMessageId>); 7] = [
            (
                "sent by alice",
                SkillMessage::sent_by(alice).into_boxed(),
                vec![w.proposal.id, w.alice_to_carol.id],
            ),
            (
                "sent by bob",
                SkillMessage::sent_by(bob).into_boxed(),
                vec![w.reply.id],
            ),
            (
                "received by bob",
                SkillMessage::received_by(bob).into_boxed(),
                vec![w.proposal.id, w.carol_to_bob.id],
            ),
            (
                "received by carol",
                SkillMessage::received_by(carol).into_boxed(),
                vec![w.alice_to_carol.id],
            ),
            (
                "about rust",
                SkillMessage::about_skill(rust).into_boxed(),
                vec![w.proposal.id, w.alice_to_carol.id],
            ),
            (
                "about programming",
                SkillMessage::about_skill(programming).into_boxed(),
                vec![w.reply.id],
            ),
            (
                "proposing rust as parent",
                SkillMessage::proposing_parent(rust).into_boxed(),
                vec![w.carol_to_bob.id],
            ),
        ];
        for (relation, query, expected) in cases {
            let found: Vec<SkillMessageId> = query.select(messages::id).load(conn)?;
            assert_eq!(sorted(found), sorted(expected), "{relation}");
        }
        Ok(())
    };
    with_tenant(&mut conn, &Names::default(), a.tenant, check).expect("load through the helpers");
}

#[test]
fn the_derived_relations_follow_each_foreign_key_to_tenants_and_authors() {
    let w = world();
    let mut conn = w.db.app();
    let a = w.a;
    with_tenant(
        &mut conn,
        &Names::default(),
        a.tenant,
        |tx| -> Result<(), skill_messages::Error> {
            let conn = tx.connection();
            use skill_messages::platform::{tenants, users};
            let tenant: Tenant = tenants::table
                .select(Tenant::as_select())
                .get_result(conn)?;
            assert_eq!(tenant.id, a.tenant);

            let members: Vec<User> = User::belonging_to(&tenant)
                .select(User::as_select())
                .load(conn)?;
            assert_eq!(
                sorted(members.iter().map(|u| u.id).collect()),
                sorted(vec![a.alice, a.bob, a.carol])
            );
            let skills: Vec<Skill> = Skill::belonging_to(&tenant)
                .select(Skill::as_select())
                .load(conn)?;
            assert_eq!(skills.len(), 3 + TOPICS);
            let messages: Vec<SkillMessage> = SkillMessage::belonging_to(&tenant)
                .select(SkillMessage::as_select())
                .load(conn)?;
            assert_eq!(messages.len(), 4);

            // Skills by author, through the relation of `(tenant_id, author_id)`.
            let authors: Vec<User> = users::table.select(User::as_select()).load(conn)?;
            for author in &authors {
                let skills: Vec<Skill> = Skill::written_by(author)
                    .select(Skill::as_select())
                    .load(conn)?;
                // Carol wrote the topics too.
                let wrote = if author.id == a.carol { 1 + TOPICS } else { 1 };
                assert_eq!(skills.len(), wrote);
                assert!(skills.iter().all(|s| s.author_id == author.id));
            }
            Ok(())
        },
    )
    .expect("load through the derived relations");
}

#[test]
fn details_load_a_message_with_its_four_references_in_one_query() {
    let w = world();
    let mut conn = w.db.app();
    let a = w.a;
    let (proposal, reply) = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        Ok((
            tx.details(w.proposal.id, a.alice)?,
            tx.details(w.reply.id, a.alice)?,
        ))
    })
    .expect("load details");

    assert_eq!(proposal.message, w.proposal);
    assert_eq!(proposal.sender.as_ref().map(|u| u.id), Some(a.alice));
    assert_eq!(proposal.sender_name(), "alice");
    assert_eq!(proposal.recipient.as_ref().map(|u| u.id), Some(a.bob));
    assert_eq!(proposal.recipient_name(), "bob");
    assert_eq!(proposal.subject_skill.id, a.skill);
    assert_eq!(proposal.subject_skill.name, "rust");
    assert_eq!(
        proposal
            .proposed_parent_skill
            .as_ref()
            .map(|s| s.name.as_str()),
        Some("programming")
    );

    // No proposed parent: the left join gives None, the message still loads.
    assert_eq!(reply.message, w.reply);
    assert_eq!(reply.sender.as_ref().map(|u| u.id), Some(a.bob));
    assert_eq!(reply.recipient.as_ref().map(|u| u.id), Some(a.alice));
    assert_eq!(reply.subject_skill.id, a.parent);
    assert_eq!(reply.proposed_parent_skill, None);

    assert_eq!(reply.subject_skill.author_id, a.bob);

    // Only its participants read it; another tenant's message is not there.
    let carol = with_tenant(&mut conn, &Names::default(), a.tenant, |tx| {
        tx.details(w.proposal.id, a.carol)
    });
    assert!(
        matches!(carol, Err(Error::NotParticipant { message_id, user_id })
            if message_id == w.proposal.id && user_id == a.carol),
        "{carol:?}"
    );
    let missing = with_tenant(&mut conn, &Names::default(), w.b.tenant, |tx| {
        tx.details(w.proposal.id, w.b.alice)
    });
    assert!(
        matches!(missing, Err(Error::NotFound(id)) if id == w.proposal.id),
        "{missing:?}"
    );
}

/// Details carry no personal data a participant may not see of the other:
/// serialised, a user is an id, a tenant and a display name, and nothing
/// else (no email: the crate reads none).
#[cfg(feature = "serde")]
#[test]
fn details_show_each_participant_only_their_id_and_name() {
    let w = world();
    let a = w.a;
    let details = with_tenant(&mut w.db.app(), &Names::default(), a.tenant, |tx| {
        tx.details(w.proposal.id, a.bob)
    })
    .expect("details");
    let wire = serde_json::to_value(&details).expect("serialise");
    for person in ["sender", "recipient"] {
        let mut keys: Vec<&str> = wire[person]
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["display_name", "id", "tenant_id"], "{person}");
    }
    assert!(!wire.to_string().contains("@"), "no email anywhere: {wire}");
}
