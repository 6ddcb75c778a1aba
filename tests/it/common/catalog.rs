//! The catalogue as lines of text: what a migration made, compared before
//! and after.

use diesel::prelude::*;
use diesel::sql_types::Text;

/// The column `line` of each row `sql` returns.
pub fn lines(conn: &mut PgConnection, sql: &str) -> Vec<String> {
    diesel::sql_query(sql)
        .load::<Line>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|l| l.line)
        .collect()
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

/// Everything the migrations define in the current schema, one line per
/// fact, sorted: tables and their settings, columns, constraints, indexes,
/// policies, types, triggers, functions, privileges and comments; not the
/// migration histories.
pub fn schema_snapshot(conn: &mut PgConnection) -> Vec<String> {
    lines(
        conn,
        r#"
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema()
      AND c.relname NOT LIKE '\_\_diesel\_schema\_migrations%'
      AND c.relname NOT LIKE 'skill\_messages\_schema\_migrations%'
)
SELECT format('relation %s kind=%s rls=%s forced=%s acl=%s', relname, relkind,
              relrowsecurity, relforcerowsecurity,
              -- A revoked grant leaves the default privileges spelled out.
              coalesce(relacl, acldefault('r', relowner))) AS line
FROM rel JOIN pg_class USING (oid, relname, relkind, relrowsecurity, relforcerowsecurity)
UNION ALL
SELECT format('column %s.%s %s notnull=%s default=%s acl=%s', rel.relname, a.attname,
              format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(d.adbin, d.adrelid), a.attacl)
FROM rel JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE rel.relkind = 'r'
UNION ALL
SELECT format('constraint %s.%s %s', rel.relname, con.conname, pg_get_constraintdef(con.oid))
FROM pg_constraint con JOIN rel ON rel.oid = con.conrelid
UNION ALL
SELECT format('index %s', replace(pg_get_indexdef(i.indexrelid), current_schema() || '.', ''))
FROM pg_index i JOIN rel ON rel.oid = i.indrelid
UNION ALL
SELECT format('policy %s.%s %s %s using=%s check=%s', tablename, policyname, cmd, roles,
              qual, with_check)
FROM pg_policies WHERE schemaname = current_schema()
UNION ALL
SELECT format('type %s %s', t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder))
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_enum e ON e.enumtypid = t.oid
WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0
GROUP BY t.typname
UNION ALL
SELECT format('trigger %s', replace(pg_get_triggerdef(t.oid), current_schema() || '.', ''))
FROM pg_trigger t JOIN rel ON rel.oid = t.tgrelid WHERE NOT t.tgisinternal
UNION ALL
SELECT format('function %s', p.oid::regprocedure)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()
UNION ALL
SELECT format('comment %s %s', d.objoid::regclass, d.description)
FROM pg_description d JOIN rel ON rel.oid = d.objoid AND d.objsubid = 0
UNION ALL
SELECT format('comment %s.%s %s', rel.relname, d.objsubid, d.description)
FROM pg_description d JOIN rel ON rel.oid = d.objoid AND d.objsubid > 0
ORDER BY 1
"#,
    )
}

/// Asserts two snapshots are equal, showing only the lines that differ.
pub fn assert_same_schema(actual: &[String], expected: &[String], context: &str) {
    let only_actual: Vec<_> = actual.iter().filter(|l| !expected.contains(l)).collect();
    let only_expected: Vec<_> = expected.iter().filter(|l| !actual.contains(l)).collect();
    assert!(
        only_actual.is_empty() && only_expected.is_empty(),
        "{context}\nunexpected: {only_actual:#?}\nmissing: {only_expected:#?}"
    );
}

/// Every row of each of `tables`, as text, sorted within each table.
pub fn rows(conn: &mut PgConnection, tables: &[&str]) -> Vec<String> {
    tables
        .iter()
        .flat_map(|table| {
            lines(
                conn,
                &format!("SELECT '{table} ' || t::text AS line FROM {table} t ORDER BY 1"),
            )
        })
        .collect()
}
