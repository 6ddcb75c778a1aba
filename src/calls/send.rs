//! Sending a skill message.

use diesel::dsl;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Uuid as SqlUuid};

use super::{skill_exists, user_exists};
use crate::call::{Call, FollowUp, Step};
use crate::error::{Error, MessageProblem};
use crate::events::NewMessageEvent;
use crate::ids::{SkillId, SkillMessageId, TenantId, UserId};
use crate::models::{NewSkillMessage, SkillMessage};
use crate::relations::RECIPIENT;
use crate::schema::{skill_messages, users};
use crate::statement::Statement;

/// The longest message, in characters, after trimming white space.
pub const MAX_MESSAGE_CHARS: usize = 4000;

/// A message to send, its text checked and trimmed.
pub(crate) struct Send<'a> {
    tenant: TenantId,
    id: SkillMessageId,
    new: NewSkillMessage<'a>,
}

impl<'a> Send<'a> {
    /// Refuses what the tenant's rows need not be read to refuse.
    pub(crate) fn new(tenant: TenantId, new: NewSkillMessage<'a>) -> Result<Self, Error> {
        let message = checked_text(new.message).map_err(Error::InvalidMessage)?;
        if new.from_user_id == new.to_user_id {
            return Err(Error::SelfMessage(new.from_user_id));
        }
        if new.proposed_parent_skill_id == Some(new.subject_skill_id) {
            return Err(Error::ParentIsSubject(new.subject_skill_id));
        }
        Ok(Self {
            tenant,
            id: SkillMessageId::from(uuid::Uuid::now_v7()),
            new: NewSkillMessage { message, ..new },
        })
    }
}

/// The message text trimmed, or why it cannot be stored.
fn checked_text(text: &str) -> Result<&str, MessageProblem> {
    if text.contains('\0') {
        return Err(MessageProblem::ContainsNul);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(MessageProblem::Blank);
    }
    match trimmed.chars().count() {
        chars if chars > MAX_MESSAGE_CHARS => Err(MessageProblem::TooLong { chars }),
        _ => Ok(trimmed),
    }
}

/// Every column of the row as returned.
type Returned = dsl::SqlTypeOf<dsl::AsSelect<SkillMessage, Pg>>;

impl Call for Send<'_> {
    type Output = SkillMessage;
    type SqlType = Returned;
    type Row = SkillMessage;
    type FollowUp = UnknownReference;
    const OPERATION: &'static str = "send_skill_message";

    /// `INSERT ... SELECT` the new row from its recipient's row, only if
    /// the sender and the skills exist in the tenant too: when a reference
    /// does not, it inserts nothing, and fails nothing, where a foreign-key
    /// violation would abort the scope. The id is made here, a UUIDv7 (in
    /// time order), and the tenant is the recipient's row's: both let Citus
    /// run the whole statement on the tenant's shard. Without a proposed
    /// parent the subject is checked twice, which keeps one SQL text for
    /// both shapes.
    fn statement(&self) -> Statement<Returned> {
        let (tenant, new) = (self.tenant, self.new);
        let parent_or_subject = new.proposed_parent_skill_id.unwrap_or(new.subject_skill_id);
        let recipient_tenant = RECIPIENT.field(users::tenant_id);
        let recipient_id = RECIPIENT.field(users::id);
        let values = RECIPIENT
            .filter(recipient_tenant.eq(tenant))
            .filter(recipient_id.eq(new.to_user_id))
            .filter(
                user_exists(tenant, new.from_user_id)
                    .and(skill_exists(tenant, new.subject_skill_id))
                    .and(skill_exists(tenant, parent_or_subject)),
            )
            .select((
                self.id.into_sql::<SqlUuid>(),
                recipient_tenant,
                new.from_user_id.into_sql::<SqlUuid>(),
                recipient_id,
                new.subject_skill_id.into_sql::<SqlUuid>(),
                new.proposed_parent_skill_id.into_sql::<Nullable<SqlUuid>>(),
                new.message.to_owned().into_sql::<Text>(),
            ));
        Statement::new(
            diesel::insert_into(skill_messages::table)
                .values(values)
                .into_columns((
                    skill_messages::id,
                    skill_messages::tenant_id,
                    skill_messages::from_user_id,
                    skill_messages::to_user_id,
                    skill_messages::subject_skill_id,
                    skill_messages::proposed_parent_skill_id,
                    skill_messages::message,
                ))
                .on_conflict((skill_messages::tenant_id, skill_messages::id))
                .do_nothing()
                .returning(SkillMessage::as_returning()),
        )
    }

    fn event(&self) -> Option<NewMessageEvent> {
        let new = &self.new;
        Some(NewMessageEvent::new(
            self.tenant,
            self.id,
            new.from_user_id,
            new.to_user_id,
        ))
    }

    fn answer(self, rows: Vec<SkillMessage>) -> Step<SkillMessage, UnknownReference> {
        match rows.into_iter().next() {
            Some(message) => Step::Done(Ok(message)),
            None => Step::FollowUp(UnknownReference {
                tenant: self.tenant,
                from: self.new.from_user_id,
                to: self.new.to_user_id,
                subject: self.new.subject_skill_id,
                parent: self.new.proposed_parent_skill_id,
            }),
        }
    }
}

/// Which of a refused message's users and skills the tenant lacks: the
/// first, in the order sender, recipient, subject skill, proposed parent.
pub(crate) struct UnknownReference {
    tenant: TenantId,
    from: UserId,
    to: UserId,
    subject: SkillId,
    parent: Option<SkillId>,
}

impl FollowUp for UnknownReference {
    type Output = SkillMessage;
    type SqlType = (Bool, Bool, Bool, Bool);
    type Row = (bool, bool, bool, bool);

    fn statement(&self) -> Statement<(Bool, Bool, Bool, Bool)> {
        Statement::new(diesel::select((
            user_exists(self.tenant, self.from),
            user_exists(self.tenant, self.to),
            skill_exists(self.tenant, self.subject),
            skill_exists(self.tenant, self.parent.unwrap_or(self.subject)),
        )))
    }

    fn answer(self, rows: Vec<(bool, bool, bool, bool)>) -> Result<SkillMessage, Error> {
        let (from, to, subject, parent) = rows.first().copied().unwrap_or_default();
        Err(match (from, to, subject, parent, self.parent) {
            (false, ..) => Error::UnknownUser(self.from),
            (_, false, ..) => Error::UnknownUser(self.to),
            (_, _, false, ..) => Error::UnknownSkill(self.subject),
            (_, _, _, false, Some(parent)) => Error::UnknownSkill(parent),
            // Every reference exists now. Each statement sees what was
            // committed when it started: one the insert missed was created
            // since (or the message's id was taken, which its conflict
            // clause skips). Nothing was written.
            _ => Error::SendRaced,
        })
    }
}
