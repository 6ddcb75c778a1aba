//! The public types on their own, without a database: ids, statuses,
//! cursors, errors and, with the `serde` feature, their wire forms.

use std::error::Error as _;

use skill_messages::chrono::{DateTime, Utc};
use skill_messages::uuid::Uuid;
use skill_messages::{
    Answer, Cursor, DEFAULT_PAGE_SIZE, Error, MessageProblem, MessageQuery, ReadMark, SkillId,
    SkillMessageId, SkillMessageStatus, TenantId, UserId,
};

#[test]
fn ids_print_and_parse_as_their_uuid() {
    let uuid = Uuid::from_u128(0x0123_4567_89ab_4cde_8f01_2345_6789_abcd);
    let user = UserId::from(uuid);
    assert_eq!(user.to_string(), uuid.to_string());
    assert_eq!(user.to_string().parse::<UserId>(), Ok(user));
    assert_eq!(Uuid::from(user), uuid);
    assert_eq!(*TenantId::from_uuid(uuid).as_uuid(), uuid);
    assert!("not a uuid".parse::<SkillId>().is_err());
    assert!(SkillMessageId::from(Uuid::nil()) < SkillMessageId::from(uuid));
}

#[test]
fn statuses_print_and_parse_as_postgresql_stores_them() {
    for status in SkillMessageStatus::ALL {
        assert_eq!(status.to_string().parse::<SkillMessageStatus>(), Ok(status));
    }
    assert_eq!(SkillMessageStatus::Accepted.to_string(), "accepted");
    let unknown = "Accepted"
        .parse::<SkillMessageStatus>()
        .expect_err("labels are lower case");
    assert_eq!(
        unknown.to_string(),
        "unknown skill message status \"Accepted\": expected pending, accepted, declined or withdrawn"
    );
}

#[test]
fn answers_print_and_parse_and_name_the_status_they_set() {
    for (answer, text, status) in [
        (Answer::Accept, "accept", SkillMessageStatus::Accepted),
        (Answer::Decline, "decline", SkillMessageStatus::Declined),
    ] {
        assert_eq!(answer.to_string(), text);
        assert_eq!(text.parse::<Answer>(), Ok(answer));
        assert_eq!(answer.status(), status);
    }
    let unknown = "accepted".parse::<Answer>().expect_err("not an answer");
    assert_eq!(
        unknown.to_string(),
        "unknown answer \"accepted\": expected accept or decline"
    );
}

/// A read mark travels as an opaque string and comes back the same; one
/// that is malformed, or holds more than `MAX_READ_MARK` messages, is
/// refused when parsed.
#[test]
fn a_read_mark_survives_its_string_form_and_refuses_what_it_cannot_be() {
    let ids = (1..=3).map(|n| SkillMessageId::from(Uuid::from_u128(n)));
    let mark: ReadMark = ids.collect();
    assert_eq!(mark.len(), 3);
    assert_eq!(mark.to_string().parse::<ReadMark>().expect("parse"), mark);
    assert_eq!("".parse::<ReadMark>().expect("empty"), ReadMark::default());
    let too_many = "0".repeat(32 * (skill_messages::MAX_READ_MARK + 1));
    for bad in ["x", &"g".repeat(32), &"0".repeat(33), &too_many] {
        assert!(
            matches!(bad.parse::<ReadMark>(), Err(Error::InvalidReadMark)),
            "{bad:.40}"
        );
    }
}

#[test]
fn a_cursor_names_a_position_and_survives_its_string_form() {
    let at: DateTime<Utc> = "2026-11-27T10:00:00.123456789Z".parse().expect("a time");
    let id = SkillMessageId::from(Uuid::from_u128(42));
    let cursor = Cursor::at(at, id);
    assert_eq!(cursor.id(), id);
    assert_eq!(
        cursor.created_at().to_rfc3339(),
        "2026-11-27T10:00:00.123456+00:00",
        "truncated to PostgreSQL's microseconds"
    );
    assert_eq!(cursor.to_string().parse::<Cursor>().expect("parse"), cursor);
    assert!(matches!("".parse::<Cursor>(), Err(Error::InvalidCursor)));
}

/// A cursor whose time PostgreSQL cannot hold (before 4714-11-24 BC) is
/// refused when it is parsed, as a malformed one is; the earliest time it
/// holds, and the latest chrono holds, are accepted.
#[test]
fn a_cursor_postgresql_cannot_hold_is_refused_when_parsed() {
    let id = SkillMessageId::from(Uuid::from_u128(7));
    let earliest: DateTime<Utc> = DateTime::from_timestamp_micros(-210_866_803_200_000_000)
        .expect("4714-11-24 BC, which chrono holds");
    let too_early = earliest - chrono::TimeDelta::microseconds(1);
    let ancient = DateTime::from_timestamp(-8_000_000_000_000, 0).expect("about 251,000 BC");
    for time in [too_early, ancient] {
        let text = Cursor::at(time, id).to_string();
        assert!(
            matches!(text.parse::<Cursor>(), Err(Error::InvalidCursor)),
            "{time} parsed from {text}"
        );
    }
    for time in [earliest, DateTime::<Utc>::MAX_UTC] {
        let cursor = Cursor::at(time, id);
        assert_eq!(
            cursor.to_string().parse::<Cursor>().expect("in range"),
            cursor
        );
    }
}

#[test]
fn errors_say_whether_the_scope_is_still_usable_and_expose_their_cause() {
    let user = UserId::from(Uuid::nil());
    assert!(Error::UnknownUser(user).is_refusal());
    assert!(Error::InvalidPageSize(0).is_refusal());
    let broken = diesel::result::Error::BrokenTransactionManager;
    assert!(!Error::Database(diesel::result::Error::NotFound).is_refusal());
    let unknown = Error::CommitOutcomeUnknown(broken);
    assert!(!unknown.is_refusal());
    assert!(unknown.source().is_some(), "the connection's error");
    let invalid = Error::InvalidMessage(MessageProblem::TooLong { chars: 4001 });
    assert_eq!(
        invalid.to_string(),
        "invalid message: the message has 4001 characters, more than 4000"
    );
    assert_eq!(
        invalid.source().map(ToString::to_string),
        Some(MessageProblem::TooLong { chars: 4001 }.to_string())
    );
    let reasons = Error::RlsNotEnforced(vec!["one".into(), "two".into()]);
    assert_eq!(
        reasons.to_string(),
        "row-level security is not enforced: one; two"
    );
}

#[cfg(feature = "serde")]
#[test]
fn the_wire_forms_are_snake_case_and_the_cursor_is_its_string() {
    use serde_json::json;
    use skill_messages::{Page, SkillMessage};

    let at: DateTime<Utc> = "2026-11-27T10:00:00.5Z".parse().expect("a time");
    let id = |n: u128| Uuid::from_u128(n);
    let message = SkillMessage {
        id: id(1).into(),
        tenant_id: id(2).into(),
        from_user_id: Some(id(3).into()),
        to_user_id: Some(id(4).into()),
        subject_skill_id: id(5).into(),
        proposed_parent_skill_id: None,
        message: "hello".into(),
        status: SkillMessageStatus::Pending,
        read_at: None,
        responded_at: None,
        created_at: at,
    };
    let page = Page {
        items: vec![message.clone()],
        next: Some(Cursor::after(&message)),
    };
    let wire = serde_json::to_value(&page).expect("serialize");
    assert_eq!(wire["items"][0]["id"], json!(id(1).to_string()));
    assert_eq!(wire["items"][0]["status"], json!("pending"));
    assert_eq!(wire["items"][0]["proposed_parent_skill_id"], json!(null));
    assert_eq!(wire["next"], json!(Cursor::after(&message).to_string()));
    let back: Page<SkillMessage> = serde_json::from_value(wire).expect("deserialize");
    assert_eq!(back, page);
    assert_eq!(
        serde_json::to_value(Answer::Decline).expect("answer"),
        json!("decline")
    );
    let mark: ReadMark = [message.id].into_iter().collect();
    let wire = serde_json::to_value(&mark).expect("a read mark");
    assert_eq!(wire, json!(mark.to_string()));
    assert_eq!(
        serde_json::from_value::<ReadMark>(wire).expect("back"),
        mark
    );
    let bad: Result<Cursor, _> = serde_json::from_value(json!("not a cursor"));
    assert!(bad.is_err());
}

/// What the documentation says of the statuses and keys is what the
/// migrations do: DEPLOYMENT.md names every status, the column comments
/// (and the rustdoc print-schema copies from them) say who answers and who
/// withdraws, and SECURITY.md does not count the primary keys among the
/// indexes not led by `tenant_id`.
#[test]
fn the_documentation_names_every_status_and_who_moves_it() {
    let deployment = include_str!("../../DEPLOYMENT.md");
    for status in SkillMessageStatus::ALL {
        assert!(
            deployment.contains(&format!("`{status}`")),
            "DEPLOYMENT.md names {status}"
        );
    }
    let schema = include_str!("../../src/schema.rs");
    for (column, says) in [("status", "withdraws"), ("responded_at", "withdrew")] {
        let doc = schema
            .lines()
            .zip(schema.lines().skip(1))
            .find(|(_, next)| next.trim_start().starts_with(&format!("{column} ->")))
            .map(|(doc, _)| doc)
            .unwrap_or_default();
        assert!(doc.contains(says), "the comment on {column}: {doc}");
    }
    let security = include_str!("../../SECURITY.md");
    assert!(!security.contains("(the primary keys,"), "SECURITY.md");
}

/// A query tells where its page starts and how long it is.
#[test]
fn a_message_query_tells_its_cursor_and_page_size() {
    let first = MessageQuery::new();
    assert_eq!(
        (first.cursor(), first.page_size()),
        (None, DEFAULT_PAGE_SIZE)
    );
    let cursor = Cursor::at(
        DateTime::UNIX_EPOCH,
        SkillMessageId::from(Uuid::from_u128(9)),
    );
    let next = first.limit(50).after(Some(cursor)).unread_only();
    assert_eq!((next.cursor(), next.page_size()), (Some(cursor), 50));
    assert_eq!(next.after(None).cursor(), None);
}
