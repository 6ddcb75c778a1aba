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
use skill_messages::{
    Cursor, Error, MessageQuery, NewSkillMessage, Pool, Response, SkillMessageDetails,
    get_message_details_for_user, get_sent_messages_for_user, get_unread_count_for_user,
    mark_all_read, mark_message_read, send_skill_message, update_message_status, withdraw_message,
};

fn main() -> Result<(), support::Report> {
    let url = support::database_url();
    let (acme, globex) = support::migrate_and_provision(&url)?;

    // Services run every call in a tenant scope. This pool logs in as the
    // URL's user; each scope still runs as `skill_messages_app`, so the
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
        match send_skill_message(tx, to_another_tenant) {
            Err(error @ Error::UnknownUser(_)) if error.is_refusal() => {
                println!("Ada cannot write to Hank of {}: {error}.", globex.name)
            }
            other => return Err(format!("a message crossed tenants: {other:?}").into()),
        }
        Ok(send_skill_message(tx, proposal)?)
    })?;
    println!("Ada sent Grace a proposal ({}).\n", sent.status);

    pool.with_tenant(acme.id, |tx| {
        let inbox = get_message_details_for_user(tx, grace, MessageQuery::new().limit(3))?;
        println!("Grace's inbox in {}, newest first:", acme.name);
        inbox.items.iter().for_each(print_message);
        println!(
            "Grace has {} unread.\n",
            get_unread_count_for_user(tx, grace)?
        );
        Ok(())
    })?;

    let read = pool.with_tenant(acme.id, |tx| mark_message_read(tx, sent.id, grace))?;
    println!(
        "Grace read it at {}.",
        read.read_at.map(|t| t.to_rfc3339()).unwrap_or_default()
    );
    let accepted = pool.with_tenant(acme.id, |tx| {
        update_message_status(tx, sent.id, grace, Response::Accepted)
    })?;
    println!(
        "Grace {} it at {}; {} unread left.\n",
        accepted.status,
        accepted
            .responded_at
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        pool.with_tenant(acme.id, |tx| get_unread_count_for_user(tx, grace))?
    );

    // The sender's side: what Ada sent, and a proposal she takes back.
    let second_thought = NewSkillMessage {
        message: "On second thought, Compilers could go under Analytical Engines?",
        ..proposal
    };
    let withdrawn = pool.with_tenant(acme.id, |tx| {
        let sent = send_skill_message(tx, second_thought)?;
        withdraw_message(tx, sent.id, ada)
    })?;
    println!(
        "Ada sent a second proposal and took it back ({}).",
        withdrawn.status
    );
    let sent_by_ada = pool.with_tenant(acme.id, |tx| {
        get_sent_messages_for_user(tx, ada, MessageQuery::new())
    })?;
    println!("Ada's sent messages, newest first:");
    for m in &sent_by_ada.items {
        println!("  [{}] {}", m.status, m.message);
    }

    // Grace marks everything she has seen read in one call; what arrives
    // after stays unread.
    let reminders = pool.with_tenant(acme.id, |tx| {
        (0..3)
            .map(|i| {
                let text = format!("Reminder {i}: shall we group them?");
                send_skill_message(
                    tx,
                    NewSkillMessage {
                        message: &text,
                        ..proposal
                    },
                )
            })
            .collect::<Result<Vec<_>, Error>>()
    })?;
    let seen = reminders.last().map(Cursor::after).ok_or("no reminder")?;
    let late = pool.with_tenant(acme.id, |tx| {
        send_skill_message(
            tx,
            NewSkillMessage {
                message: "One more thing.",
                ..proposal
            },
        )
    })?;
    let (marked, unread) = pool.with_tenant(acme.id, |tx| {
        Ok((
            mark_all_read(tx, grace, seen)?,
            get_unread_count_for_user(tx, grace)?,
        ))
    })?;
    println!(
        "Grace marked {marked} read at once; {unread} unread left (\"{}\").\n",
        late.message
    );

    // From Globex, Acme's rows do not exist.
    pool.with_tenant_as(globex.id, |tx| -> Result<_, Box<dyn StdError>> {
        let visible: i64 = skill_messages::schema::skill_messages::table
            .count()
            .get_result(tx.connection())?;
        println!("{} sees {visible} skill messages in all.", globex.name);
        match mark_message_read(tx, sent.id, grace) {
            Err(Error::NotFound(_)) => println!("Ada's message is not found there."),
            other => return Err(format!("{} reached Ada's message: {other:?}", globex.name).into()),
        }
        match get_unread_count_for_user(tx, grace) {
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
        details.sender.display_name,
        details.subject_skill.name,
        m.message
    );
}
