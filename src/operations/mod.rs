//! The operations, one file each: its input and checks, its statement, its
//! refusals and its follow-up, and its method on every face (the blocking
//! and async scopes, the blocking and async tenant handles).

mod answer;
mod conditions;
mod details;
pub(crate) mod follow_up;
mod list;
mod mark_all_read;
mod mark_read;
mod mark_unread;
mod send;
mod unread_count;
mod withdraw;

pub use answer::{Answer, UnknownAnswer};
pub use details::SkillMessageDetails;
pub use mark_all_read::{MAX_READ_MARK, ReadMark};
pub use send::{MAX_MESSAGE_CHARS, NewSkillMessage};
