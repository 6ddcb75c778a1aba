//! The crate's one error type.

use crate::ids::{SkillId, SkillMessageId, UserId};
use crate::status::SkillMessageStatus;

/// Everything that can go wrong in this crate, as values a caller can `match`.
///
/// Two kinds, told apart by [`is_refusal`](Error::is_refusal):
///
/// - A **refusal** (bad input, an unknown id, a message that is not the
///   caller's to answer, ...) writes nothing and leaves the tenant scope
///   usable: the next call in the same scope works, and the scope commits
///   what it did if the closure goes on to return `Ok`.
/// - A **failure** of the database, the pool or the migrations: the scope's
///   transaction is aborted and rolls back, except that after
///   [`CommitOutcomeUnknown`](Error::CommitOutcomeUnknown) the scope's writes
///   may all have been committed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No skill message with this id exists in the tenant.
    #[error("skill message {0} not found")]
    NotFound(SkillMessageId),

    /// The acting user is not the message's recipient, the only user who may
    /// mark it read or respond to it.
    #[error("user {user_id} is not the recipient of skill message {message_id}")]
    NotRecipient {
        /// The message acted on.
        message_id: SkillMessageId,
        /// The user who tried to act.
        user_id: UserId,
    },

    /// The acting user is not the message's sender, the only user who may
    /// withdraw it.
    #[error("user {user_id} is not the sender of skill message {message_id}")]
    NotSender {
        /// The message acted on.
        message_id: SkillMessageId,
        /// The user who tried to act.
        user_id: UserId,
    },

    /// The message is no longer pending: it was accepted, declined or
    /// withdrawn, and `status` says which won.
    #[error("skill message {message_id} was already {status}")]
    AlreadyResponded {
        /// The message acted on.
        message_id: SkillMessageId,
        /// Its status: `Accepted`, `Declined` or `Withdrawn`.
        status: SkillMessageStatus,
    },

    /// The message text cannot be stored.
    #[error("invalid message: {0}")]
    InvalidMessage(#[source] MessageProblem),

    /// Sender and recipient are the same user.
    #[error("user {0} cannot send a skill message to themselves")]
    SelfMessage(UserId),

    /// The proposed parent skill is the subject skill itself.
    #[error("skill {0} cannot be proposed as its own parent")]
    ParentIsSubject(SkillId),

    /// No user with this id exists in the tenant (it may exist in another).
    #[error("no user {0} in this tenant")]
    UnknownUser(UserId),

    /// No skill with this id exists in the tenant (it may exist in another).
    #[error("no skill {0} in this tenant")]
    UnknownSkill(SkillId),

    /// The page cursor is malformed: it is not one this crate writes.
    #[error("invalid page cursor")]
    InvalidCursor,

    /// The page size is outside 1 to [`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE).
    #[error("page size {0} is out of range: 1 to {max}", max = crate::MAX_PAGE_SIZE)]
    InvalidPageSize(u32),

    /// The database would not enforce row-level security for the runtime role
    /// `skill_messages_app`; each reason names one problem.
    #[error("row-level security is not enforced: {}", .0.join("; "))]
    RlsNotEnforced(Vec<String>),

    /// The connection failed while the scope was committing: its writes are
    /// either all committed or all absent, and only reading them back tells.
    #[error("the connection failed during commit, so the outcome is unknown")]
    CommitOutcomeUnknown(#[source] diesel::result::Error),

    /// A [`PoolBuilder`](crate::PoolBuilder) setting that cannot work: the
    /// text names it.
    #[error("invalid pool settings: {0}")]
    InvalidPoolSettings(&'static str),

    /// An error from PostgreSQL or from diesel.
    #[error(transparent)]
    Database(#[from] diesel::result::Error),

    /// A connection of its own (a [`Listener`](crate::Listener)'s) could
    /// not be made.
    #[error(transparent)]
    Connection(#[from] diesel::ConnectionError),

    /// No connection could be had from the pool, within its connection
    /// timeout: the source says why.
    #[error("no connection could be had from the pool")]
    Pool(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// Running the migrations failed.
    #[error("migrations failed")]
    Migration(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Pool(Box::new(error))
    }
}

impl Error {
    /// Whether this is a refusal of the call's input or of the message's
    /// state: nothing was written and the tenant scope is still usable.
    /// Every other error is a failure that aborted the scope.
    pub fn is_refusal(&self) -> bool {
        match self {
            Self::NotFound(_)
            | Self::NotRecipient { .. }
            | Self::NotSender { .. }
            | Self::AlreadyResponded { .. }
            | Self::InvalidMessage(_)
            | Self::SelfMessage(_)
            | Self::ParentIsSubject(_)
            | Self::UnknownUser(_)
            | Self::UnknownSkill(_)
            | Self::InvalidCursor
            | Self::InvalidPageSize(_) => true,
            Self::RlsNotEnforced(_)
            | Self::CommitOutcomeUnknown(_)
            | Self::InvalidPoolSettings(_)
            | Self::Database(_)
            | Self::Connection(_)
            | Self::Pool(_)
            | Self::Migration(_) => false,
        }
    }
}

/// Why a message text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageProblem {
    /// Empty, or nothing but white space.
    #[error("the message is blank")]
    Blank,
    /// Longer than [`MAX_MESSAGE_CHARS`](crate::MAX_MESSAGE_CHARS) characters
    /// after trimming; `chars` is its length.
    #[error("the message has {chars} characters, more than {max}", max = crate::MAX_MESSAGE_CHARS)]
    TooLong {
        /// The length in characters, after trimming.
        chars: usize,
    },
    /// Contains a NUL character, which PostgreSQL text cannot hold.
    #[error("the message contains a NUL character")]
    ContainsNul,
}
