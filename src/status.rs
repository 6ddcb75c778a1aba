//! Where a proposal stands.

use std::fmt;
use std::str::FromStr;

/// Where a proposal stands: `Pending` until its recipient accepts or
/// declines it, or its sender withdraws it.
///
/// Prints and parses as the label PostgreSQL stores (`pending`, `accepted`,
/// `declined`, `withdrawn`), which is also its serde name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel_derive_enum::DbEnum)]
#[ExistingTypePath = "crate::schema::sql_types::SkillMessageStatus"]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum SkillMessageStatus {
    /// Sent, not yet answered.
    Pending,
    /// The recipient accepted the proposal.
    Accepted,
    /// The recipient declined the proposal.
    Declined,
    /// The sender took the proposal back before it was answered.
    Withdrawn,
}

impl SkillMessageStatus {
    /// Every status, in the order a proposal can reach them.
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Accepted,
        Self::Declined,
        Self::Withdrawn,
    ];

    /// The label PostgreSQL stores: `pending`, `accepted`, `declined` or
    /// `withdrawn`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Withdrawn => "withdrawn",
        }
    }
}

impl fmt::Display for SkillMessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SkillMessageStatus {
    type Err = UnknownStatus;

    /// Parses a label as [`as_str`](Self::as_str) prints it.
    fn from_str(s: &str) -> Result<Self, UnknownStatus> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// A text that is not the label of a [`SkillMessageStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown skill message status {0:?}: expected pending, accepted, declined or withdrawn")]
pub struct UnknownStatus(pub String);
