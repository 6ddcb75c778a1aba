//! The service calls as every section makes them (the five, and the three
//! beyond them), and the connections they run on.

use std::time::Duration;

use diesel::prelude::*;
use skill_messages::{
    Cursor, Error, MessageQuery, NewSkillMessage, Pool, Response, get_messages_for_user,
    get_sent_messages_for_user, get_unread_count_for_user, mark_all_read, mark_message_read,
    send_skill_message, update_message_status, withdraw_message,
};

use crate::common::{self, TestDb, with_params};
use crate::seed::Items;
use crate::statements;

#[derive(Clone, Copy, PartialEq)]
pub enum Op {
    List,
    Count,
    Send,
    MarkRead,
    Respond,
    /// The three beyond the five: a page of sent messages, ...
    SentList,
    /// ... every unread message of a user marked read up to a position, ...
    MarkAllRead,
    /// ... and a pending proposal withdrawn by its sender.
    Withdraw,
}

/// The text of every message the benchmark sends.
pub const MESSAGE: &str = "Would you group this skill under yours?";

impl Op {
    pub const ALL: [Op; 5] = [Op::List, Op::Count, Op::Send, Op::MarkRead, Op::Respond];

    /// The calls beyond the five.
    pub const BEYOND: [Op; 3] = [Op::SentList, Op::MarkAllRead, Op::Withdraw];

    pub fn name(self) -> &'static str {
        match self {
            Op::List => "get_messages_for_user",
            Op::Count => "get_unread_count_for_user",
            Op::Send => "send_skill_message",
            Op::MarkRead => "mark_message_read",
            Op::Respond => "update_message_status",
            Op::SentList => "get_sent_messages_for_user",
            Op::MarkAllRead => "mark_all_read",
            Op::Withdraw => "withdraw_message",
        }
    }

    /// Its name on the command line, and its pgbench script's.
    pub fn script(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Count => "count",
            Op::Send => "send",
            Op::MarkRead => "mark_read",
            Op::Respond => "respond",
            Op::SentList => "sent_list",
            Op::MarkAllRead => "mark_all_read",
            Op::Withdraw => "withdraw",
        }
    }

    /// The statement the call runs, as the crate prepares it (the inbox's
    /// first page).
    pub fn statement(self) -> &'static str {
        match self {
            Op::List => statements::INBOX,
            Op::Count => statements::COUNT,
            Op::Send => statements::SEND,
            Op::MarkRead => statements::MARK_READ,
            Op::Respond => statements::RESPOND,
            Op::SentList => statements::SENT,
            Op::MarkAllRead => statements::MARK_ALL_READ,
            Op::Withdraw => statements::WITHDRAW,
        }
    }

    /// Calls the crate once: `n` picks the work item.
    pub fn call(self, pool: &Pool, items: &Items, n: usize) -> Result<(), Error> {
        let pair = items.pairs[n % items.pairs.len()];
        match self {
            Op::List => pool
                .with_tenant(pair.tenant_id, |tx| {
                    get_messages_for_user(tx, pair.user_id, MessageQuery::new())
                })
                .map(drop),
            Op::Count => pool
                .with_tenant(pair.tenant_id, |tx| {
                    get_unread_count_for_user(tx, pair.user_id)
                })
                .map(drop),
            Op::Send => pool
                .with_tenant(pair.tenant_id, |tx| {
                    send_skill_message(
                        tx,
                        NewSkillMessage {
                            from_user_id: pair.user_id,
                            to_user_id: pair.other_user_id,
                            subject_skill_id: pair.skill_id,
                            proposed_parent_skill_id: Some(pair.other_skill_id),
                            message: MESSAGE,
                        },
                    )
                })
                .map(drop),
            Op::MarkRead => {
                let t = items.unread[n];
                pool.with_tenant(t.tenant_id, |tx| {
                    mark_message_read(tx, t.message_id, t.to_user_id)
                })
                .map(drop)
            }
            Op::Respond => {
                let t = items.pending[n];
                pool.with_tenant(t.tenant_id, |tx| {
                    update_message_status(tx, t.message_id, t.to_user_id, Response::Accepted)
                })
                .map(drop)
            }
            Op::SentList => pool
                .with_tenant(pair.tenant_id, |tx| {
                    get_sent_messages_for_user(tx, pair.user_id, MessageQuery::new())
                })
                .map(drop),
            Op::MarkAllRead => {
                let d = items.digest[n];
                pool.with_tenant(d.tenant_id, |tx| {
                    mark_all_read(tx, d.user_id, Cursor::up_to(d.up_to))
                })
                .map(drop)
            }
            Op::Withdraw => {
                let w = items.withdraw[n];
                pool.with_tenant(w.tenant_id, |tx| {
                    withdraw_message(tx, w.message_id, w.from_user_id)
                })
                .map(drop)
            }
        }
    }

    /// Work items that must not repeat (a message read, answered or
    /// withdrawn once, a user's unread messages marked read once).
    pub fn consumes_items(self) -> bool {
        matches!(
            self,
            Op::MarkRead | Op::Respond | Op::MarkAllRead | Op::Withdraw
        )
    }

    /// How many work items a consuming operation has.
    pub fn items_len(self, items: &Items) -> usize {
        match self {
            Op::MarkRead => items.unread.len(),
            Op::Respond => items.pending.len(),
            Op::MarkAllRead => items.digest.len(),
            Op::Withdraw => items.withdraw.len(),
            Op::List | Op::Count | Op::Send | Op::SentList => items.pairs.len(),
        }
    }
}

/// The service's login, without TLS: as the crate's pools and pgbench both
/// connect here (PostgreSQL's Docker image has no TLS either).
pub fn app_url(db: &TestDb) -> String {
    with_params(&db.app_url(), &[("sslmode", "disable")])
}

/// The statement timeout of the benchmark's pools, which every scope sets:
/// the crate's default, named so that pgbench sets the same.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

pub fn pool(db: &TestDb, size: usize) -> Pool {
    Pool::builder()
        .max_size(size as u32)
        .statement_timeout(Some(STATEMENT_TIMEOUT))
        .build(&app_url(db))
        .expect("a pool for the benchmark")
}

/// The superuser's connection, without TLS like the pools': it takes the
/// role each timing needs in its transaction.
pub fn timing_connection(db: &TestDb) -> PgConnection {
    common::connect(&with_params(&db.admin_url(), &[("sslmode", "disable")]))
}
