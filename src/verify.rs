//! The check that the database will hold tenant scopes to their tenant.

use diesel::pg::Pg;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::Text;

use crate::error::Error;
use crate::settings::APP_ROLE;

/// Checks that tenant scopes on `conn` will be bound by row-level security,
/// and fails with [`Error::RlsNotEnforced`] listing every reason they would
/// not:
///
/// - [`APP_ROLE`] exists, is neither a superuser nor `BYPASSRLS`, and the
///   connection's login may `SET ROLE` to it (on PostgreSQL 16 and later,
///   membership must carry the `SET` option);
/// - neither it nor any role it can take owns one of the crate's tables;
/// - every table has row-level security enabled and forced, and the policy
///   `tenant_isolation` exactly as the migrations create it: for every
///   command, for every role, permissive, with the same `USING` and `WITH
///   CHECK` expressions;
/// - no table has another permissive policy, which would widen what a scope
///   sees.
///
/// [`Pool`](crate::Pool) runs this when it is built; run it yourself when
/// you bring your own connections.
pub fn verify_row_level_security(conn: &mut PgConnection) -> Result<(), Error> {
    verdict(verification().load(conn)?)
}

/// A reason the policies would not bind [`APP_ROLE`].
#[derive(QueryableByName)]
pub(crate) struct Problem {
    #[diesel(sql_type = Text)]
    reason: String,
}

/// The query that lists the [`Problem`]s, for either face to run.
pub(crate) fn verification() -> BoxedSqlQuery<'static, Pg, SqlQuery> {
    diesel::sql_query(VERIFY_SQL)
        .into_boxed()
        .bind::<Text, _>(APP_ROLE)
}

/// `Ok` when there is no problem.
pub(crate) fn verdict(problems: Vec<Problem>) -> Result<(), Error> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::RlsNotEnforced(
        problems.into_iter().map(|p| p.reason).collect(),
    ))
}

/// One row per reason the policies would not bind [`APP_ROLE`]. The
/// expected expression is PostgreSQL's own rendering of the migrations'
/// `tenant_id = nullif(current_setting('app.current_tenant_id', true), '')::uuid`.
const VERIFY_SQL: &str = "
WITH app AS (SELECT oid, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1),
tables AS (
    SELECT t.name, c.oid, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
           format('(%s = (NULLIF(current_setting(''app.current_tenant_id''::text, true), ''''::text))::uuid)',
                  CASE t.name WHEN 'tenants' THEN 'id' ELSE 'tenant_id' END) AS expected
    FROM unnest(ARRAY['tenants', 'users', 'skills', 'skill_messages']) AS t(name)
    LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)
),
policy AS (
    SELECT tables.name, tables.expected, p.polcmd, p.polpermissive, p.polroles,
           pg_get_expr(p.polqual, p.polrelid) AS using_expr,
           pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
    FROM tables JOIN pg_policy p ON p.polrelid = tables.oid AND p.polname = 'tenant_isolation'
)
SELECT format('role %s does not exist: run the migrations', $1) AS reason
WHERE NOT EXISTS (SELECT FROM app)
UNION ALL
SELECT format('login role %s cannot take role %s: GRANT %2$s TO %1$s%3$s', current_user, $1,
              CASE WHEN current_setting('server_version_num')::int >= 160000 THEN ' WITH SET TRUE' END)
FROM app
WHERE NOT CASE WHEN current_setting('server_version_num')::int >= 160000
               THEN pg_has_role(current_user, app.oid, 'SET')
               ELSE pg_has_role(current_user, app.oid, 'MEMBER') END
UNION ALL
SELECT format('role %s is a superuser', $1) FROM app WHERE rolsuper
UNION ALL
SELECT format('role %s has BYPASSRLS', $1) FROM app WHERE rolbypassrls
UNION ALL
SELECT format('table %s does not exist: run the migrations', name) FROM tables WHERE oid IS NULL
UNION ALL
SELECT format('role %s owns table %s%s', $1, name,
              CASE WHEN relowner <> app.oid THEN ' through role ' || relowner::regrole END)
FROM tables JOIN app ON pg_has_role(app.oid, tables.relowner, 'MEMBER')
UNION ALL
SELECT format('table %s does not enforce row-level security', name) FROM tables
WHERE oid IS NOT NULL AND NOT (relrowsecurity AND relforcerowsecurity)
UNION ALL
SELECT format('table %s has no policy tenant_isolation', name) FROM tables
WHERE oid IS NOT NULL AND NOT EXISTS (SELECT FROM policy WHERE policy.name = tables.name)
UNION ALL
SELECT format('policy tenant_isolation on %s is for %s only, not for every command', name,
              CASE polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                          WHEN 'd' THEN 'DELETE' END)
FROM policy WHERE polcmd <> '*'
UNION ALL
SELECT format('policy tenant_isolation on %s is restrictive, not permissive', name)
FROM policy WHERE NOT polpermissive
UNION ALL
SELECT format('policy tenant_isolation on %s applies to roles %s, not to every role', name,
              (SELECT string_agg(r::regrole::text, ', ') FROM unnest(polroles) AS r))
FROM policy WHERE polroles <> '{0}'
UNION ALL
SELECT format('policy tenant_isolation on %s has USING %s, not %s', name,
              coalesce(using_expr, 'nothing'), expected)
FROM policy WHERE using_expr IS DISTINCT FROM expected
UNION ALL
SELECT format('policy tenant_isolation on %s has WITH CHECK %s, not %s', name,
              coalesce(check_expr, 'nothing'), expected)
FROM policy WHERE check_expr IS DISTINCT FROM expected
UNION ALL
SELECT format('table %s has a permissive policy %s besides tenant_isolation', name, polname)
FROM pg_policy JOIN tables ON polrelid = tables.oid
WHERE polpermissive AND polname <> 'tenant_isolation'
";
