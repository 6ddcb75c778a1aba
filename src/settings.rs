//! What a tenant scope sets, and what it sends to set it: the string that
//! opens a scope's transaction and the one that commits it, for plain
//! PostgreSQL and for Citus.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Text};

use crate::events::NewMessageEvent;
use crate::ids::TenantId;
use crate::names::{Names, quote_literal};

/// What a scope sets for its transaction, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScopeSettings {
    /// The deployment's runtime role and tenant setting.
    names: Names,
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
    pub(crate) fn derived(names: &Names) -> Self {
        Self {
            names: names.clone(),
            search_path: None,
            statement_timeout: None,
            citus: true,
        }
    }

    /// For a pool, fixed when it is built: the crate's search path and the
    /// login's statement timeout as the server gave them, unless the pool
    /// sets a timeout of its own, and whether the database is a Citus
    /// cluster's.
    pub(crate) fn for_pool(
        names: &Names,
        defaults: ServerDefaults,
        statement_timeout: Option<Duration>,
    ) -> Self {
        let millis = match statement_timeout {
            // Rounded up: a timeout under a millisecond must not become 0,
            // which PostgreSQL reads as none.
            Some(timeout) => timeout.as_micros().div_ceil(1000),
            None => u128::from(defaults.statement_timeout.unsigned_abs()),
        };
        Self {
            names: names.clone(),
            search_path: Some(quote_literal(&defaults.search_path)),
            statement_timeout: Some(millis),
            citus: defaults.citus,
        }
    }

    /// Whether the settings must reach the workers of a Citus cluster.
    #[cfg(feature = "async")]
    pub(crate) fn citus(&self) -> bool {
        self.citus
    }

    /// The one string that opens a scope: `BEGIN`, then [`set_sql`](Self::set_sql),
    /// in one round trip.
    pub(crate) fn begin_sql(&self, tenant_id: TenantId) -> String {
        format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; {}",
            self.set_sql(tenant_id)
        )
    }

    /// What sets the tenant, the search path, the statement timeout and the
    /// role for the transaction: on plain PostgreSQL one statement.
    ///
    /// On Citus, `SET LOCAL` reaches the workers (with
    /// `citus.propagate_set_commands = 'local'`) and `set_config` does not;
    /// and Citus sends the workers the whole text of the string that held a
    /// `SET`, so the settings are made inside a `DO` block, where each runs
    /// as a statement of its own text.
    pub(crate) fn set_sql(&self, tenant_id: TenantId) -> String {
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
                "DO $scope$BEGIN \
                 SET LOCAL citus.propagate_set_commands = 'local'; \
                 SET LOCAL {setting} = '{tenant_id}'; {timeout}{reset_path}\
                 PERFORM set_config('search_path', {path}, true); \
                 SET LOCAL ROLE {role}; END$scope$",
                setting = self.names.setting_identifier(),
                role = self.names.role_identifier(),
            )
        } else {
            let timeout = self
                .statement_timeout
                .map(|millis| format!(", set_config('statement_timeout', '{millis}', true)"))
                .unwrap_or_default();
            // The role last: the settings before it are the login's to make.
            format!(
                "{reset_path}\
                 SELECT set_config({setting}, '{tenant_id}', true), \
                        set_config('search_path', {path}, true){timeout}, \
                        set_config('role', {role}, true)",
                setting = quote_literal(self.names.tenant_setting()),
                role = quote_literal(self.names.runtime_role()),
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
                "SELECT set_config('role', 'none', false), set_config({}, '', false); ",
                quote_literal(self.names.tenant_setting())
            ),
            (true, true) => format!(
                "DO $scope$BEGIN RESET ROLE; RESET {}; END$scope$; ",
                self.names.setting_identifier()
            ),
        };
        format!("{notify}{resets}COMMIT")
    }

    /// The query that reads what [`set_sql`](Self::set_sql) changes, before
    /// a scope joins a transaction of the caller's: [`Saved`].
    pub(crate) fn save_sql(&self) -> String {
        format!(
            "SELECT current_setting('role') AS role, \
                    coalesce(current_setting({}, true), '') AS tenant, \
                    current_setting('search_path') AS search_path, \
                    coalesce(current_setting('citus.propagate_set_commands', true), '') \
                        AS propagate",
            quote_literal(self.names.tenant_setting())
        )
    }

    /// The string that ends a scope that joined a transaction of the
    /// caller's: `events` announced, and the role, the tenant and the search
    /// path as they were before it ([`Saved`]), for the caller's statements
    /// after it. Made as [`set_sql`](Self::set_sql) made them, so that on
    /// Citus they reach the workers too.
    pub(crate) fn restore_sql(&self, saved: &Saved, events: &[NewMessageEvent]) -> String {
        let notify: String = events.iter().map(NewMessageEvent::notify_sql).collect();
        let role = match saved.role.as_str() {
            "none" => "NONE".to_owned(),
            role => crate::names::quote_identifier(role),
        };
        format!(
            "{notify}DO $scope$BEGIN \
             SET LOCAL citus.propagate_set_commands = 'local'; \
             SET LOCAL {setting} = {tenant}; \
             PERFORM set_config('search_path', {path}, true); \
             SET LOCAL ROLE {role}; \
             PERFORM set_config('citus.propagate_set_commands', {propagate}, true); END$scope$",
            setting = self.names.setting_identifier(),
            tenant = quote_literal(&saved.tenant),
            path = quote_literal(&saved.search_path),
            propagate = quote_literal(&saved.propagate),
        )
    }
}

/// What a scope that joins a transaction of the caller's changes, as it was
/// before: read by [`ScopeSettings::save_sql`].
#[derive(QueryableByName)]
pub(crate) struct Saved {
    #[diesel(sql_type = Text)]
    role: String,
    #[diesel(sql_type = Text)]
    tenant: String,
    #[diesel(sql_type = Text)]
    search_path: String,
    #[diesel(sql_type = Text)]
    propagate: String,
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
