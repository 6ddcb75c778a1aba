//! A call's statement: any diesel query, kept prepared.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// The statement of a call: a diesel query of SQL type `ST`, with its own
/// type erased so that a call can name it, kept prepared on the connection.
///
/// Diesel prepares an `INSERT` or `UPDATE` anew for every call, since a
/// changeset or an optional value may change its SQL; PostgreSQL then parses
/// and plans it, policies included, every time. The crate's statements have
/// a fixed SQL text for each shape of their values, and diesel's cache is
/// keyed by that text, so caching them is sound: each shape is prepared once
/// per connection.
pub(crate) struct Statement<ST> {
    query: Box<dyn QueryFragment<Pg> + Send>,
    sql_type: PhantomData<fn() -> ST>,
}

impl<ST> Statement<ST> {
    /// The statement that runs `query`.
    pub(crate) fn new<Q>(query: Q) -> Self
    where
        Q: Query<SqlType = ST> + QueryFragment<Pg> + Send + 'static,
    {
        Self {
            query: Box::new(query),
            sql_type: PhantomData,
        }
    }
}

impl<ST> QueryFragment<Pg> for Statement<ST> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<ST> QueryId for Statement<ST> {
    type QueryId = ();
    // Keyed by its SQL text, not by its type.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<ST> Query for Statement<ST> {
    type SqlType = ST;
}

impl<ST, Conn> RunQueryDsl<Conn> for Statement<ST> {}
