//! What users are promised, under random workloads (`model`), load
//! (`load`), faults (`faults`) and bad input (`bad_input`): no tenant ever
//! sees or changes another's rows, and nothing is lost or half-written.
//! The four suites call the crate through one operation model, [`Call`].
//! Each test prints its figures (`-- --nocapture`); RELIABILITY.md records
//! them. Environment variables scale the runs: `PROPTEST_CASES` (default
//! 32), `RELIABILITY_LOAD_OPS` (default 20000), `RELIABILITY_FAULT_OPS`
//! (default 1200).

mod bad_input;
mod faults;
mod load;
mod model;

use crate::common::Fixture;
use diesel::prelude::*;
use skill_messages::schema::skill_messages as messages;
use skill_messages::{
    Answer, Error, MessageQuery, NewSkillMessage, ReadMark, SkillId, SkillMessage,
    SkillMessageDetails, SkillMessageId, TenantConn, TenantId, UserId,
};

/// One operation and its arguments, as every suite makes it.
#[derive(Debug, Clone)]
enum Call {
    Send {
        from: UserId,
        to: UserId,
        subject: SkillId,
        parent: Option<SkillId>,
        text: String,
    },
    /// Every page of a list, as one user paging through it would.
    List {
        outbox: bool,
        user: UserId,
        query: MessageQuery,
    },
    Count {
        user: UserId,
    },
    Details {
        message: SkillMessageId,
        user: UserId,
    },
    MarkRead {
        message: SkillMessageId,
        user: UserId,
    },
    Answer {
        message: SkillMessageId,
        user: UserId,
        answer: Answer,
    },
    MarkAllRead {
        user: UserId,
        seen: ReadMark,
    },
    Withdraw {
        message: SkillMessageId,
        user: UserId,
    },
}

/// What an operation returned.
#[derive(Debug, Clone)]
enum Returned {
    Message(SkillMessage),
    Messages(Vec<SkillMessage>),
    Count(u64),
    Details(Box<SkillMessageDetails>),
}

impl Call {
    /// The operation's name, for the figures.
    fn name(&self) -> &'static str {
        match self {
            Call::Send { .. } => "send",
            Call::List { outbox: false, .. } => "inbox",
            Call::List { outbox: true, .. } => "outbox",
            Call::Count { .. } => "unread_count",
            Call::Details { .. } => "details",
            Call::MarkRead { .. } => "mark_read",
            Call::Answer { .. } => "answer",
            Call::MarkAllRead { .. } => "mark_all_read",
            Call::Withdraw { .. } => "withdraw",
        }
    }

    /// Runs the operation in the scope `tx`.
    fn run(&self, tx: &mut TenantConn<'_>) -> Result<Returned, Error> {
        Ok(match self {
            Call::Send {
                from,
                to,
                subject,
                parent,
                text,
            } => Returned::Message(tx.send(NewSkillMessage {
                from_user_id: *from,
                to_user_id: *to,
                subject_skill_id: *subject,
                proposed_parent_skill_id: *parent,
                message: text,
            })?),
            Call::List {
                outbox,
                user,
                query,
            } => {
                let pages = crate::common::paged(1000, *query, |query| {
                    if *outbox {
                        tx.outbox(*user, query)
                    } else {
                        tx.inbox(*user, query)
                    }
                })?;
                Returned::Messages(pages.into_iter().flat_map(|page| page.items).collect())
            }
            Call::Count { user } => Returned::Count(tx.unread_count(*user)?),
            Call::Details { message, user } => {
                Returned::Details(Box::new(tx.details(*message, *user)?))
            }
            Call::MarkRead { message, user } => Returned::Message(tx.mark_read(*message, *user)?),
            Call::Answer {
                message,
                user,
                answer,
            } => Returned::Message(tx.answer(*message, *user, *answer)?),
            Call::MarkAllRead { user, seen } => Returned::Count(tx.mark_all_read(*user, seen)?),
            Call::Withdraw { message, user } => Returned::Message(tx.withdraw(*message, *user)?),
        })
    }
}

impl Returned {
    /// The message an operation returned; any other answer fails the test.
    fn message(self) -> SkillMessage {
        match self {
            Returned::Message(message) => message,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The messages a list returned.
    fn messages(self) -> Vec<SkillMessage> {
        match self {
            Returned::Messages(messages) => messages,
            other => panic!("expected messages, got {other:?}"),
        }
    }

    /// The details an operation returned.
    fn details(self) -> SkillMessageDetails {
        match self {
            Returned::Details(details) => *details,
            other => panic!("expected details, got {other:?}"),
        }
    }

    /// The number an operation returned.
    fn count(self) -> u64 {
        match self {
            Returned::Count(count) => count,
            other => panic!("expected a count, got {other:?}"),
        }
    }
}

/// A number from the environment, or `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The name of an error's kind, for the figures.
fn kind(error: &Error) -> String {
    match error {
        Error::Database(e) => format!("Database({})", e.to_string().lines().next().unwrap_or("")),
        other => format!("{other:?}")
            .split(['(', ' '])
            .next()
            .unwrap_or("")
            .to_owned(),
    }
}

fn users(f: &Fixture) -> [UserId; 3] {
    [f.alice, f.bob, f.carol]
}

fn skills(f: &Fixture) -> [SkillId; 3] {
    [f.skill, f.parent, f.other_skill]
}

/// Every stored message of `tenants`, as the superuser sees it.
fn stored(admin: &mut PgConnection, tenants: &[TenantId]) -> Vec<SkillMessage> {
    messages::table
        .filter(messages::tenant_id.eq_any(tenants))
        .select(SkillMessage::as_select())
        .load(admin)
        .expect("read the stored messages")
}

/// Every row of every table, as text, as the superuser sees it.
fn every_row(admin: &mut PgConnection) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        row: String,
    }
    diesel::sql_query(
        "SELECT t::text AS row FROM tenants t UNION ALL SELECT u::text FROM users u
         UNION ALL SELECT s::text FROM skills s UNION ALL SELECT m::text FROM skill_messages m
         ORDER BY 1",
    )
    .load::<Row>(admin)
    .expect("read every row")
    .into_iter()
    .map(|r| r.row)
    .collect()
}
