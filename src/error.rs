//! The crate's one error type, and how diesel's errors map into it.

use diesel::result::{DatabaseErrorKind, Error::DatabaseError};

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
    /// mark it read or unread and answer it.
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

    /// The acting user neither sent nor received the message: its details
    /// are not theirs to read.
    #[error("user {user_id} neither sent nor received skill message {message_id}")]
    NotParticipant {
        /// The message asked for.
        message_id: SkillMessageId,
        /// The user who asked.
        user_id: UserId,
    },

    /// The message is no longer pending: it was accepted, declined or
    /// withdrawn, and `status` says which won.
    #[error("skill message {message_id} was already {status}")]
    NotPending {
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

    /// The message was not stored, though every user and skill it names
    /// exists: another transaction created one of them while the send ran
    /// (the send did not see it yet), or the new message's id was taken.
    /// Nothing was written; sending it again gives a definite answer.
    #[error(
        "the skill message was not stored: a user or skill it names was created while it was \
         being sent; send it again"
    )]
    SendRaced,

    /// The sender's proposal of the same subject skill under the same
    /// parent (or under none) to the same recipient is pending already:
    /// this id. One proposal per pair is pending at a time.
    #[error("skill message {0} proposes the same and is pending already")]
    AlreadyPending(SkillMessageId),

    /// The page cursor is malformed (not one this crate writes), or names a
    /// time PostgreSQL cannot hold (before 4714 BC): refused before any
    /// statement is sent.
    #[error("invalid page cursor: not one this crate writes, or a time PostgreSQL cannot hold")]
    InvalidCursor,

    /// The read mark is malformed (not one this crate writes), or holds
    /// more than [`MAX_READ_MARK`](crate::MAX_READ_MARK) messages.
    #[error("invalid read mark: not one this crate writes, or more than {max} messages", max = crate::MAX_READ_MARK)]
    InvalidReadMark,

    /// The page size is outside 1 to [`MAX_PAGE_SIZE`](crate::MAX_PAGE_SIZE).
    #[error("page size {0} is out of range: 1 to {max}", max = crate::MAX_PAGE_SIZE)]
    InvalidPageSize(u32),

    /// The database would not enforce row-level security on the crate's
    /// table for the runtime role; each reason names one problem.
    #[error("row-level security is not enforced: {}", .0.join("; "))]
    RlsNotEnforced(Vec<String>),

    /// The platform's tables lack something the crate relies on (README,
    /// "Adding skill messages to an existing platform"); each reason names
    /// one missing table, column, key or privilege.
    #[error("the platform's tables do not meet the crate's contract: {}", .0.join("; "))]
    PlatformContract(Vec<String>),

    /// A runtime role, tenant setting or maintenance role name that is not a
    /// plain name, or one role for both jobs: the text says which, and why.
    #[error("invalid name: {0}")]
    InvalidName(String),

    /// The database is not ready for [`Maintenance`](crate::Maintenance)
    /// jobs as this login; each reason names one problem (the maintenance
    /// role missing, not the login's to take, or without its policy).
    #[error("maintenance jobs cannot run: {}", .0.join("; "))]
    MaintenanceNotReady(Vec<String>),

    /// [`with_tenant_in_transaction`](crate::with_tenant_in_transaction)
    /// was given a connection that is not in a transaction diesel knows of.
    #[error("the connection is not in a transaction: open one with Connection::transaction")]
    NotInTransaction,

    /// The connection failed while the scope was committing: its writes are
    /// either all committed or all absent, and only reading them back tells.
    #[error("the connection failed during commit, so the outcome is unknown")]
    CommitOutcomeUnknown(#[source] diesel::result::Error),

    /// A [`PoolBuilder`](crate::PoolBuilder) setting that cannot work: the
    /// text names it.
    #[error("invalid pool settings: {0}")]
    InvalidPoolSettings(&'static str),

    /// PostgreSQL refused to move a message against the status order
    /// (pending, then accepted, declined or withdrawn, for good;
    /// `responded_at` and `read_at` never change once set), which the
    /// database enforces for every client. The crate's own calls never ask
    /// for such a move; the source is PostgreSQL's refusal.
    #[error("the database refused a change against the status order")]
    StatusOrder(#[source] diesel::result::Error),

    /// A statement the connection had prepared by name was missing or
    /// clashed with another (PostgreSQL's `prepared statement
    /// "__diesel_stmt_N" already exists`, `does not exist`, or `bind message
    /// supplies 5 parameters, but prepared statement "__diesel_stmt_N"
    /// requires 3`): the pool
    /// reaches PostgreSQL through a pooler in transaction mode, such as
    /// PgBouncer with `pool_mode = transaction`, which hands each
    /// transaction another server connection. Build the pool with
    /// [`PoolBuilder::transaction_pooling(true)`](crate::PoolBuilder::transaction_pooling).
    #[error(
        "a prepared statement went missing or clashed between connections: PostgreSQL is \
         reached through a pooler in transaction mode (such as PgBouncer with pool_mode = \
         transaction); build the pool with PoolBuilder::transaction_pooling(true)"
    )]
    TransactionPoolingRequired(#[source] diesel::result::Error),

    /// An error from PostgreSQL or from diesel.
    #[error(transparent)]
    Database(diesel::result::Error),

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

impl From<diesel::result::Error> for Error {
    /// The error diesel gave, or what it means where the crate knows: the
    /// status order refused, or statements prepared on another connection.
    fn from(error: diesel::result::Error) -> Self {
        match &error {
            DatabaseError(DatabaseErrorKind::CheckViolation, info)
                if info.constraint_name() == Some(STATUS_ORDER)
                    || info.message().contains(STATUS_ORDER) =>
            {
                Self::StatusOrder(error)
            }
            DatabaseError(_, info) if is_prepared_statement_clash(info.message()) => {
                Self::TransactionPoolingRequired(error)
            }
            _ => Self::Database(error),
        }
    }
}

/// How an operation ended, for tracing: `ok`, `refused` or `failed`.
pub(crate) fn outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) if error.is_refusal() => "refused",
        Err(_) => "failed",
    }
}

/// Whether `error` is the connection's failure (closed, or unable to send)
/// rather than a statement's.
pub(crate) fn connection_lost(error: &diesel::result::Error) -> bool {
    matches!(
        error,
        DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

/// The error of a commit that failed, or of a pipeline that held a
/// `COMMIT`: when the connection failed, the commit may or may not have
/// happened, and the outcome is unknown.
pub(crate) fn commit_failure(error: diesel::result::Error) -> Error {
    if connection_lost(&error) {
        crate::trace::commit_outcome_unknown(&error);
        Error::CommitOutcomeUnknown(error)
    } else {
        error.into()
    }
}

/// The constraint name under which the database refuses a move against the
/// status order (Citus relays a worker's refusal with it in the message).
const STATUS_ORDER: &str = "skill_messages_status_order";

/// Whether PostgreSQL's `message` is about a statement diesel prepared
/// under its own name (`__diesel_stmt_N`): that it already exists, does not
/// exist, or takes other parameters on this server connection, as happens
/// when a pooler in transaction mode hands a transaction a server
/// connection other than the one that prepared it.
fn is_prepared_statement_clash(message: &str) -> bool {
    message.contains("prepared statement \"__diesel_stmt_")
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
            | Self::NotParticipant { .. }
            | Self::NotPending { .. }
            | Self::InvalidMessage(_)
            | Self::SelfMessage(_)
            | Self::ParentIsSubject(_)
            | Self::UnknownUser(_)
            | Self::UnknownSkill(_)
            | Self::SendRaced
            | Self::AlreadyPending(_)
            | Self::InvalidCursor
            | Self::InvalidReadMark
            | Self::InvalidPageSize(_) => true,
            Self::RlsNotEnforced(_)
            | Self::PlatformContract(_)
            | Self::InvalidName(_)
            | Self::MaintenanceNotReady(_)
            | Self::NotInTransaction
            | Self::CommitOutcomeUnknown(_)
            | Self::InvalidPoolSettings(_)
            | Self::StatusOrder(_)
            | Self::TransactionPoolingRequired(_)
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

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error::DatabaseError};

    use super::Error;

    /// An error as PostgreSQL would report it.
    #[derive(Debug)]
    struct Reported {
        message: &'static str,
        constraint: Option<&'static str>,
    }

    impl DatabaseErrorInformation for Reported {
        fn message(&self) -> &str {
            self.message
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.constraint
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn reported(kind: DatabaseErrorKind, message: &'static str) -> Error {
        Error::from(DatabaseError(
            kind,
            Box::new(Reported {
                message,
                constraint: None,
            }),
        ))
    }

    #[test]
    fn statements_prepared_on_another_server_connection_name_the_pooler() {
        for message in [
            "prepared statement \"__diesel_stmt_3\" already exists",
            "prepared statement \"__diesel_stmt_12\" does not exist",
            "bind message supplies 5 parameters, but prepared statement \"__diesel_stmt_5\" \
             requires 3",
        ] {
            let error = reported(DatabaseErrorKind::Unknown, message);
            assert!(
                matches!(error, Error::TransactionPoolingRequired(_)),
                "{message}: {error:?}"
            );
            assert!(error.to_string().contains("transaction_pooling(true)"));
        }
        let own = reported(
            DatabaseErrorKind::Unknown,
            "prepared statement \"mine\" already exists",
        );
        assert!(matches!(own, Error::Database(_)), "{own:?}");
    }

    #[test]
    fn a_refusal_of_the_status_order_is_named_whether_or_not_the_constraint_field_is_kept() {
        let direct = Error::from(DatabaseError(
            DatabaseErrorKind::CheckViolation,
            Box::new(Reported {
                message: "skill message 1 is accepted, and cannot become pending",
                constraint: Some("skill_messages_status_order"),
            }),
        ));
        assert!(matches!(direct, Error::StatusOrder(_)), "{direct:?}");
        let relayed = reported(
            DatabaseErrorKind::CheckViolation,
            "skill message 1 is accepted, and cannot become pending (skill_messages_status_order)",
        );
        assert!(matches!(relayed, Error::StatusOrder(_)), "{relayed:?}");
        let other_check = reported(
            DatabaseErrorKind::CheckViolation,
            "new row for relation \"skill_messages\" violates check constraint \"x\"",
        );
        assert!(matches!(other_check, Error::Database(_)), "{other_check:?}");
    }
}
