//! The check that the database will hold tenant scopes to their tenant,
//! and that the platform's tables give the crate what it relies on.

use diesel::pg::Pg;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::Text;

use crate::error::Error;
use crate::names::Names;

/// Checks the database `conn` is connected to for a deployment with
/// `names`, and returns its warnings: what is safe but worth fixing.
///
/// Fails with [`Error::RlsNotEnforced`], listing every reason, when tenant
/// scopes would not be bound by row-level security on the crate's table:
///
/// - the runtime role exists, is neither a superuser nor `BYPASSRLS`, and
///   the connection's login may `SET ROLE` to it (on PostgreSQL 16 and
///   later, membership must carry the `SET` option);
/// - neither it nor any role it can take owns `skill_messages`;
/// - `skill_messages` has row-level security enabled and forced, and the
///   policy `tenant_isolation` exactly as the migrations create it: for
///   every command, for every role, permissive, with the `USING` and `WITH
///   CHECK` expressions on the tenant setting; and no other permissive
///   policy, which would widen what a scope sees, but `maintenance` for
///   the maintenance role alone, which the runtime role cannot take;
/// - its five foreign keys, led by `tenant_id`, so that no message refers
///   to another tenant's tenant, users or skills.
///
/// Fails with [`Error::PlatformContract`], listing every reason, when the
/// platform's tables miss what the crate reads: the tables `tenants`,
/// `users` and `skills` on the search path; their columns `tenants.id`,
/// `users.tenant_id`, `users.id`, `users.display_name`, `skills.tenant_id`,
/// `skills.id`, `skills.author_id` and `skills.name`, not null, of types
/// `uuid` and `text`; the keys `tenants (id)`, `users (tenant_id, id)` and
/// `skills (tenant_id, id)`; `SELECT` on those columns for the runtime role;
/// and, on a table with row-level security, a permissive policy that lets
/// the runtime role read. Nothing else of the platform's tables is looked at.
///
/// Warns of every other database the runtime role may connect to (`CONNECT`
/// granted to it, or to `PUBLIC` as PostgreSQL does by default): a login
/// allowed the role could open sessions there. DEPLOYMENT.md shows the
/// `REVOKE CONNECT`.
///
/// [`Pool`](crate::Pool) runs this when it is built, and keeps the warnings
/// ([`Pool::warnings`](crate::Pool::warnings)); run it yourself when you
/// bring your own connections.
pub fn verify_database(conn: &mut PgConnection, names: &Names) -> Result<Vec<String>, Error> {
    verdict(verification(names).load(conn)?)
}

/// A problem the verification found: its kind (`rls`, `platform` or
/// `warning`) and what it is.
#[derive(QueryableByName)]
pub(crate) struct Problem {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    reason: String,
}

/// The query that lists the [`Problem`]s, for either face to run.
pub(crate) fn verification(names: &Names) -> BoxedSqlQuery<'static, Pg, SqlQuery> {
    diesel::sql_query(verify_sql())
        .into_boxed()
        .bind::<Text, _>(names.runtime_role().to_owned())
        .bind::<Text, _>(names.tenant_setting().to_owned())
        .bind::<Text, _>(names.maintenance_role().to_owned())
}

/// The reasons the platform's tables lack the structure the crate's
/// migrations need (tables, columns, keys): what
/// [`run_migrations`](crate::run_migrations) checks before it starts.
pub(crate) fn platform_structure(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    let problems: Vec<Problem> =
        diesel::sql_query(["WITH ", PLATFORM_CTES, PLATFORM_STRUCTURE_SQL].concat()).load(conn)?;
    Ok(problems.into_iter().map(|p| p.reason).collect())
}

/// The warnings, or the error the problems make: the crate's own first.
pub(crate) fn verdict(problems: Vec<Problem>) -> Result<Vec<String>, Error> {
    let of = |kind: &str| -> Vec<String> {
        problems
            .iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.reason.clone())
            .collect()
    };
    let (rls, platform) = (of("rls"), of("platform"));
    if !rls.is_empty() {
        Err(Error::RlsNotEnforced(rls))
    } else if !platform.is_empty() {
        Err(Error::PlatformContract(platform))
    } else {
        Ok(of("warning"))
    }
}

/// The platform's contract: the tables, columns and keys the crate needs.
const PLATFORM_CTES: &str = "
contract(tbl, col, typ) AS (VALUES
    ('tenants', 'id', 'uuid'),
    ('users', 'tenant_id', 'uuid'), ('users', 'id', 'uuid'), ('users', 'display_name', 'text'),
    ('skills', 'tenant_id', 'uuid'), ('skills', 'id', 'uuid'),
    ('skills', 'author_id', 'uuid'), ('skills', 'name', 'text')
),
platform AS (
    SELECT t.tbl, t.keycols, c.oid, c.relrowsecurity
    FROM (VALUES ('tenants', ARRAY['id']), ('users', ARRAY['tenant_id', 'id']),
                 ('skills', ARRAY['tenant_id', 'id'])) AS t(tbl, keycols)
    LEFT JOIN pg_class c ON c.oid = to_regclass(t.tbl)
),
columns AS (
    SELECT contract.*, platform.oid, a.attname IS NOT NULL AS present,
           format_type(a.atttypid, a.atttypmod) AS actual, a.attnotnull
    FROM contract JOIN platform USING (tbl)
    LEFT JOIN pg_attribute a
        ON a.attrelid = platform.oid AND a.attname = contract.col AND a.attnum > 0
           AND NOT a.attisdropped
    WHERE platform.oid IS NOT NULL
)";

/// The structural problems of the platform's tables, from [`PLATFORM_CTES`].
const PLATFORM_STRUCTURE_SQL: &str = "
SELECT 'platform' AS kind,
       format('the platform has no table %s on the search path (%s)', tbl,
              current_setting('search_path')) AS reason
FROM platform WHERE oid IS NULL
UNION ALL
SELECT 'platform', format('table %s has no column %s', tbl, col) FROM columns WHERE NOT present
UNION ALL
SELECT 'platform', format('column %s.%s is %s, not %s', tbl, col, actual, typ)
FROM columns WHERE present AND actual <> typ
UNION ALL
SELECT 'platform', format('column %s.%s may be null', tbl, col)
FROM columns WHERE present AND NOT attnotnull
UNION ALL
SELECT 'platform', format('table %s has no primary key or unique constraint on (%s), which the '
                          'crate''s foreign keys need', tbl, array_to_string(keycols, ', '))
FROM platform
WHERE oid IS NOT NULL AND NOT EXISTS (
    SELECT FROM pg_constraint k
    WHERE k.conrelid = platform.oid AND k.contype IN ('p', 'u')
      AND (SELECT array_agg(attname::text ORDER BY attname) FROM pg_attribute
           WHERE attrelid = k.conrelid AND attnum = ANY (k.conkey))
          = (SELECT array_agg(x ORDER BY x) FROM unnest(keycols) AS x)
)";

/// The query of one row per problem; `$1` is the runtime role, `$2` the
/// tenant setting, `$3` the maintenance role.
fn verify_sql() -> String {
    [
        "WITH ",
        PLATFORM_CTES,
        ",",
        OWN_SQL,
        PLATFORM_STRUCTURE_SQL,
        PLATFORM_ACCESS_SQL,
    ]
    .concat()
}

/// The problems of the runtime role and of the crate's own table. The
/// expected expression is PostgreSQL's own rendering of the migrations'
/// `tenant_id = nullif(current_setting(setting, true), '')::uuid`.
const OWN_SQL: &str = "
app AS (SELECT oid, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1),
own AS (
    SELECT c.oid, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
           format('(tenant_id = (NULLIF(current_setting(%L::text, true), ''''::text))::uuid)', $2)
               AS expected
    FROM (SELECT to_regclass('skill_messages') AS oid) AS t
    LEFT JOIN pg_class c ON c.oid = t.oid
),
policy AS (
    SELECT own.expected, p.polcmd, p.polpermissive, p.polroles,
           pg_get_expr(p.polqual, p.polrelid) AS using_expr,
           pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
    FROM own JOIN pg_policy p ON p.polrelid = own.oid AND p.polname = 'tenant_isolation'
)
SELECT 'rls' AS kind, format('role %s does not exist: run the migrations', $1) AS reason
WHERE NOT EXISTS (SELECT FROM app)
UNION ALL
SELECT 'rls', format('login role %s cannot take role %s: GRANT %2$s TO %1$s%3$s', current_user, $1,
              CASE WHEN current_setting('server_version_num')::int >= 160000 THEN ' WITH SET TRUE' END)
FROM app
WHERE NOT CASE WHEN current_setting('server_version_num')::int >= 160000
               THEN pg_has_role(current_user, app.oid, 'SET')
               ELSE pg_has_role(current_user, app.oid, 'MEMBER') END
UNION ALL
SELECT 'rls', format('role %s is a superuser', $1) FROM app WHERE rolsuper
UNION ALL
SELECT 'rls', format('role %s has BYPASSRLS', $1) FROM app WHERE rolbypassrls
UNION ALL
SELECT 'rls', 'table skill_messages does not exist: run the migrations' FROM own WHERE oid IS NULL
UNION ALL
SELECT 'rls', format('role %s owns table skill_messages%s', $1,
              CASE WHEN relowner <> app.oid THEN ' through role ' || relowner::regrole END)
FROM own JOIN app ON pg_has_role(app.oid, own.relowner, 'MEMBER')
UNION ALL
SELECT 'rls', 'table skill_messages does not enforce row-level security' FROM own
WHERE oid IS NOT NULL AND NOT (relrowsecurity AND relforcerowsecurity)
UNION ALL
SELECT 'rls', 'table skill_messages has no policy tenant_isolation' FROM own
WHERE oid IS NOT NULL AND NOT EXISTS (SELECT FROM policy)
UNION ALL
SELECT 'rls', format('policy tenant_isolation on skill_messages is for %s only, not for every command',
              CASE polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                          WHEN 'd' THEN 'DELETE' END)
FROM policy WHERE polcmd <> '*'
UNION ALL
SELECT 'rls', 'policy tenant_isolation on skill_messages is restrictive, not permissive'
FROM policy WHERE NOT polpermissive
UNION ALL
SELECT 'rls', format('policy tenant_isolation on skill_messages applies to roles %s, not to every role',
              (SELECT string_agg(r::regrole::text, ', ') FROM unnest(polroles) AS r))
FROM policy WHERE polroles <> '{0}'
UNION ALL
SELECT 'rls', format('policy tenant_isolation on skill_messages has USING %s, not %s',
              coalesce(using_expr, 'nothing'), expected)
FROM policy WHERE using_expr IS DISTINCT FROM expected
UNION ALL
SELECT 'rls', format('policy tenant_isolation on skill_messages has WITH CHECK %s, not %s',
              coalesce(check_expr, 'nothing'), expected)
FROM policy WHERE check_expr IS DISTINCT FROM expected
UNION ALL
SELECT 'rls', format('table skill_messages has no foreign key %s %s: a message could refer to '
                     'another tenant''s %s', name, definition, refers)
FROM (VALUES
    ('skill_messages_tenant_id_fkey',
     'FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE', 'tenant'),
    ('skill_messages_from_user_fkey',
     'FOREIGN KEY (tenant_id, from_user_id) REFERENCES users(tenant_id, id)', 'user'),
    ('skill_messages_to_user_fkey',
     'FOREIGN KEY (tenant_id, to_user_id) REFERENCES users(tenant_id, id)', 'user'),
    ('skill_messages_subject_skill_fkey',
     'FOREIGN KEY (tenant_id, subject_skill_id) REFERENCES skills(tenant_id, id)', 'skill'),
    ('skill_messages_proposed_parent_skill_fkey',
     'FOREIGN KEY (tenant_id, proposed_parent_skill_id) REFERENCES skills(tenant_id, id)', 'skill')
) AS fk(name, definition, refers)
JOIN own ON own.oid IS NOT NULL
WHERE NOT EXISTS (
    SELECT FROM pg_constraint c
    WHERE c.conrelid = own.oid AND c.contype = 'f' AND c.conname = fk.name
      AND pg_get_constraintdef(c.oid) = fk.definition
)
UNION ALL
SELECT 'rls', format('table skill_messages has a permissive policy %s besides tenant_isolation '
                     'and maintenance (for role %s alone, USING true)', polname, $3)
FROM pg_policy JOIN own ON polrelid = own.oid
WHERE polpermissive AND polname <> 'tenant_isolation'
  AND NOT (polname = 'maintenance'
           AND polroles = ARRAY[(SELECT oid FROM pg_roles WHERE rolname = $3)]
           AND pg_get_expr(polqual, polrelid) = 'true')
UNION ALL
SELECT 'rls', format('role %s can take the maintenance role %s, which sees every tenant', $1, $3)
FROM app JOIN pg_roles m ON m.rolname = $3
WHERE pg_has_role(app.oid, m.oid, 'MEMBER')
UNION ALL
";

/// What the runtime role may read of the platform's tables and where it may
/// connect; the last part of [`verify_sql`].
const PLATFORM_ACCESS_SQL: &str = "
UNION ALL
SELECT 'platform', format('role %s may not read column %s.%s: GRANT SELECT (%3$s) ON %2$s TO %1$s',
                          $1, tbl, col)
FROM columns JOIN app ON true
WHERE present AND NOT has_column_privilege(app.oid, columns.oid, col, 'SELECT')
UNION ALL
SELECT 'platform', format('table %s has row-level security and no permissive policy lets role %s '
                          'read it: every %s would look missing to the crate', tbl, $1,
                          rtrim(tbl, 's'))
FROM platform JOIN app ON true
WHERE platform.oid IS NOT NULL AND relrowsecurity AND NOT EXISTS (
    SELECT FROM pg_policy p
    WHERE p.polrelid = platform.oid AND p.polpermissive AND p.polcmd IN ('r', '*')
      AND (EXISTS (SELECT FROM unnest(p.polroles) AS r
                   WHERE r <> 0 AND pg_has_role(app.oid, r, 'MEMBER'))
           OR (p.polroles = '{0}'
               AND strpos(pg_get_expr(p.polqual, p.polrelid), quote_literal($2)) > 0))
)
UNION ALL
SELECT 'warning', format('role %s may connect to database %s (CONNECT is granted to it or to '
                         'PUBLIC): a login allowed the role could open sessions there; '
                         'REVOKE CONNECT ON DATABASE %2$s FROM PUBLIC', $1, quote_ident(datname))
FROM pg_database JOIN app ON true
WHERE datname <> current_database() AND NOT datistemplate AND datallowconn
  AND has_database_privilege(app.oid, pg_database.oid, 'CONNECT')
ORDER BY 1, 2";
