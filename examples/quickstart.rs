//! The crate in one run: migrate, provision two tenants, send a grouping
//! proposal, read the recipient's inbox, mark it read, accept it, and look
//! from the other tenant (which sees nothing of it).
//!
//! ```sh
//! docker compose up -d              # or set DATABASE_URL to your server
//! cargo run --example quickstart
//! ```
//!
//! It creates the database named in `DATABASE_URL` if it does not exist, and
//! can run any number of times against the same one.

use std::error::Error as StdError;

use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::schema::{skills, tenants, users};
use skill_messages::uuid::Uuid;
use skill_messages::{
    Error, MessageQuery, NewSkillMessage, Pool, Response, SkillId, SkillMessageDetails, TenantId,
    UserId, get_message_details_for_user, get_unread_count_for_user, mark_message_read,
    run_migrations, send_skill_message, update_message_status,
};

const DEFAULT_DATABASE_URL: &str = "postgres://postgres:postgres@localhost:5432/skill_messages";

/// A tenant with two authors, each with one skill.
struct Provisioned {
    name: &'static str,
    id: TenantId,
    authors: [(UserId, SkillId); 2],
}

fn main() -> Result<(), Box<dyn StdError>> {
    let url = dotenvy::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
    let mut admin = connect_creating_database(&url)?;
    let applied = run_migrations(&mut admin)?;
    println!(
        "Migrations: {} applied now, schema up to date.",
        applied.len()
    );

    // Tenants, users and skills belong to the platform: it provisions them
    // with its own role. Fixed ids make the example repeatable.
    let acme = provision(
        &mut admin,
        "Acme",
        TenantId::from_uuid(Uuid::from_u128(0x0a11ce00_0000_4000_8000_00000000ac3e)),
        [
            ("ada", "Ada Lovelace", "Analytical Engines"),
            ("grace", "Grace Hopper", "Compilers"),
        ],
    )?;
    let globex = provision(
        &mut admin,
        "Globex",
        TenantId::from_uuid(Uuid::from_u128(0x0b0b0000_0000_4000_8000_0000000910be)),
        [
            ("hank", "Hank Scorpio", "Volcano Lairs"),
            ("frank", "Frank Grimes", "Nuclear Safety"),
        ],
    )?;
    println!(
        "Tenants: {} and {}, two authors and two skills each.\n",
        acme.name, globex.name
    );

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

/// Creates (or updates) a tenant, its users and their skills. Run with the
/// tenant set, so that it works for the tables' owner, whom the forced
/// policies bind, as well as for a superuser.
fn provision(
    conn: &mut PgConnection,
    name: &'static str,
    id: TenantId,
    people: [(&str, &str, &str); 2],
) -> QueryResult<Provisioned> {
    conn.transaction(|conn| {
        diesel::sql_query("SELECT set_config('app.current_tenant_id', $1, true)")
            .bind::<Text, _>(id.to_string())
            .execute(conn)?;
        let slug = name.to_lowercase();
        diesel::insert_into(tenants::table)
            .values((
                tenants::id.eq(id),
                tenants::name.eq(name),
                tenants::slug.eq(&slug),
            ))
            .on_conflict(tenants::id)
            .do_update()
            .set(tenants::name.eq(name))
            .execute(conn)?;
        let mut authors = Vec::new();
        for (handle, display_name, skill) in people {
            let user: UserId = diesel::insert_into(users::table)
                .values((
                    users::tenant_id.eq(id),
                    users::email.eq(format!("{handle}@{slug}.example")),
                    users::display_name.eq(display_name),
                ))
                .on_conflict((users::tenant_id, users::email))
                .do_update()
                .set(users::display_name.eq(display_name))
                .returning(users::id)
                .get_result(conn)?;
            let skill: SkillId = diesel::insert_into(skills::table)
                .values((
                    skills::tenant_id.eq(id),
                    skills::author_id.eq(user),
                    skills::name.eq(skill),
                    skills::slug.eq(skill.to_lowercase().replace(' ', "-")),
                ))
                .on_conflict((skills::tenant_id, skills::slug))
                .do_update()
                .set(skills::name.eq(skill))
                .returning(skills::id)
                .get_result(conn)?;
            authors.push((user, skill));
        }
        Ok(Provisioned {
            name,
            id,
            authors: [authors[0], authors[1]],
        })
    })
}

/// Connects to `url`, first creating its database if the server lacks it.
fn connect_creating_database(url: &str) -> Result<PgConnection, Box<dyn StdError>> {
    match PgConnection::establish(url) {
        Err(ConnectionError::BadConnection(message)) if message.contains("does not exist") => {
            let database = url
                .rsplit('/')
                .next()
                .and_then(|tail| tail.split('?').next())
                .filter(|name| !name.is_empty())
                .ok_or("DATABASE_URL names no database")?;
            let separator = if url.contains('?') { '&' } else { '?' };
            let mut server = PgConnection::establish(&format!("{url}{separator}dbname=postgres"))?;
            diesel::sql_query(format!("CREATE DATABASE \"{database}\"")).execute(&mut server)?;
            println!("Created database {database}.");
            Ok(PgConnection::establish(url)?)
        }
        connected => Ok(connected.map_err(|e| format!("cannot connect to {url}: {e}"))?),
    }
}
