//! What a tenant scope sets, and what it sends to set it: the role and the
//! tenant setting, the string that opens a scope's transaction and the one
//! that commits it, for plain PostgreSQL and for Citus.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};

use crate::events::NewMessageEvent;
use crate::ids::TenantId;

/// The setting the row-level-security policies read the tenant from.
pub const TENANT_SETTING: &str = "app.current_tenant_id";

/// The role every tenant scope runs as: not a superuser, not `BYPASSRLS`,
/// owner of nothing, so the policies always apply.
pub const APP_ROLE: &str = "skill_messages_app";

/// What a scope sets for its transaction, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScopeSettings {
    /// The crate's search path as a quoted literal, or `None` to derive it
    /// in the scope from the login's default.
    search_path: Option<String>,
    /// `statement_timeout` in milliseconds; `None` leaves the session's.
    statement_timeout: Option<u128>,
    /// Whether the settings must reach the workers of a Citus cluster.
    citus: bool,
}

impl ScopeSettings {
    /// For a connection the caller brings, on any server: the crate's search
    /// path derived in the scope, the session's statement timeout, and the
    /// settings made so that Citus propagates them.
    pub(crate) const DERIVED: Self = Self {
        search_path: None,
        statement_timeout: None,
        citus: true,
    };

    /// For a pool, fixed when it is built: the crate's search path and the
    /// login's statement timeout as the server gave them, unless the pool
    /// sets a timeout of its own, and whether the database is a Citus
    /// cluster's.
    pub(crate) fn for_pool(defaults: ServerDefaults, statement_timeout: Option<Duration>) -> Self {
        let millis = match statement_timeout {
            // Rounded up: a timeout under a millisecond must not become 0,
            // which PostgreSQL reads as none.
            Some(timeout) => timeout.as_micros().div_ceil(1000),
            None => u128::from(defaults.statement_timeout.unsigned_abs()),
        };
        Self {
            search_path: Some(quoted(&defaults.search_path)),
            statement_timeout: Some(millis),
            citus: defaults.citus,
        }
    }

    /// Whether the settings must reach the workers of a Citus cluster.
    #[cfg(feature = "async")]
    pub(crate) fn citus(&self) -> bool {
        self.citus
    }

    /// The one string that opens a scope: `BEGIN`, then the tenant, the
    /// search path, the statement timeout and the role, in one round trip
    /// and, on plain PostgreSQL, one statement after the `BEGIN`.
    ///
    /// On Citus, `SET LOCAL` reaches the workers (with
    /// `citus.propagate_set_commands = 'local'`) and `set_config` does not;
    /// and Citus sends the workers the whole text of the string that held a
    /// `SET`, so the settings are made inside a `DO` block, where each runs
    /// as a statement of its own text.
    pub(crate) fn begin_sql(&self, tenant_id: TenantId) -> String {
        const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE";
        let path = match &self.search_path {
            Some(path) => path.as_str(),
            None => DERIVED_SEARCH_PATH,
        };
        // The login's default search path (the value `RESET` would
        // restore), for this transaction only, before `pg_temp` is named
        // after it.
        let reset_path = if self.search_path.is_none() {
            "SET LOCAL search_path TO DEFAULT; "
        } else {
            ""
        };
        // A UUID's text form is hex digits and dashes: nothing to escape.
        if self.citus {
            let timeout = self
                .statement_timeout
                .map(|millis| format!("SET LOCAL statement_timeout = {millis}; "))
                .unwrap_or_default();
            format!(
                "{BEGIN}; DO $scope$BEGIN \
                 SET LOCAL citus.propagate_set_commands = 'local'; \
                 SET LOCAL {TENANT_SETTING} = '{tenant_id}'; {timeout}{reset_path}\
                 PERFORM set_config('search_path', {path}, true); \
                 SET LOCAL ROLE {APP_ROLE}; END$scope$"
            )
        } else {
            let timeout = self
                .statement_timeout
                .map(|millis| format!(", set_config('statement_timeout', '{millis}', true)"))
                .unwrap_or_default();
            // The role last: the settings before it are the login's to make.
            format!(
                "{BEGIN}; {reset_path}\
                 SELECT set_config('{TENANT_SETTING}', '{tenant_id}', true), \
                        set_config('search_path', {path}, true){timeout}, \
                        set_config('role', '{APP_ROLE}', true)"
            )
        }
    }

    /// The string that commits a scope in one round trip, announcing
    /// `events` in the transaction, so that they reach listeners only if it
    /// commits. On Citus, a `SELECT pg_notify(...)` of its own runs on the
    /// coordinator, where the listeners are.
    ///
    /// After a closure of the caller's (`after_closure`), the role and the
    /// tenant are reset first. That undoes a session-level `SET` of either
    /// that the closure may have made, which would otherwise outlive the
    /// scope; and it guards the commit: had a statement failed earlier in
    /// the scope, and the closure gone on regardless, PostgreSQL would
    /// answer `COMMIT` with a silent rollback, where the reset fails and the
    /// scope reports the error. A scope of the crate's own one operation
    /// needs neither: everything it set is local to its transaction. On
    /// Citus the resets are made inside a `DO` block, or the workers would
    /// be sent the `COMMIT` with them, outside the cluster's two-phase
    /// commit.
    pub(crate) fn commit_sql(&self, events: &[NewMessageEvent], after_closure: bool) -> String {
        let notify: String = events.iter().map(NewMessageEvent::notify_sql).collect();
        let resets = match (after_closure, self.citus) {
            (false, _) => String::new(),
            (true, false) => format!(
                "SELECT set_config('role', 'none', false), set_config('{TENANT_SETTING}', '', false); "
            ),
            (true, true) => {
                format!("DO $scope$BEGIN RESET ROLE; RESET {TENANT_SETTING}; END$scope$; ")
            }
        };
        format!("{notify}{resets}COMMIT")
    }
}

/// What a pool needs to know of the server, read once when it is built.
#[derive(QueryableByName)]
pub(crate) struct ServerDefaults {
    /// The crate's search path: the one the login's sessions start with
    /// (from the connection string, the role or the database), with
    /// `pg_temp` named last, so that a temporary table cannot shadow the
    /// crate's tables as it would by default, searched first.
    #[diesel(sql_type = Text)]
    search_path: String,
    /// The login's statement timeout, in milliseconds.
    #[diesel(sql_type = BigInt)]
    statement_timeout: i64,
    /// Whether the database has the `citus` extension.
    #[diesel(sql_type = Bool)]
    citus: bool,
}

/// The query that reads the [`ServerDefaults`].
pub(crate) const SERVER_DEFAULTS_SQL: &str = "SELECT \
     (SELECT concat_ws(', ', nullif(reset_val, ''), 'pg_temp') FROM pg_settings \
      WHERE name = 'search_path') AS search_path, \
     (SELECT reset_val::bigint FROM pg_settings WHERE name = 'statement_timeout') \
         AS statement_timeout, \
     EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') AS citus";

/// The crate's search path derived in the scope, once the search path is
/// the login's default.
const DERIVED_SEARCH_PATH: &str =
    "concat_ws(', ', nullif(current_setting('search_path'), ''), 'pg_temp')";

/// `text` as an SQL string literal.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
