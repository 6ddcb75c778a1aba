//! Loading one message with the users and skills it refers to.

use diesel::prelude::*;
use diesel::query_builder::Query;

use crate::call::{Call, NoFollowUp, Step};
use crate::error::Error;
use crate::ids::{SkillMessageId, TenantId};
use crate::relations::{DetailsRow, SkillMessageDetails, details_query};
use crate::schema::skill_messages;
use crate::statement::Statement;

/// One message of the tenant, with its sender, recipient and skills.
pub(crate) struct Details {
    pub(crate) tenant: TenantId,
    pub(crate) id: SkillMessageId,
}

impl Call for Details {
    type Output = SkillMessageDetails;
    type SqlType = <details_query as Query>::SqlType;
    type Row = DetailsRow;
    type FollowUp = NoFollowUp<SkillMessageDetails>;
    const OPERATION: &'static str = "load_message_details";

    fn statement(&self) -> Statement<Self::SqlType> {
        Statement::new(
            details_query()
                .filter(skill_messages::tenant_id.eq(self.tenant))
                .filter(skill_messages::id.eq(self.id)),
        )
    }

    fn answer(self, rows: Vec<DetailsRow>) -> Step<SkillMessageDetails, Self::FollowUp> {
        Step::Done(
            rows.into_iter()
                .next()
                .map(SkillMessageDetails::from)
                .ok_or(Error::NotFound(self.id)),
        )
    }
}
