//! Keys and tables of shared sessions (`muxHTTP`, `merge`): requests whose keys are equal share
//! one instance of a sub-pipeline (typically one upstream connection).

use super::FilterArgs;
use crate::engine::context::Context as PipyContext;
use crate::engine::event::{Event, StreamError};
use crate::engine::filter::Cx;
use crate::engine::pipeline::{LayoutId, PipelineId, Sink};
use crate::js::builtins::helpers::ValueKey;
use crate::worker::core::SharedSink;
use crate::worker::core::{Core, TimerTarget};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A session key: primitives by value, objects by identity (`algo.Cache` keys the same way).
pub type SessionKey = ValueKey;

/// Sessions of one filter definition, by key. Each entry carries the session's shared-sink id so
/// a session can remove itself while it is borrowed.
pub struct SessionTable<S> {
    sessions: HashMap<SessionKey, (u64, Rc<RefCell<S>>)>,
    /// The entry the last lookup found. Requests of a proxy mostly ask for the session they
    /// asked for last, under the very key string (a target address from the configuration):
    /// comparing it by address spares hashing it (SipHash, since keys may come from requests).
    recent: Option<(SessionKey, u64, Rc<RefCell<S>>)>,
}

impl<S> Default for SessionTable<S> {
    fn default() -> Self {
        SessionTable {
            sessions: HashMap::new(),
            recent: None,
        }
    }
}

impl<S> SessionTable<S> {
    /// The session for `key` and its shared-sink id.
    fn get(&mut self, key: &SessionKey) -> Option<(u64, Rc<RefCell<S>>)> {
        if let Some((k, id, s)) = &self.recent
            && k.is_identical(key)
        {
            return Some((*id, s.clone()));
        }
        let (id, s) = self.sessions.get(key)?;
        self.recent = Some((key.clone(), *id, s.clone()));
        Some((*id, s.clone()))
    }

    fn insert(&mut self, key: SessionKey, id: u64, s: Rc<RefCell<S>>) {
        if self.recent.as_ref().is_some_and(|(k, _, _)| *k == key) {
            self.recent = None;
        }
        self.sessions.insert(key, (id, s));
    }

    /// Removes `key` only if it still maps to session `id` (a newer one may have replaced it).
    pub fn remove_if(&mut self, key: &SessionKey, id: u64) {
        if self.recent.as_ref().is_some_and(|(_, i, _)| *i == id) {
            self.recent = None;
        }
        if self.sessions.get(key).is_some_and(|(i, _)| *i == id) {
            self.sessions.remove(key);
        }
    }
}

pub type SharedTable<S> = Rc<RefCell<SessionTable<S>>>;

/// What every shared session keeps: its entry in the table, its pipeline, the streams using it
/// and its idle timer.
pub struct SessionBase<S> {
    /// Shared-sink id.
    pub id: u64,
    pub pipeline: PipelineId,
    /// Streams using the session.
    pub users: usize,
    key: SessionKey,
    table: SharedTable<S>,
    /// When the last stream stopped using the session (and it could be reused then).
    idle_since: Option<Instant>,
    /// An idle timer is pending. There is at most one per session: a session that goes idle
    /// with one pending leaves it be, and the timer, when it fires early, is armed again for
    /// what is left. Arming one per idle spell piled a timer per request into the worker's
    /// heap (~13k a second, each kept for `max_idle`, in the bench's proxy).
    idle_timer_armed: bool,
    max_idle: Duration,
}

impl<S> SessionBase<S> {
    /// A session not yet attached: `find_or_open` sets its id and pipeline once they exist.
    pub fn new(key: SessionKey, table: SharedTable<S>, max_idle: Duration) -> Self {
        SessionBase {
            id: 0,
            pipeline: PipelineId {
                index: u32::MAX,
                generation: 0,
            },
            users: 0,
            key,
            table,
            idle_since: None,
            idle_timer_armed: false,
            max_idle,
        }
    }

    /// Takes the session out of its table: no new stream finds it.
    pub fn forget(&self) {
        self.table.borrow_mut().remove_if(&self.key, self.id);
    }

    /// Ends the pipeline; if it has not finished within `grace`, a `SessionTimer::Close` fires.
    pub fn end(&self, core: &mut Core, grace: Duration) {
        self.forget();
        core.send(self.pipeline, Event::StreamEnd(StreamError::None));
        SessionTimer::Close.arm(core, self.id, grace);
    }

    /// Destroys the pipeline and unregisters the session.
    pub fn destroy(&self, core: &mut Core) {
        self.forget();
        core.destroy_pipeline(self.pipeline);
        core.unregister_shared(self.id);
    }

    /// A stream stopped using the session; returns whether none is left. The session's idle
    /// spell starts then if `reusable`.
    pub fn release_user(&mut self, core: &mut Core, reusable: bool) -> bool {
        self.users = self.users.saturating_sub(1);
        if self.users > 0 {
            return false;
        }
        if reusable {
            self.idle_since = Some(core.now);
            if !self.idle_timer_armed {
                self.idle_timer_armed = true;
                SessionTimer::Idle.arm_at(core, self.id, core.now + self.max_idle);
            }
        }
        true
    }

    /// What timer `tag` means now: `Idle` once the session has been unused for `max_idle`.
    /// An idle timer that fires while the session is in use again is dropped (the next idle
    /// spell arms another); one that fires before the current spell is `max_idle` long is
    /// armed again for the rest.
    pub fn timer(&mut self, tag: u64, core: &mut Core) -> Option<SessionTimer> {
        let t = SessionTimer::from_tag(tag)?;
        if t != SessionTimer::Idle {
            return Some(t);
        }
        self.idle_timer_armed = false;
        let since = self.idle_since?;
        if self.users > 0 {
            return None;
        }
        let due = since + self.max_idle;
        if due <= Instant::now() {
            return Some(SessionTimer::Idle);
        }
        self.idle_timer_armed = true;
        SessionTimer::Idle.arm_at(core, self.id, due);
        None
    }
}

/// A session kept in a `SessionTable`.
pub trait Session: SharedSink + Sized + 'static {
    fn base(&mut self) -> &mut SessionBase<Self>;
}

/// The session for `key`, or a new one made by `make`: registered as a shared sink and running
/// an instance of `layout` whose context is cloned from the calling stream's. A session found
/// for the key is taken only if `takes_more` says it takes another stream (it may take itself
/// out of the table when it says no); otherwise a new one replaces it there.
pub fn find_or_open<S: Session>(
    table: &SharedTable<S>,
    key: SessionKey,
    layout: LayoutId,
    cx: &mut Cx,
    takes_more: impl FnOnce(&mut S) -> bool,
    make: impl FnOnce(SessionKey) -> S,
) -> Rc<RefCell<S>> {
    let found = table.borrow_mut().get(&key).map(|(_, s)| s);
    // Apart from the lookup: `takes_more` may take the session out of the table.
    let existing = found.filter(|s| match s.try_borrow_mut() {
        Ok(mut s) => takes_more(&mut s),
        // Not borrowed here today (sessions queue their work); were it, it would be kept.
        Err(_) => true,
    });
    let s = match existing {
        Some(s) => s,
        None => {
            // The session is registered before its pipeline exists so the pipeline can report
            // to it from its first event.
            let s = Rc::new(RefCell::new(make(key.clone())));
            let id = cx.core.register_shared(s.clone());
            let ctx = PipyContext::clone_from(cx.context);
            let p = cx.core.spawn_pipeline(layout, ctx, Sink::Shared(id));
            let mut session = s.borrow_mut();
            session.base().id = id;
            session.base().pipeline = p;
            drop(session);
            table.borrow_mut().insert(key, id, s.clone());
            log::debug!("new session #{id}");
            s
        }
    };
    s.borrow_mut().base().users += 1;
    s
}

/// Default idle time before a session nobody uses is ended (reference §3.8).
pub const DEFAULT_MAX_IDLE: Duration = Duration::from_secs(10);

/// `options.maxIdle` of argument `i`, in seconds, defaulting to `DEFAULT_MAX_IDLE`.
pub fn max_idle_option(a: &mut FilterArgs, i: usize) -> Result<Duration, String> {
    Ok(a.seconds_option(i, "maxIdle")?.unwrap_or(DEFAULT_MAX_IDLE))
}

/// The timers a session arms, encoded in a `TimerTarget::Shared` tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionTimer {
    /// The session may have been unused for `max_idle` (`SessionBase::timer` checks).
    Idle,
    /// An ending session did not finish in time: destroy it.
    Close,
}

impl SessionTimer {
    pub fn tag(self) -> u64 {
        match self {
            SessionTimer::Idle => 1,
            SessionTimer::Close => 2,
        }
    }

    pub fn from_tag(tag: u64) -> Option<SessionTimer> {
        match tag {
            1 => Some(SessionTimer::Idle),
            2 => Some(SessionTimer::Close),
            _ => None,
        }
    }

    pub fn arm(self, core: &mut Core, session: u64, after: Duration) {
        self.arm_at(core, session, Instant::now() + after);
    }

    fn arm_at(self, core: &mut Core, session: u64, at: Instant) {
        core.timers
            .arm_at(at, TimerTarget::Shared(session, self.tag()));
    }
}

#[cfg(test)]
mod tests {
    use super::{SessionKey, SessionTable};
    use boa_engine::{JsString, JsValue};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn key(v: &JsValue) -> SessionKey {
        SessionKey::new(v)
    }

    #[test]
    fn the_recent_entry_follows_the_table() {
        let target = JsValue::new(JsString::from("127.0.0.1:8080"));
        let mut table: SessionTable<&str> = SessionTable::default();
        table.insert(key(&target), 1, Rc::new(RefCell::new("first")));
        let found = |t: &mut SessionTable<&str>, v: &JsValue| t.get(&key(v)).map(|(id, _)| id);
        assert_eq!(found(&mut table, &target), Some(1), "through the map");
        let recent = |t: &SessionTable<&str>| t.recent.as_ref().map(|(_, id, _)| *id);
        assert_eq!(recent(&table), Some(1), "the lookup is remembered");
        assert_eq!(
            found(&mut table, &target),
            Some(1),
            "through the recent entry"
        );
        let twin = JsValue::new(JsString::from("127.0.0.1:8080"));
        assert_eq!(
            found(&mut table, &twin),
            Some(1),
            "equal text, another string"
        );

        // A session that is given up is found neither way, and a newer one under the same
        // key replaces it.
        table.remove_if(&key(&target), 1);
        assert_eq!(recent(&table), None, "forgotten with its session");
        assert_eq!(found(&mut table, &target), None);
        table.insert(key(&twin), 2, Rc::new(RefCell::new("second")));
        assert_eq!(found(&mut table, &target), Some(2));
        assert_eq!(found(&mut table, &twin), Some(2));
        // Replaced while it was the recent entry.
        table.insert(key(&target), 3, Rc::new(RefCell::new("third")));
        assert_eq!(recent(&table), None, "forgotten when its key is taken");
        assert_eq!(found(&mut table, &twin), Some(3));
        // Removing an older id leaves the current session alone.
        table.remove_if(&key(&target), 2);
        assert_eq!(found(&mut table, &target), Some(3));
        let other = JsValue::new(JsString::from("127.0.0.1:8081"));
        assert_eq!(found(&mut table, &other), None);
        assert_eq!(found(&mut table, &target), Some(3));
    }
}
