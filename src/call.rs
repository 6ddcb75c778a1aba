//! A service call as a value: the statement it runs, what the statement's
//! rows mean, and the read-only follow-up that tells a refusal apart when
//! the rows do not. Nothing here does I/O: a face (the blocking one in
//! `service.rs`) runs the statements and hands the rows back, so each
//! statement, check and error mapping is written once, whatever runs it.

use std::convert::Infallible;
use std::marker::PhantomData;

use diesel::sql_types::Bool;

use crate::error::Error;
use crate::events::NewMessageEvent;
use crate::statement::Statement;

/// One service call, ready to run.
pub(crate) trait Call: Sized {
    /// What the call returns.
    type Output;
    /// The SQL type of the rows of the call's one statement.
    type SqlType: 'static;
    /// What each row of the statement is read as.
    type Row: Send + 'static;
    /// The read-only statement that settles the answer when the first one's
    /// rows leave it open.
    type FollowUp: FollowUp<Output = Self::Output>;
    /// The operation's name, for tracing.
    const OPERATION: &'static str;

    /// The statement to run.
    fn statement(&self) -> Statement<Self::SqlType>;

    /// The answer the statement's rows give, or the follow-up to run.
    fn answer(self, rows: Vec<Self::Row>) -> Step<Self::Output, Self::FollowUp>;

    /// What the call announces if it succeeds: a send's new-message event.
    fn event(&self) -> Option<NewMessageEvent> {
        None
    }
}

/// What a call's rows lead to.
pub(crate) enum Step<T, F> {
    /// The answer: the output or a refusal.
    Done(Result<T, Error>),
    /// A follow-up must settle it.
    FollowUp(F),
}

/// The read-only statement that settles a call's answer.
pub(crate) trait FollowUp: Sized {
    /// What the call returns.
    type Output;
    /// The SQL type of the statement's rows.
    type SqlType: 'static;
    /// What each row of the statement is read as.
    type Row: Send + 'static;

    /// The statement to run.
    fn statement(&self) -> Statement<Self::SqlType>;

    /// The call's answer: the output or a refusal.
    fn answer(self, rows: Vec<Self::Row>) -> Result<Self::Output, Error>;
}

/// The follow-up of a call whose statement always settles the answer: no
/// value of it exists.
pub(crate) struct NoFollowUp<T>(Infallible, PhantomData<T>);

impl<T> FollowUp for NoFollowUp<T> {
    type Output = T;
    type SqlType = Bool;
    type Row = bool;

    fn statement(&self) -> Statement<Bool> {
        match self.0 {}
    }

    fn answer(self, _: Vec<bool>) -> Result<T, Error> {
        match self.0 {}
    }
}
