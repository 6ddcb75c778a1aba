//! New-message events across processes: this process listens for Acme's
//! events and prints them while another process (this example started
//! again, as a child, with `--send`) sends proposals in Acme and in Globex.
//! Only Acme's are heard, each once, with ids only; the listener reads the
//! message itself through a tenant scope.
//!
//! ```sh
//! cargo run --example listener
//! ```
//!
//! It migrates and provisions the database at `DATABASE_URL` as the
//! quickstart does.

mod support;

use std::error::Error as StdError;
use std::process::Command;
use std::time::Duration;

use skill_messages::{Listener, NewSkillMessage, Pool};

/// How many proposals the sender sends in each tenant.
const SENDS: usize = 3;

fn main() -> Result<(), support::Report> {
    let url = support::database_url();
    if std::env::args().any(|arg| arg == "--send") {
        return Ok(send(&url)?);
    }
    let (acme, _) = support::migrate_and_provision(&url)?;
    let mut listener = Listener::connect(&url, acme.id)?;
    println!(
        "Listening for {}'s new messages; starting a sender.",
        acme.name
    );
    let mut sender = Command::new(std::env::current_exe()?)
        .arg("--send")
        .spawn()?;

    let pool = Pool::builder().max_size(1).build(&url)?;
    for _ in 0..SENDS {
        let event = listener
            .next_event(Some(Duration::from_secs(30)))?
            .ok_or("no event within 30 s")?;
        // The event says which message; its text is read in a scope.
        let details = pool
            .tenant(event.tenant_id)
            .details(event.message_id, event.to_user_id)?;
        println!(
            "heard: {event}\n  read: {} to {}: {}",
            details.sender_name(),
            details.recipient_name(),
            details.message.message
        );
    }
    if !sender.wait()?.success() {
        return Err("the sender failed".into());
    }
    match listener.next_event(Some(Duration::from_millis(500)))? {
        None => println!("Nothing else was heard: Globex's sends are not Acme's business."),
        Some(event) => return Err(format!("heard more than was sent in Acme: {event}").into()),
    }
    Ok(())
}

/// The other process: sends proposals in both tenants.
fn send(url: &str) -> Result<(), Box<dyn StdError>> {
    let (acme, globex) = support::migrate_and_provision(url)?;
    let pool = Pool::builder().max_size(1).build(url)?;
    for tenant in [&globex, &acme] {
        let [(from, first), (to, second)] = tenant.authors;
        // Three different proposals (one of a pair is pending at a time),
        // each withdrawn once sent, so that the example can run again (the
        // listener reads them all the same).
        let proposals = [(first, Some(second)), (first, None), (second, Some(first))];
        for (i, (subject, parent)) in proposals.into_iter().enumerate().take(SENDS) {
            let text = format!("Proposal {i} in {}: group them?", tenant.name);
            let proposal = NewSkillMessage {
                from_user_id: from,
                to_user_id: to,
                subject_skill_id: subject,
                proposed_parent_skill_id: parent,
                message: &text,
            };
            let sent = pool.tenant(tenant.id).send(proposal)?;
            pool.tenant(tenant.id).withdraw(sent.id, from)?;
        }
    }
    Ok(())
}
