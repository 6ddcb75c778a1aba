//! Bad input: every operation, every kind of bad input, each refused
//! with its typed error, and nothing written.

use std::collections::BTreeMap;

use skill_messages::{
    Answer, Error, MessageQuery, NewSkillMessage, ReadMark, SkillId, SkillMessageId,
    SkillMessageStatus, TenantId, UserId,
};
use uuid::Uuid;

use super::{Call, every_row};
use crate::common::{TestDb, seed_tenant};

use SkillMessageStatus::Pending;

#[test]
fn every_operation_refuses_bad_input_with_its_typed_error_and_writes_nothing() {
    let db = TestDb::new();
    let mut admin = db.admin();
    let a = seed_tenant(&mut admin, "matrix-a");
    let b = seed_tenant(&mut admin, "matrix-b");
    let pool = db.pool();
    let in_a = |call: Call| {
        pool.with_tenant(a.tenant, |tx| call.run(tx))
            .map(|returned| format!("{returned:?}"))
    };
    let send = |new: NewSkillMessage<'_>| {
        in_a(Call::Send {
            from: new.from_user_id,
            to: new.to_user_id,
            subject: new.subject_skill_id,
            parent: new.proposed_parent_skill_id,
            text: new.message.to_owned(),
        })
    };
    // One message in each status in A, one in B.
    let withdrawn = pool
        .with_tenant(a.tenant, |tx| {
            let m = tx.send(a.proposal("to withdraw"))?;
            tx.withdraw(m.id, a.alice)
        })
        .expect("send and withdraw");
    let pending = pool
        .with_tenant(a.tenant, |tx| tx.send(a.proposal("pending")))
        .expect("send");
    let [accepted, declined] = [Answer::Accept, Answer::Decline].map(|response| {
        pool.with_tenant(a.tenant, |tx| {
            let m = tx.send(a.proposal("to answer"))?;
            tx.answer(m.id, a.bob, response)
        })
        .expect("send and answer")
    });
    let elsewhere = pool
        .with_tenant(b.tenant, |tx| tx.send(b.proposal("in B")))
        .expect("send in B");
    let before = every_row(&mut admin);

    let mut cases: Vec<(&str, String, Result<String, Error>, String)> = Vec::new();
    // The expected errors are the errors' Debug forms, in which an id prints
    // as its type around the UUID: `UnknownUser(UserId(…))`.
    let unknown_users = [
        ("nil", UserId::from(Uuid::nil())),
        ("random", UserId::from(Uuid::new_v4())),
        ("another tenant's", b.bob),
    ];
    let unknown_skills = [
        ("nil", SkillId::from(Uuid::nil())),
        ("random", SkillId::from(Uuid::new_v4())),
        ("another tenant's", b.skill),
    ];
    let unknown_messages = [
        ("nil", SkillMessageId::from(Uuid::nil())),
        ("random", SkillMessageId::from(Uuid::new_v4())),
        ("another tenant's", elsewhere.id),
    ];

    // send_skill_message
    for (name, id) in unknown_users {
        let expected = format!("UnknownUser({id:?})");
        let from = NewSkillMessage {
            from_user_id: id,
            ..a.proposal("x")
        };
        let to = NewSkillMessage {
            to_user_id: id,
            ..a.proposal("x")
        };
        cases.push((
            "send",
            format!("{name} sender"),
            send(from),
            expected.clone(),
        ));
        cases.push(("send", format!("{name} recipient"), send(to), expected));
    }
    for (name, id) in unknown_skills {
        let expected = format!("UnknownSkill({id:?})");
        let subject = NewSkillMessage {
            subject_skill_id: id,
            ..a.proposal("x")
        };
        let parent = NewSkillMessage {
            proposed_parent_skill_id: Some(id),
            ..a.proposal("x")
        };
        cases.push((
            "send",
            format!("{name} subject"),
            send(subject),
            expected.clone(),
        ));
        cases.push(("send", format!("{name} parent"), send(parent), expected));
    }
    // A scope whose tenant does not exist has no users either.
    let nowhere = pool
        .with_tenant(TenantId::from(Uuid::new_v4()), |tx| {
            tx.send(a.proposal("x"))
        })
        .map(|m| m.message);
    let expected = format!("UnknownUser({:?})", a.alice);
    cases.push((
        "send",
        "in a tenant that does not exist".into(),
        nowhere,
        expected,
    ));
    let self_message = NewSkillMessage {
        to_user_id: a.alice,
        ..a.proposal("x")
    };
    let own_parent = NewSkillMessage {
        subject_skill_id: a.skill,
        proposed_parent_skill_id: Some(a.skill),
        ..a.proposal("x")
    };
    cases.push((
        "send",
        "to oneself".into(),
        send(self_message),
        format!("SelfMessage({:?})", a.alice),
    ));
    cases.push((
        "send",
        "parent = subject".into(),
        send(own_parent),
        format!("ParentIsSubject({:?})", a.skill),
    ));
    let white_space: String = (0..=0x3000u32)
        .filter_map(char::from_u32)
        .filter(|c| c.is_whitespace())
        .collect();
    let blank = "InvalidMessage(Blank)".to_owned();
    let mut texts: Vec<(String, String, String)> = vec![
        ("empty".into(), String::new(), blank.clone()),
        ("one space".into(), " ".into(), blank.clone()),
        (
            "all 25 white-space characters".into(),
            white_space.clone(),
            blank.clone(),
        ),
        (
            "4001 characters".into(),
            "x".repeat(4001),
            "InvalidMessage(TooLong { chars: 4001 })".into(),
        ),
        (
            "4001 two-byte characters".into(),
            "é".repeat(4001),
            "InvalidMessage(TooLong { chars: 4001 })".into(),
        ),
        (
            "4001 four-byte characters".into(),
            "🦀".repeat(4001),
            "InvalidMessage(TooLong { chars: 4001 })".into(),
        ),
        (
            "NUL inside".into(),
            "a\0b".into(),
            "InvalidMessage(ContainsNul)".into(),
        ),
        (
            "NUL alone".into(),
            "\0".into(),
            "InvalidMessage(ContainsNul)".into(),
        ),
    ];
    for c in white_space.chars() {
        texts.push((
            format!("U+{:04X} alone", c as u32),
            c.to_string().repeat(3),
            blank.clone(),
        ));
    }
    for (name, text, expected) in texts {
        cases.push(("send", name, send(a.proposal(&text)), expected));
    }

    // outbox, mark_all_read
    for (name, id) in unknown_users {
        let expected = format!("UnknownUser({id:?})");
        let sent = in_a(Call::List {
            outbox: true,
            user: id,
            query: MessageQuery::default(),
        });
        let mark_all = in_a(Call::MarkAllRead {
            user: id,
            seen: [pending.id].into_iter().collect(),
        });
        cases.push(("outbox", format!("{name} user"), sent, expected.clone()));
        cases.push(("mark_all_read", format!("{name} user"), mark_all, expected));
    }
    for limit in [0, 101, u32::MAX] {
        let query = MessageQuery::default().limit(limit);
        let sent = in_a(Call::List {
            outbox: true,
            user: a.alice,
            query,
        });
        cases.push((
            "outbox",
            format!("limit {limit}"),
            sent,
            format!("InvalidPageSize({limit})"),
        ));
    }
    let too_many: ReadMark = (0..=skill_messages::MAX_READ_MARK)
        .map(|n| SkillMessageId::from(Uuid::from_u128(n as u128)))
        .collect();
    cases.push((
        "mark_all_read",
        "a mark of too many messages".into(),
        in_a(Call::MarkAllRead {
            user: a.bob,
            seen: too_many,
        }),
        "InvalidReadMark".into(),
    ));

    // withdraw_message
    for (name, id) in unknown_messages {
        let withdraw = in_a(Call::Withdraw {
            message: id,
            user: a.alice,
        });
        cases.push((
            "withdraw",
            format!("{name} message"),
            withdraw,
            format!("NotFound({id:?})"),
        ));
    }
    for (name, actor) in [
        ("nil", UserId::from(Uuid::nil())),
        ("random", UserId::from(Uuid::new_v4())),
        ("another tenant's sender", b.alice),
        ("the recipient", a.bob),
        ("a bystander", a.carol),
    ] {
        let withdraw = in_a(Call::Withdraw {
            message: pending.id,
            user: actor,
        });
        let expected = format!(
            "NotSender {{ message_id: {:?}, user_id: {actor:?} }}",
            pending.id
        );
        cases.push(("withdraw", format!("{name} acting"), withdraw, expected));
    }
    for message in [&accepted, &declined, &withdrawn] {
        let expected = format!(
            "NotPending {{ message_id: {:?}, status: {:?} }}",
            message.id, message.status
        );
        let withdraw = in_a(Call::Withdraw {
            message: message.id,
            user: a.alice,
        });
        cases.push((
            "withdraw",
            format!("{} message", message.status),
            withdraw,
            expected,
        ));
    }

    for (name, id) in unknown_users {
        let expected = format!("UnknownUser({id:?})");
        let list = in_a(Call::List {
            outbox: false,
            user: id,
            query: MessageQuery::default(),
        });
        let count = in_a(Call::Count { user: id });
        cases.push(("inbox", format!("{name} user"), list, expected.clone()));
        cases.push(("unread_count", format!("{name} user"), count, expected));
    }
    for limit in [0, 101, u32::MAX] {
        let query = MessageQuery::default().limit(limit);
        let list = in_a(Call::List {
            outbox: false,
            user: a.bob,
            query,
        });
        cases.push((
            "inbox",
            format!("limit {limit}"),
            list,
            format!("InvalidPageSize({limit})"),
        ));
    }
    for garbage in [
        "",
        "not a cursor",
        "'; DROP TABLE skill_messages; --",
        &"f".repeat(49),
    ] {
        let parsed = garbage
            .parse::<skill_messages::Cursor>()
            .map(|c| c.to_string());
        cases.push((
            "inbox",
            format!("cursor {garbage:?}"),
            parsed,
            "InvalidCursor".into(),
        ));
    }

    // mark_read, answer, details
    for (name, id) in unknown_messages {
        let expected = format!("NotFound({id:?})");
        let mark = in_a(Call::MarkRead {
            message: id,
            user: a.bob,
        });
        let answer = in_a(Call::Answer {
            message: id,
            user: a.bob,
            answer: Answer::Accept,
        });
        let details = in_a(Call::Details {
            message: id,
            user: a.bob,
        });
        cases.push((
            "mark_read",
            format!("{name} message"),
            mark,
            expected.clone(),
        ));
        cases.push((
            "answer",
            format!("{name} message"),
            answer,
            expected.clone(),
        ));
        cases.push(("details", format!("{name} message"), details, expected));
    }
    let strangers = [
        ("nil", UserId::from(Uuid::nil())),
        ("random", UserId::from(Uuid::new_v4())),
        ("another tenant's recipient", b.bob),
        ("the sender", a.alice),
        ("a bystander", a.carol),
    ];
    for (name, actor) in strangers {
        let expected = format!(
            "NotRecipient {{ message_id: {:?}, user_id: {actor:?} }}",
            pending.id
        );
        let mark = in_a(Call::MarkRead {
            message: pending.id,
            user: actor,
        });
        let answer = in_a(Call::Answer {
            message: pending.id,
            user: actor,
            answer: Answer::Decline,
        });
        cases.push((
            "mark_read",
            format!("{name} acting"),
            mark,
            expected.clone(),
        ));
        cases.push(("answer", format!("{name} acting"), answer, expected));
        if actor != a.alice {
            let details = in_a(Call::Details {
                message: pending.id,
                user: actor,
            });
            let expected = format!(
                "NotParticipant {{ message_id: {:?}, user_id: {actor:?} }}",
                pending.id
            );
            cases.push(("details", format!("{name} acting"), details, expected));
        }
    }
    for (from, message) in [
        ("pending", &pending),
        ("accepted", &accepted),
        ("declined", &declined),
        ("withdrawn", &withdrawn),
    ] {
        for to in [Answer::Accept, Answer::Decline] {
            let expected = match message.status {
                Pending => continue, // the one allowed transition, below
                current => format!(
                    "NotPending {{ message_id: {:?}, status: {current:?} }}",
                    message.id
                ),
            };
            let answer = in_a(Call::Answer {
                message: message.id,
                user: a.bob,
                answer: to,
            });
            cases.push(("answer", format!("{from}, {to}"), answer, expected));
        }
    }

    let mut failures = Vec::new();
    let mut per_operation: BTreeMap<&str, usize> = BTreeMap::new();
    for (function, name, result, expected) in &cases {
        *per_operation.entry(function).or_default() += 1;
        match result {
            Err(error) if format!("{error:?}") == *expected => {}
            other => failures.push(format!(
                "{function}, {name}: got {other:?}, expected {expected}"
            )),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        every_row(&mut admin),
        before,
        "a refused call wrote something"
    );

    // What is valid is stored verbatim, once trimmed.
    let valid = [
        "x".repeat(4000),
        "é".repeat(4000),
        "🦀".repeat(4000),
        format!("{white_space}{}{white_space}", "y".repeat(4000)),
        "'); DROP TABLE skill_messages; --".to_owned(),
        "$1 $$ \\ % _ ' \" ; -- /* */ E'\\x00'".to_owned(),
        "\u{202e}right-to-left\u{202c} and \u{200b}zero-width".to_owned(),
    ];
    for text in &valid {
        let stored = pool
            .with_tenant(a.tenant, |tx| tx.send(a.proposal(text)))
            .expect("a valid message");
        assert_eq!(stored.message, text.trim(), "stored verbatim");
    }
    let accepted_now = in_a(Call::Answer {
        message: pending.id,
        user: a.bob,
        answer: Answer::Accept,
    });
    assert!(accepted_now.is_ok(), "pending to accepted");
    assert_eq!(every_row(&mut admin).len(), before.len() + valid.len());

    println!(
        "bad input: {} refused calls, each with its typed error and nothing written; {} valid \
         edge cases stored verbatim",
        cases.len(),
        valid.len()
    );
    for (function, count) in per_operation {
        println!("  {function:<14} {count:>4} cases");
    }
}
