//! An operation as a value: the one statement it runs, what that
//! statement's rows mean, and, when they leave the answer open, the
//! read-only follow-up that settles it. Nothing here does I/O: each face
//! (the blocking scope, the async scope, the async one-round-trip call)
//! runs the statements its own way and hands the rows back, so every
//! statement, check and error mapping is written once, in the operation's
//! file under `operations/`.

use crate::error::Error;
use crate::events::NewMessageEvent;
use crate::ids::{SkillId, TenantId, UserId};
use crate::operations::follow_up::{Facts, FollowUp, References};
use crate::statement::Statement;

/// One operation, its input checked, ready to run.
pub(crate) trait Operation: Sized {
    /// What the operation returns.
    type Output;
    /// The SQL type of the statement's rows.
    type SqlType: 'static;
    /// What each row of the statement is read as.
    type Row: Send + 'static;
    /// The operation's name, for tracing: the method's on every face.
    const NAME: &'static str;

    /// The statement to run.
    fn statement(&self) -> Statement<Self::SqlType>;

    /// The answer the statement's rows give, or the follow-up to ask.
    fn answer(self, rows: Vec<Self::Row>) -> Step<Self::Output>;

    /// What the operation announces if it succeeds: a send's event.
    fn event(&self) -> Option<NewMessageEvent> {
        None
    }
}

/// What an operation's rows lead to.
pub(crate) enum Step<T> {
    /// The answer: the output or a refusal.
    Done(Result<T, Error>),
    /// The answer depends on facts the rows do not tell: ask the follow-up,
    /// then settle with what it found.
    FollowUp(FollowUp, Settle<T>),
}

/// How an operation answers once its follow-up's facts are in.
pub(crate) type Settle<T> = Box<dyn FnOnce(Facts) -> Result<T, Error> + Send>;

impl<T: Send + 'static> Step<T> {
    /// Asks whether the tenant has `user`: the answer is `known` if it
    /// does, [`Error::UnknownUser`] if not. What an empty answer (no row
    /// listed, none marked) means depends on it.
    pub(crate) fn if_user_known(tenant: TenantId, user: UserId, known: T) -> Self {
        let nil = SkillId::from_uuid(uuid::Uuid::nil());
        Step::FollowUp(
            FollowUp::References(References {
                tenant,
                users: [user, user],
                skills: [nil, nil],
            }),
            Box::new(move |facts| match facts.users {
                [true, _] => Ok(known),
                _ => Err(Error::UnknownUser(user)),
            }),
        )
    }
}
