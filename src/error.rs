//! The crate's one error type.

use std::fmt;

use uuid::Uuid;

use crate::models::SkillMessageStatus;

/// Everything that can go wrong in this crate, as values a caller can `match`.
///
/// A refused call changes no row, and a tenant scope that returns an error
/// rolls back: nothing was written, except that after
/// [`CommitOutcomeUnknown`](Error::CommitOutcomeUnknown) the scope's writes
/// may all have been committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No skill message with this id exists in the tenant.
    #[error("skill message {0} not found")]
    NotFound(Uuid),

    /// The acting user is not the message's recipient, the only user who may
    /// mark it read or respond to it.
    #[error("user {user_id} is not the recipient of skill message {message_id}")]
    NotRecipient {
        /// The message acted on.
        message_id: Uuid,
        /// The user who tried to act.
        user_id: Uuid,
    },

    /// The message was already accepted or declined; `status` is the response
    /// that won.
    #[error("skill message {message_id} was already {status}")]
    AlreadyResponded {
        /// The message acted on.
        message_id: Uuid,
        /// Its status, `Accepted` or `Declined`.
        status: SkillMessageStatus,
    },

    /// The message text cannot be stored.
    #[error("invalid message: {0}")]
    InvalidMessage(MessageProblem),

    /// Sender and recipient are the same user.
    #[error("user {0} cannot send a skill message to themselves")]
    SelfMessage(Uuid),

    /// The proposed parent skill is the subject skill itself.
    #[error("skill {0} cannot be proposed as its own parent")]
    ParentIsSubject(Uuid),

    /// No user with this id exists in the tenant (it may exist in another).
    #[error("no user {0} in this tenant")]
    UnknownUser(Uuid),

    /// No skill with this id exists in the tenant (it may exist in another).
    #[error("no skill {0} in this tenant")]
    UnknownSkill(Uuid),

    /// A response must be `Accepted` or `Declined`.
    #[error("{0} is not a response: a skill message can only be accepted or declined")]
    NotAResponse(SkillMessageStatus),

    /// The page cursor is malformed: it is not one this crate writes.
    #[error("invalid page cursor")]
    InvalidCursor,

    /// The page size is outside 1 to [`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE).
    #[error("page size {0} is out of range: 1 to {max}", max = crate::MAX_PAGE_SIZE)]
    InvalidPageSize(u32),

    /// The database would not enforce row-level security for the runtime role
    /// `skill_messages_app`: the reason says why.
    #[error("row-level security is not enforced: {0}")]
    RlsNotEnforced(String),

    /// The connection failed while the scope was committing: its writes are
    /// either all committed or all absent, and only reading them back tells.
    #[error("the connection failed during commit, so the outcome is unknown: {0}")]
    CommitOutcomeUnknown(diesel::result::Error),

    /// A [`PoolBuilder`](crate::PoolBuilder) setting that cannot work: the
    /// text names it.
    #[error("invalid pool settings: {0}")]
    InvalidPoolSettings(&'static str),

    /// An error from PostgreSQL or from diesel.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),

    /// No connection could be had from the pool.
    #[error(transparent)]
    Pool(#[from] diesel::r2d2::PoolError),

    /// Running the migrations failed.
    #[error("migrations failed: {0}")]
    Migration(Box<dyn std::error::Error + Send + Sync>),
}

/// Why a message text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageProblem {
    /// Empty, or nothing but white space.
    Blank,
    /// Longer than [`MAX_MESSAGE_CHARS`](crate::MAX_MESSAGE_CHARS) characters
    /// after trimming; `chars` is its length.
    TooLong {
        /// The length in characters, after trimming.
        chars: usize,
    },
    /// Contains a NUL character, which PostgreSQL text cannot hold.
    ContainsNul,
}

impl fmt::Display for MessageProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blank => f.write_str("the message is blank"),
            Self::TooLong { chars } => write!(
                f,
                "the message has {chars} characters, more than {}",
                crate::MAX_MESSAGE_CHARS
            ),
            Self::ContainsNul => f.write_str("the message contains a NUL character"),
        }
    }
}
