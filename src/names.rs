//! The names one deployment of the crate uses in its database.

use std::fmt;

use crate::error::Error;

/// The role every tenant scope runs as, unless a deployment names its own.
pub const DEFAULT_RUNTIME_ROLE: &str = "skill_messages_app";

/// The setting the row-level-security policy reads the tenant from, unless a
/// deployment names its own.
pub const DEFAULT_TENANT_SETTING: &str = "app.current_tenant_id";

/// The role maintenance jobs run as ([`Maintenance`](crate::Maintenance)),
/// unless a deployment names its own.
pub const DEFAULT_MAINTENANCE_ROLE: &str = "skill_messages_maintenance";

/// Role names PostgreSQL gives a meaning of its own where a role is named
/// (`SET ROLE none`, `GRANT ... TO public`, ...).
const SPECIAL_ROLES: [&str; 5] = [
    "none",
    "public",
    "current_role",
    "current_user",
    "session_user",
];

/// The names one deployment of the crate uses in its database: the role its
/// tenant scopes run as (not a superuser, not `BYPASSRLS`, owner of nothing,
/// so that the policy binds it), the setting its policy reads the tenant
/// from, and the role its maintenance jobs run as
/// ([`Maintenance`](crate::Maintenance)).
///
/// The migrations grant the roles and write the policies with these names,
/// and every scope sets them: give the same to
/// [`run_migrations`](crate::run_migrations), to the pool
/// ([`PoolBuilder::names`](crate::PoolBuilder::names)) and to
/// [`Maintenance::new`](crate::Maintenance::new). The defaults are
/// [`DEFAULT_RUNTIME_ROLE`], [`DEFAULT_TENANT_SETTING`] and
/// [`DEFAULT_MAINTENANCE_ROLE`].
///
/// A role belongs to the whole cluster, not to one database. Two
/// deployments of the crate on one cluster (two databases, say) each need a
/// role of their own: with one role between them, a login allowed it for
/// database A could connect to database B, take the role there and read B's
/// messages.
///
/// ```
/// use skill_messages::Names;
///
/// let billing = Names::new("billing_skill_messages", "billing.tenant_id")?;
/// assert_eq!(billing.runtime_role(), "billing_skill_messages");
/// assert!(Names::new("drop table skills", "billing.tenant_id").is_err());
/// let billing = billing.with_maintenance_role("billing_skill_messages_jobs")?;
/// assert_eq!(billing.maintenance_role(), "billing_skill_messages_jobs");
/// # Ok::<(), skill_messages::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Names {
    runtime_role: String,
    tenant_setting: String,
    maintenance_role: String,
}

impl Default for Names {
    /// [`DEFAULT_RUNTIME_ROLE`], [`DEFAULT_TENANT_SETTING`] and
    /// [`DEFAULT_MAINTENANCE_ROLE`].
    fn default() -> Self {
        Self {
            runtime_role: DEFAULT_RUNTIME_ROLE.to_owned(),
            tenant_setting: DEFAULT_TENANT_SETTING.to_owned(),
            maintenance_role: DEFAULT_MAINTENANCE_ROLE.to_owned(),
        }
    }
}

impl Names {
    /// These names, with [`DEFAULT_MAINTENANCE_ROLE`], if they are plain,
    /// and [`Error::InvalidName`] saying what is wrong if not.
    ///
    /// Plain is what PostgreSQL takes as written, without quotes: the role a
    /// lower-case identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes, not
    /// starting `pg_`, and not one of the names PostgreSQL reads specially
    /// where a role is expected, such as `none` or `public`); the setting two
    /// such identifiers joined by a dot, as custom settings are named. The
    /// crate still quotes them wherever they reach SQL.
    pub fn new(runtime_role: &str, tenant_setting: &str) -> Result<Self, Error> {
        check_role("runtime role", runtime_role)?;
        if runtime_role == DEFAULT_MAINTENANCE_ROLE {
            return Err(same_roles(runtime_role));
        }
        let parts: Vec<&str> = tenant_setting.split('.').collect();
        if parts.len() != 2 || !parts.iter().all(|part| is_identifier(part)) {
            return Err(Error::InvalidName(format!(
                "the tenant setting {tenant_setting:?} is not two plain lower-case identifiers \
                 joined by a dot, such as app.current_tenant_id"
            )));
        }
        Ok(Self {
            runtime_role: runtime_role.to_owned(),
            tenant_setting: tenant_setting.to_owned(),
            maintenance_role: DEFAULT_MAINTENANCE_ROLE.to_owned(),
        })
    }

    /// These names with `maintenance_role` as the role of maintenance jobs,
    /// if it is plain (as [`Names::new`] says) and not the runtime role, and
    /// [`Error::InvalidName`] saying what is wrong if not.
    pub fn with_maintenance_role(self, maintenance_role: &str) -> Result<Self, Error> {
        check_role("maintenance role", maintenance_role)?;
        if maintenance_role == self.runtime_role {
            return Err(same_roles(maintenance_role));
        }
        Ok(Self {
            maintenance_role: maintenance_role.to_owned(),
            ..self
        })
    }

    /// The role every tenant scope runs as.
    pub fn runtime_role(&self) -> &str {
        &self.runtime_role
    }

    /// The setting the policy reads the tenant from.
    pub fn tenant_setting(&self) -> &str {
        &self.tenant_setting
    }

    /// The role maintenance jobs run as.
    pub fn maintenance_role(&self) -> &str {
        &self.maintenance_role
    }

    /// The runtime role as an SQL identifier, quoted.
    pub(crate) fn role_identifier(&self) -> String {
        quote_identifier(&self.runtime_role)
    }

    /// The maintenance role as an SQL identifier, quoted.
    pub(crate) fn maintenance_identifier(&self) -> String {
        quote_identifier(&self.maintenance_role)
    }

    /// The tenant setting as `SET` names it: each part a quoted identifier.
    pub(crate) fn setting_identifier(&self) -> String {
        let parts: Vec<String> = self
            .tenant_setting
            .split('.')
            .map(quote_identifier)
            .collect();
        parts.join(".")
    }
}

impl fmt::Display for Names {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "runtime role {}, tenant setting {}, maintenance role {}",
            self.runtime_role, self.tenant_setting, self.maintenance_role
        )
    }
}

/// `role` if it is a plain role name, and why not if not; `kind` says which
/// role it is.
fn check_role(kind: &str, role: &str) -> Result<(), Error> {
    if !is_identifier(role) {
        return Err(Error::InvalidName(format!(
            "the {kind} {role:?} is not a plain lower-case identifier \
             ([a-z_][a-z0-9_]*, at most 63 bytes)"
        )));
    }
    if role.starts_with("pg_") || SPECIAL_ROLES.contains(&role) {
        return Err(Error::InvalidName(format!(
            "the {kind} {role:?} is reserved by PostgreSQL"
        )));
    }
    Ok(())
}

/// The refusal of one role for both jobs: the maintenance role sees every
/// tenant, which is what a tenant scope must never do.
fn same_roles(role: &str) -> Error {
    Error::InvalidName(format!(
        "{role:?} cannot be both the runtime role and the maintenance role: the maintenance \
         role sees every tenant's messages"
    ))
}

/// Whether `name` is a lower-case identifier PostgreSQL takes as written.
fn is_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 63
        && matches!(bytes.next(), Some(b'a'..=b'z' | b'_'))
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

/// `name` as a quoted SQL identifier.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as an SQL string literal.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_taken_and_others_refused_with_the_reason() {
        assert!(Names::new("skill_messages_app", "app.current_tenant_id").is_ok());
        assert!(Names::new("_b2", "x_1.y2").is_ok());
        assert!(Names::new(&"r".repeat(63), "a.b").is_ok());
        for (role, setting, says) in [
            ("Admin", "a.b", "not a plain"),
            ("a-b", "a.b", "not a plain"),
            ("a\"; DROP TABLE skills; --", "a.b", "not a plain"),
            ("", "a.b", "not a plain"),
            ("1st", "a.b", "not a plain"),
            (&"r".repeat(64), "a.b", "not a plain"),
            ("none", "a.b", "reserved"),
            ("public", "a.b", "reserved"),
            ("pg_monitor", "a.b", "reserved"),
            ("app", "tenant", "tenant setting"),
            ("app", "a.b.c", "tenant setting"),
            ("app", "a.B", "tenant setting"),
            ("app", "a.b'); SELECT 1; --", "tenant setting"),
        ] {
            match Names::new(role, setting) {
                Err(Error::InvalidName(text)) => {
                    assert!(text.contains(says), "{role:?} {setting:?}: {text}")
                }
                other => panic!("{role:?} {setting:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn the_maintenance_role_is_plain_and_not_the_runtime_role() {
        let names = Names::default();
        assert_eq!(names.maintenance_role(), DEFAULT_MAINTENANCE_ROLE);
        let jobs = names
            .clone()
            .with_maintenance_role("jobs")
            .expect("a plain name");
        assert_eq!(jobs.maintenance_role(), "jobs");
        assert_eq!(jobs.runtime_role(), DEFAULT_RUNTIME_ROLE);
        for (role, says) in [
            ("Jobs", "not a plain"),
            ("pg_jobs", "reserved"),
            (DEFAULT_RUNTIME_ROLE, "both"),
        ] {
            match names.clone().with_maintenance_role(role) {
                Err(Error::InvalidName(text)) => assert!(text.contains(says), "{role}: {text}"),
                other => panic!("{role} gave {other:?}"),
            }
        }
        assert!(matches!(
            Names::new(DEFAULT_MAINTENANCE_ROLE, "a.b"),
            Err(Error::InvalidName(text)) if text.contains("both")
        ));
    }

    #[test]
    fn names_reach_sql_quoted() {
        let names = Names::default();
        assert_eq!(names.role_identifier(), "\"skill_messages_app\"");
        assert_eq!(names.setting_identifier(), "\"app\".\"current_tenant_id\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
