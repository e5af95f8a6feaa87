//! Which events a `handle*` or `replace*` filter acts on: the part of its name after the verb.
//! Both families select events the same way; they differ in what they do with them.

use super::FilterArgs;
use crate::engine::event::Event;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The first event of the stream, whatever it is.
    StreamStart,
    MessageStart,
    /// A whole message: head and body, collected up to an optional size limit.
    Message,
    /// A whole message body, collected up to an optional size limit.
    MessageBody,
    MessageEnd,
    /// A non-empty `Data`.
    Data,
    StreamEnd,
}

impl EventKind {
    /// The message-collecting kinds, which take an optional `sizeLimit` first argument.
    pub fn collects_message(self) -> bool {
        matches!(self, EventKind::Message | EventKind::MessageBody)
    }

    /// For the single-event kinds: whether `ev` is one of theirs. `first` says `ev` opens
    /// the stream. Always false for the message-collecting kinds.
    pub fn acts_on(self, ev: &Event, first: bool) -> bool {
        match (self, ev) {
            (EventKind::StreamStart, _) => first,
            (EventKind::MessageStart, Event::MessageStart(_))
            | (EventKind::MessageEnd, Event::MessageEnd)
            | (EventKind::StreamEnd, Event::StreamEnd(_)) => true,
            (EventKind::Data, Event::Data(d)) => !d.is_empty(),
            _ => false,
        }
    }

    /// The `[sizeLimit,]` prefix of the message-collecting kinds: the limit, and the index of
    /// the argument after it.
    pub fn limit_arg(self, a: &mut FilterArgs) -> Result<(Option<usize>, usize), String> {
        if self.collects_message() {
            a.size_limit_prefix()
        } else {
            Ok((None, 0))
        }
    }
}
