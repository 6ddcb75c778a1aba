//! Keyset pagination: pages of an inbox, newest first, and the cursor that
//! continues after one.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::Error;
use crate::models::SkillMessage;

/// The page size when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 20;

/// The largest page one call returns.
pub const MAX_PAGE_SIZE: u32 = 100;

/// One page of results, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page, at most the page size.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// An opaque position in an inbox: the page after it holds the messages
/// older than the last one a page returned.
///
/// It is a string for callers to hand back (`to_string` and `parse`); its
/// content is not a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) id: Uuid,
}

impl Cursor {
    /// The position of `message` in its recipient's inbox.
    pub(crate) fn of(message: &SkillMessage) -> Self {
        Self {
            created_at: message.created_at,
            id: message.id,
        }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // PostgreSQL keeps microseconds, so the position is exact.
        let micros = self.created_at.timestamp_micros();
        write!(f, "{:016x}{}", micros as u64, self.id.simple())
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.len() != 48 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidCursor);
        }
        let (micros, id) = s.split_at(16);
        let micros = u64::from_str_radix(micros, 16).map_err(|_| Error::InvalidCursor)? as i64;
        Ok(Self {
            created_at: DateTime::from_timestamp_micros(micros).ok_or(Error::InvalidCursor)?,
            id: Uuid::try_parse(id).map_err(|_| Error::InvalidCursor)?,
        })
    }
}

/// Cuts `rows`, fetched with one row more than `limit`, into a page whose
/// cursor is the position of its last item.
pub(crate) fn into_page<T>(
    mut rows: Vec<T>,
    limit: u32,
    position: impl Fn(&T) -> Cursor,
) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(position)
    } else {
        None
    };
    Page { items: rows, next }
}
