//! The crate's statements as it sends them, the one copy every mirror is
//! made from: the pgbench scripts (checked against these by
//! [`script_statement`]), the timing functions, the plans, the `EXPLAIN` on
//! Citus. [`check`] compares them with what the crate prepares, so that a
//! change to a statement fails the benchmark instead of leaving a stale
//! mirror.

use diesel::prelude::*;
use diesel::sql_types::Text;
use skill_messages::{
    Cursor, Error, MessageQuery, NewSkillMessage, Pool, Response, get_messages_for_user,
    get_sent_messages_for_user, get_unread_count_for_user, mark_all_read, mark_message_read,
    send_skill_message, update_message_status, withdraw_message,
};

use crate::calls::MESSAGE;
use crate::seed::Items;

/// The columns of a message, as the crate selects and returns them.
pub const COLUMNS: &str = "\"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\"";

/// `get_messages_for_user`, the first page: tenant, user, page size + 1.
pub const INBOX: &str = "SELECT \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\" \
     FROM \"skill_messages\" WHERE ((\"skill_messages\".\"tenant_id\" = $1) AND \
     (\"skill_messages\".\"to_user_id\" = $2)) \
     ORDER BY \"skill_messages\".\"created_at\" DESC, \"skill_messages\".\"id\" DESC LIMIT $3";

/// `get_messages_for_user` after a cursor: tenant, user, the cursor's
/// `created_at` and id, page size + 1.
pub const INBOX_AFTER: &str = "SELECT \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\" \
     FROM \"skill_messages\" WHERE (((\"skill_messages\".\"tenant_id\" = $1) AND \
     (\"skill_messages\".\"to_user_id\" = $2)) AND \
     (\"skill_messages\".\"created_at\", \"skill_messages\".\"id\") < ($3, $4)) \
     ORDER BY \"skill_messages\".\"created_at\" DESC, \"skill_messages\".\"id\" DESC LIMIT $5";

/// `get_unread_count_for_user`: tenant, user, tenant, user, 1.
pub const COUNT: &str = "SELECT EXISTS (SELECT \"users\".\"id\", \"users\".\"tenant_id\", \"users\".\"email\", \
     \"users\".\"display_name\", \"users\".\"created_at\" FROM \"users\" \
     WHERE ((\"users\".\"tenant_id\" = $1) AND (\"users\".\"id\" = $2))), \
     (SELECT COUNT(*) FROM \"skill_messages\" WHERE (((\"skill_messages\".\"tenant_id\" = $3) \
     AND (\"skill_messages\".\"to_user_id\" = $4)) AND (\"skill_messages\".\"read_at\" IS NULL)) \
     LIMIT $5)";

/// `send_skill_message`: the new id (a UUIDv7 the crate makes), sender,
/// subject, proposed parent, text; then tenant and recipient (the
/// recipient's row the values are selected from), tenant and sender, tenant
/// and subject, tenant and parent (the subject when there is none).
pub const SEND: &str = "INSERT INTO \"skill_messages\" (\"id\", \"tenant_id\", \"from_user_id\", \"to_user_id\", \
     \"subject_skill_id\", \"proposed_parent_skill_id\", \"message\") \
     SELECT $1, \"recipient\".\"tenant_id\", $2, \"recipient\".\"id\", $3, $4, $5 \
     FROM \"users\" AS \"recipient\" WHERE (((\"recipient\".\"tenant_id\" = $6) AND \
     (\"recipient\".\"id\" = $7)) AND ((EXISTS (SELECT \"users\".\"id\", \"users\".\"tenant_id\", \
     \"users\".\"email\", \"users\".\"display_name\", \"users\".\"created_at\" FROM \"users\" \
     WHERE ((\"users\".\"tenant_id\" = $8) AND (\"users\".\"id\" = $9))) AND \
     EXISTS (SELECT \"skills\".\"id\", \"skills\".\"tenant_id\", \"skills\".\"author_id\", \
     \"skills\".\"name\", \"skills\".\"slug\", \"skills\".\"created_at\" FROM \"skills\" \
     WHERE ((\"skills\".\"tenant_id\" = $10) AND (\"skills\".\"id\" = $11)))) AND \
     EXISTS (SELECT \"skills\".\"id\", \"skills\".\"tenant_id\", \"skills\".\"author_id\", \
     \"skills\".\"name\", \"skills\".\"slug\", \"skills\".\"created_at\" FROM \"skills\" \
     WHERE ((\"skills\".\"tenant_id\" = $12) AND (\"skills\".\"id\" = $13))))) \
     ON CONFLICT (\"tenant_id\", \"id\") DO NOTHING \
     RETURNING \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\"";

/// `mark_message_read`: tenant, message, recipient.
pub const MARK_READ: &str = "UPDATE \"skill_messages\" SET \"read_at\" = CURRENT_TIMESTAMP \
     WHERE ((((\"skill_messages\".\"tenant_id\" = $1) AND (\"skill_messages\".\"id\" = $2)) \
     AND (\"skill_messages\".\"to_user_id\" = $3)) AND (\"skill_messages\".\"read_at\" IS NULL)) \
     RETURNING \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\"";

/// `update_message_status`: the new status, tenant, message, recipient,
/// `pending`.
pub const RESPOND: &str = "UPDATE \"skill_messages\" SET \"status\" = $1, \"responded_at\" = CURRENT_TIMESTAMP, \
     \"read_at\" = least(\"skill_messages\".\"read_at\", \
     greatest(\"skill_messages\".\"read_at\", CURRENT_TIMESTAMP)) \
     WHERE ((((\"skill_messages\".\"tenant_id\" = $2) AND (\"skill_messages\".\"id\" = $3)) \
     AND (\"skill_messages\".\"to_user_id\" = $4)) AND (\"skill_messages\".\"status\" = $5)) \
     RETURNING \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\"";

/// `get_sent_messages_for_user`, the first page: tenant, sender, page
/// size + 1.
pub const SENT: &str = "SELECT \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\" \
     FROM \"skill_messages\" WHERE ((\"skill_messages\".\"tenant_id\" = $1) AND \
     (\"skill_messages\".\"from_user_id\" = $2)) \
     ORDER BY \"skill_messages\".\"created_at\" DESC, \"skill_messages\".\"id\" DESC LIMIT $3";

/// `mark_all_read`: tenant, recipient, the position's `created_at` and id.
pub const MARK_ALL_READ: &str = "UPDATE \"skill_messages\" SET \"read_at\" = CURRENT_TIMESTAMP \
     WHERE ((((\"skill_messages\".\"tenant_id\" = $1) AND (\"skill_messages\".\"to_user_id\" = $2)) \
     AND (\"skill_messages\".\"read_at\" IS NULL)) AND \
     (\"skill_messages\".\"created_at\", \"skill_messages\".\"id\") <= ($3, $4)) \
     RETURNING \"skill_messages\".\"id\"";

/// `withdraw_message`: `withdrawn`, tenant, message, sender, `pending`.
pub const WITHDRAW: &str = "UPDATE \"skill_messages\" SET \"status\" = $1, \"responded_at\" = CURRENT_TIMESTAMP \
     WHERE ((((\"skill_messages\".\"tenant_id\" = $2) AND (\"skill_messages\".\"id\" = $3)) \
     AND (\"skill_messages\".\"from_user_id\" = $4)) AND (\"skill_messages\".\"status\" = $5)) \
     RETURNING \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\"";

/// The async face's notification of a new message, sent in the one-call
/// scope's pipeline behind the send: channel, payload, tenant, message.
pub const NOTIFY_IF_SENT: &str = "SELECT pg_notify($1, $2)::text WHERE EXISTS (SELECT \
     \"skill_messages\".\"id\", \"skill_messages\".\"tenant_id\", \
     \"skill_messages\".\"from_user_id\", \"skill_messages\".\"to_user_id\", \
     \"skill_messages\".\"subject_skill_id\", \"skill_messages\".\"proposed_parent_skill_id\", \
     \"skill_messages\".\"message\", \"skill_messages\".\"status\", \"skill_messages\".\"read_at\", \
     \"skill_messages\".\"responded_at\", \"skill_messages\".\"created_at\" FROM \"skill_messages\" \
     WHERE ((\"skill_messages\".\"tenant_id\" = $3) AND (\"skill_messages\".\"id\" = $4)))";

/// `sql` with its parameters `$1`, `$2`, ... replaced by `values` (SQL
/// expressions: quoted literals, variables of a PL/pgSQL function, ...).
pub fn bind(sql: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(sql.len() + 40 * values.len());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let digits: String = rest[at + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.is_empty() {
            out.push('$');
        } else {
            let n: usize = digits.parse().expect("a parameter number");
            out.push_str(
                values
                    .get(n - 1)
                    .unwrap_or_else(|| panic!("no value for ${n} of {} given", values.len())),
            );
        }
        rest = &rest[at + 1 + digits.len()..];
    }
    out.push_str(rest);
    out
}

/// A pgbench script's statement as pgbench prepares it: each `:variable`
/// becomes the next parameter, `$1` on, one per occurrence.
pub fn script_statement(line: &str) -> String {
    let line = line.trim().trim_end_matches(';');
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    let mut n = 0;
    while let Some(c) = chars.next() {
        let starts_variable = c == ':'
            && !out.ends_with(':')
            && chars
                .peek()
                .is_some_and(|next| next.is_ascii_alphabetic() || *next == '_');
        if starts_variable {
            while chars
                .peek()
                .is_some_and(|next| next.is_ascii_alphanumeric() || *next == '_')
            {
                chars.next();
            }
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// The text of every statement prepared on `conn`'s session, oldest first.
pub fn prepared(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Prepared {
        #[diesel(sql_type = Text)]
        statement: String,
    }
    Ok(
        diesel::sql_query("SELECT statement FROM pg_prepared_statements ORDER BY prepare_time")
            .load::<Prepared>(conn)?
            .into_iter()
            .map(|p| p.statement)
            .collect(),
    )
}

/// What a scope that [`check`] rolls back hands out.
enum Checked {
    Prepared(Vec<String>),
    Failed(Error),
}

impl From<Error> for Checked {
    fn from(error: Error) -> Self {
        Checked::Failed(error)
    }
}

/// Makes each of the eight calls once (the inbox also after a cursor) in
/// one scope on a new connection of the crate's default pool, reads the
/// statements the crate prepared, and rolls the scope back. Panics unless
/// they are exactly the mirrors above: one each, and nothing else. (Each
/// call succeeds, so that no follow-up statement runs: the sent list and
/// the withdrawal act on the message the check sends, and marking all
/// read finds the unread message it then marks read again.)
pub fn check(pool: &Pool, items: &Items) {
    let pair = items.pairs[0];
    // A message of the same tenant, unread and so still pending.
    let target = *items
        .unread
        .iter()
        .find(|t| t.tenant_id == pair.tenant_id)
        .expect("an unread message of the first pair's tenant");
    let outcome = pool.with_tenant_as(pair.tenant_id, |tx| -> Result<(), Checked> {
        let page = get_messages_for_user(tx, pair.user_id, MessageQuery::new().limit(1))?;
        get_messages_for_user(
            tx,
            pair.user_id,
            MessageQuery::new().limit(1).after(page.next),
        )?;
        get_unread_count_for_user(tx, pair.user_id)?;
        let sent = send_skill_message(
            tx,
            NewSkillMessage {
                from_user_id: pair.user_id,
                to_user_id: pair.other_user_id,
                subject_skill_id: pair.skill_id,
                proposed_parent_skill_id: Some(pair.other_skill_id),
                message: MESSAGE,
            },
        )?;
        get_sent_messages_for_user(tx, pair.user_id, MessageQuery::new())?;
        // While it is unread: marking a read message reads it without a write.
        mark_message_read(tx, target.message_id, target.to_user_id)?;
        mark_all_read(tx, target.to_user_id, Cursor::up_to(chrono::Utc::now()))?;
        update_message_status(tx, target.message_id, target.to_user_id, Response::Declined)?;
        withdraw_message(tx, sent.id, pair.user_id)?;
        let statements = prepared(tx.connection()).map_err(Error::from)?;
        // Roll back: the check leaves the data as seeded.
        Err(Checked::Prepared(statements))
    });
    let mut statements = match outcome {
        Err(Checked::Prepared(statements)) => statements,
        Err(Checked::Failed(error)) => panic!("the check of the statements failed: {error}"),
        Ok(()) => unreachable!("the check always rolls back"),
    };
    let mut expected = vec![
        INBOX,
        INBOX_AFTER,
        COUNT,
        SEND,
        MARK_READ,
        RESPOND,
        SENT,
        MARK_ALL_READ,
        WITHDRAW,
    ];
    statements.sort();
    expected.sort();
    assert!(
        statements == expected,
        "the crate's statements changed: update benches/service/statements.rs and the pgbench \
         scripts in benches/pgbench/ to these, as the crate prepares them:\n\n{}",
        statements.join("\n\n")
    );
    for returning in [INBOX, INBOX_AFTER, SEND, MARK_READ, RESPOND, SENT, WITHDRAW] {
        assert!(
            returning.contains(COLUMNS),
            "COLUMNS differs from {returning}"
        );
    }
}
