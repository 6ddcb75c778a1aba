//! Deleting many messages in batches: purging a tenant, and the retention
//! sweep. Each batch is a transaction of its own that locks at most its own
//! rows, so live traffic waits for one batch at most, and a job stopped
//! anywhere (a crash, a kill) has deleted whole batches only: running it
//! again carries on where it stopped.

use std::num::NonZeroU32;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamptz, Uuid as SqlUuid};

use super::Maintenance;
use crate::error::Error;
use crate::ids::TenantId;

/// A batch size that keeps each transaction short: 1,000 messages.
pub const DEFAULT_BATCH_SIZE: NonZeroU32 = NonZeroU32::new(1000).unwrap();

impl Maintenance {
    /// Deletes every message of `tenant`, `batch_size` at a time, and
    /// returns how many it deleted. Each batch commits on its own and is
    /// reported to `tracing` with the count so far; stopped part-way, it has
    /// deleted whole batches, and calling it again deletes the rest.
    ///
    /// It ends with the first batch that finds fewer than `batch_size`
    /// messages: stop the tenant's traffic first, or messages sent meanwhile
    /// may stay. The platform deletes its tenant row afterwards (which would
    /// also delete the messages in one long transaction: the foreign key
    /// cascades).
    pub fn purge_tenant(&mut self, tenant: TenantId, batch_size: NonZeroU32) -> Result<u64, Error> {
        self.in_batches("purge_tenant", Some(tenant), batch_size, |conn| {
            diesel::sql_query(PURGE_BATCH)
                .bind::<SqlUuid, _>(tenant)
                .bind::<BigInt, _>(i64::from(batch_size.get()))
                .execute(conn)
        })
    }

    /// The retention sweep: deletes, in every tenant, the messages answered
    /// or withdrawn before `finished_before` (by `responded_at`; pending
    /// ones are never swept), oldest first, `batch_size` at a time, and
    /// returns how many it deleted. Batches commit and are reported as
    /// [`purge_tenant`](Self::purge_tenant)'s are, and it is safe beside
    /// live traffic: a finished message is only ever marked read or unread,
    /// which waits for one batch at most.
    ///
    /// Run it from a scheduled job, e.g. daily with `Utc::now() -
    /// chrono::Duration::days(365)`.
    pub fn sweep(
        &mut self,
        finished_before: DateTime<Utc>,
        batch_size: NonZeroU32,
    ) -> Result<u64, Error> {
        self.in_batches("sweep", None, batch_size, |conn| {
            diesel::sql_query(SWEEP_BATCH)
                .bind::<Timestamptz, _>(finished_before)
                .bind::<BigInt, _>(i64::from(batch_size.get()))
                .execute(conn)
        })
    }

    /// Runs `batch` until it deletes fewer than `batch_size` rows, each in a
    /// transaction of its own, and returns the rows deleted in all.
    fn in_batches(
        &mut self,
        action: &'static str,
        tenant: Option<TenantId>,
        batch_size: NonZeroU32,
        mut batch: impl FnMut(&mut PgConnection) -> QueryResult<usize>,
    ) -> Result<u64, Error> {
        let mut deleted = 0;
        loop {
            let rows = self.act(action, tenant, &mut batch)?;
            deleted += rows as u64;
            crate::trace::progress(action, tenant, deleted);
            if rows < batch_size.get() as usize {
                return Ok(deleted);
            }
        }
    }
}

/// The first `$2` messages of tenant `$1` by id, on the primary key.
const PURGE_BATCH: &str = "
DELETE FROM skill_messages
WHERE tenant_id = $1 AND id IN (
    SELECT id FROM skill_messages WHERE tenant_id = $1 ORDER BY id LIMIT $2
)";

/// The `$2` messages finished longest before `$1`, on the index of finished
/// messages.
const SWEEP_BATCH: &str = "
DELETE FROM skill_messages
WHERE (tenant_id, id) IN (
    SELECT tenant_id, id FROM skill_messages
    WHERE status <> 'pending' AND responded_at < $1
    ORDER BY responded_at LIMIT $2
)";
