//! New-message events: what a send announces, on a channel of its tenant,
//! and the listener that receives them.
//!
//! A send that commits notifies, in its own transaction, on the channel of
//! the message's tenant, with ids only: a rolled-back send notifies nobody,
//! and no text ever travels in an event. Whoever receives one reads the
//! message through a tenant scope, where row-level security applies.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;

use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId, UserId};

/// A skill message was sent: what a [`Listener`] yields, ids only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct NewMessageEvent {
    /// The tenant the message belongs to.
    pub tenant_id: TenantId,
    /// The message.
    pub message_id: SkillMessageId,
    /// Its sender.
    pub from_user_id: UserId,
    /// Its recipient.
    pub to_user_id: UserId,
}

impl NewMessageEvent {
    pub(crate) fn new(
        tenant_id: TenantId,
        message_id: SkillMessageId,
        from_user_id: UserId,
        to_user_id: UserId,
    ) -> Self {
        Self {
            tenant_id,
            message_id,
            from_user_id,
            to_user_id,
        }
    }

    /// The channel of the event's tenant.
    pub(crate) fn channel(&self) -> String {
        channel(self.tenant_id)
    }

    /// The payload: the message's, the sender's and the recipient's ids.
    pub(crate) fn payload(&self) -> String {
        format!(
            "{} {} {}",
            self.message_id, self.from_user_id, self.to_user_id
        )
    }

    /// The event a notification on `channel` with `payload` announces, if
    /// it is one of the crate's.
    pub(crate) fn parse(channel: &str, payload: &str) -> Option<Self> {
        let tenant_id = channel.strip_prefix(CHANNEL_PREFIX)?.parse().ok()?;
        let mut ids = payload.split(' ');
        let event = Self::new(
            tenant_id,
            parse_next(&mut ids)?,
            parse_next(&mut ids)?,
            parse_next(&mut ids)?,
        );
        ids.next().is_none().then_some(event)
    }

    /// `SELECT pg_notify(...)` as SQL of its own: a statement with no
    /// table, which a Citus coordinator runs itself.
    pub(crate) fn notify_sql(&self) -> String {
        // Ids and the prefix: nothing to escape.
        format!(
            "SELECT pg_notify('{}', '{}');",
            self.channel(),
            self.payload()
        )
    }
}

fn parse_next<T: FromStr>(ids: &mut std::str::Split<'_, char>) -> Option<T> {
    ids.next()?.parse().ok()
}

impl fmt::Display for NewMessageEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message {} from {} to {} in tenant {}",
            self.message_id, self.from_user_id, self.to_user_id, self.tenant_id
        )
    }
}

/// What every channel's name starts with, before the tenant's id.
const CHANNEL_PREFIX: &str = "skill_messages:";

/// The channel of `tenant`'s events.
pub(crate) fn channel(tenant: TenantId) -> String {
    format!("{CHANNEL_PREFIX}{tenant}")
}

/// `LISTEN` to the channel of `tenant`'s events.
pub(crate) fn listen_sql(tenant: TenantId) -> String {
    // A tenant's id and the prefix: nothing to escape.
    format!("LISTEN \"{}\"", channel(tenant))
}

/// A connection listening for one tenant's new-message events.
///
/// PostgreSQL lets any login listen on any channel: what the listener of a
/// tenant is told is that a message with these ids was sent, and nothing of
/// its text or state; it reads the message through a tenant scope, where
/// row-level security applies. The tenant to listen to must come from the
/// caller's authentication, as a scope's does. The connection must be one
/// of its own, not a pooled one, and must reach PostgreSQL directly or
/// through a pooler in session mode: a listener holds its session.
pub struct Listener {
    conn: PgConnection,
    tenant_id: TenantId,
}

impl Listener {
    /// Connects to `database_url` and listens for `tenant_id`'s events.
    pub fn connect(database_url: &str, tenant_id: TenantId) -> Result<Self, Error> {
        let conn = PgConnection::establish(database_url)?;
        Self::listen(conn, tenant_id)
    }

    /// Listens for `tenant_id`'s events on `conn`, a connection of the
    /// listener's own.
    pub fn listen(mut conn: PgConnection, tenant_id: TenantId) -> Result<Self, Error> {
        conn.batch_execute(&listen_sql(tenant_id))?;
        Ok(Self { conn, tenant_id })
    }

    /// The tenant whose events this listener receives.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant_id
    }

    /// The next event, waiting up to `timeout` for one (`None` waits as
    /// long as it takes). Events arrive as their sends commit, in commit
    /// order, each once.
    ///
    /// diesel's connection does not wait for a notification: this looks
    /// for one every few milliseconds (1, doubling up to 20, while there is
    /// none), which bounds the delay before an event is seen.
    pub fn next_event(
        &mut self,
        timeout: Option<Duration>,
    ) -> Result<Option<NewMessageEvent>, Error> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut pause = Duration::from_millis(1);
        loop {
            let tenant = self.tenant_id;
            for notification in self.conn.notifications_iter() {
                let notification = notification?;
                if let Some(event) = of_tenant(tenant, &notification.channel, &notification.payload)
                {
                    return Ok(Some(event));
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}

/// The event a notification announces, if it is one of the crate's for
/// `tenant`.
pub(crate) fn of_tenant(tenant: TenantId, channel: &str, payload: &str) -> Option<NewMessageEvent> {
    NewMessageEvent::parse(channel, payload).filter(|event| event.tenant_id == tenant)
}

impl Iterator for Listener {
    type Item = Result<NewMessageEvent, Error>;

    /// The next event, however long it takes; `None` never.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_event(None).transpose()
    }
}
