//! The crate in one run: migrate, provision two tenants, send a grouping
//! proposal, read the recipient's inbox, mark it read, accept it, list what
//! the sender sent, withdraw a proposal, mark a whole inbox read, and look
//! from the other tenant (which sees nothing of it).
//!
//! ```sh
//! docker compose up -d              # or set DATABASE_URL to your server
//! cargo run --example quickstart
//! ```
//!
//! It creates the database named in `DATABASE_URL` if it does not exist, and
//! can run any number of times against the same one.

mod support;

use std::error::Error as StdError;

use diesel::prelude::*;
use skill_messages::{Answer, Error, MessageQuery, NewSkillMessage, Pool, SkillMessageDetails};

fn main() -> Result<(), support::Report> {
    let url = support::database_url();
    let (acme, globex) = support::migrate_and_provision(&url)?;

    // Services run every operation in a tenant scope. This pool logs in as
    // the URL's user; each scope still runs as `skill_messages_app`, so the
    // row-level-security policies apply.
    let pool = Pool::builder().max_size(2).build(&url)?;
    let [(ada, engines), (grace, compilers)] = acme.authors;

    let proposal = NewSkillMessage {
        from_user_id: ada,
        to_user_id: grace,
        subject_skill_id: engines,
        proposed_parent_skill_id: Some(compilers),
        message: "Analytical Engines reads like a chapter of Compilers: \
                  shall we group it under yours?",
    };
    let sent = pool.with_tenant_as(acme.id, |tx| -> Result<_, Box<dyn StdError>> {
        // A refusal writes nothing and leaves the scope usable: the send
        // that follows it commits.
        let [(hank, _), _] = globex.authors;
        let to_another_tenant = NewSkillMessage {
            to_user_id: hank,
            ..proposal
        };
        match tx.send(to_another_tenant) {
            Err(error @ Error::UnknownUser(_)) if error.is_refusal() => {
                println!("Ada cannot write to Hank of {}: {error}.", globex.name)
            }
            other => return Err(format!("a message crossed tenants: {other:?}").into()),
        }
        Ok(tx.send(proposal)?)
    })?;
    println!("Ada sent Grace a proposal ({}).\n", sent.status);

    // One operation in a scope of its own: the tenant's handle.
    let acme_tenant = pool.tenant(acme.id);
    let inbox = acme_tenant.inbox(grace, MessageQuery::new().limit(3))?;
    println!("Grace's inbox in {}, newest first:", acme.name);
    for message in &inbox.items {
        print_message(&acme_tenant.details(message.id, grace)?);
    }
    println!("Grace has {} unread.\n", acme_tenant.unread_count(grace)?);

    let read = acme_tenant.mark_read(sent.id, grace)?;
    println!(
        "Grace read it at {}.",
        read.read_at.map(|t| t.to_rfc3339()).unwrap_or_default()
    );
    let accepted = acme_tenant.answer(sent.id, grace, Answer::Accept)?;
    println!(
        "Grace {} it at {}; {} unread left.\n",
        accepted.status,
        accepted
            .responded_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        acme_tenant.unread_count(grace)?
    );

    // The sender's side: what Ada sent, and a proposal she takes back.
    let second_thought = NewSkillMessage {
        message: "On second thought, Compilers could go under Analytical Engines?",
        ..proposal
    };
    let withdrawn = pool.with_tenant(acme.id, |tx| {
        let sent = tx.send(second_thought)?;
        tx.withdraw(sent.id, ada)
    })?;
    println!(
        "Ada sent a second proposal and took it back ({}).",
        withdrawn.status
    );
    println!("Ada's sent messages, newest first:");
    for m in &acme_tenant.outbox(ada, MessageQuery::new())?.items {
        println!("  [{}] {}", m.status, m.message);
    }

    // One proposal per pair is pending at a time: the same one again is
    // refused, naming the first; others of the pair are others.
    let others = [
        (engines, None, "Analytical Engines on its own, then?"),
        (
            compilers,
            Some(engines),
            "Or Compilers under Analytical Engines?",
        ),
        (compilers, None, "Or Compilers on its own?"),
    ];
    let reminders = pool.with_tenant(acme.id, |tx| {
        let mut sent = Vec::new();
        for (subject, parent, text) in others {
            sent.push(tx.send(NewSkillMessage {
                subject_skill_id: subject,
                proposed_parent_skill_id: parent,
                message: text,
                ..proposal
            })?);
        }
        match tx.send(NewSkillMessage {
            message: "Analytical Engines on its own?",
            subject_skill_id: engines,
            proposed_parent_skill_id: None,
            ..proposal
        }) {
            Err(error @ Error::AlreadyPending(_)) => println!("Ada cannot ask twice: {error}."),
            other => panic!("a second pending proposal of one pair: {other:?}"),
        }
        Ok(sent)
    })?;

    // Grace marks read, at once, what she was shown; what arrives after
    // stays unread.
    let shown = acme_tenant.inbox(grace, MessageQuery::new().unread_only())?;
    let late = acme_tenant.send(NewSkillMessage {
        message: "One more thing: the first proposal again?",
        ..proposal
    })?;
    let (marked, unread) = pool.with_tenant(acme.id, |tx| {
        Ok((
            tx.mark_all_read(grace, &shown.read_mark())?,
            tx.unread_count(grace)?,
        ))
    })?;
    println!(
        "Grace marked the {marked} she was shown read at once; {unread} unread left (\"{}\").",
        late.message
    );
    // And declines the rest, so that nothing stays pending.
    pool.with_tenant(acme.id, |tx| {
        for message in reminders.iter().chain([&late]) {
            tx.answer(message.id, grace, Answer::Decline)?;
        }
        Ok(())
    })?;
    println!("Grace declined the other {}.\n", reminders.len() + 1);

    // From Globex, Acme's rows do not exist.
    pool.with_tenant_as(globex.id, |tx| -> Result<_, Box<dyn StdError>> {
        let visible: i64 = skill_messages::schema::skill_messages::table
            .count()
            .get_result(tx.connection())?;
        println!("{} sees {visible} skill messages in all.", globex.name);
        match tx.mark_read(sent.id, grace) {
            Err(Error::NotFound(_)) => println!("Ada's message is not found there."),
            other => return Err(format!("{} reached Ada's message: {other:?}", globex.name).into()),
        }
        match tx.unread_count(grace) {
            Err(Error::UnknownUser(_)) => println!("Nor is Grace: unknown user."),
            other => return Err(format!("{} reached Grace: {other:?}", globex.name).into()),
        }
        Ok(())
    })?;
    Ok(())
}

fn print_message(details: &SkillMessageDetails) {
    let m = &details.message;
    let parent = details
        .proposed_parent_skill
        .as_ref()
        .map_or("no parent".to_owned(), |s| format!("under {}", s.name));
    println!(
        "  [{}] {} from {} about {} ({parent}): {}",
        if m.read_at.is_some() {
            "read"
        } else {
            "unread"
        },
        m.status,
        details.sender_name(),
        details.subject_skill.name,
        m.message
    );
}
