//! Own properties of script objects, remembered for as long as the script epoch stands.
//!
//! boa's public API reads a property by building a whole property descriptor: several hundred
//! instructions, most of them the descriptor's builder and its drop. A compiled callback reads
//! the same few properties on every request: `Boolean` on the global object,
//! `URLRouter.prototype.find`, the `head` accessor of `MessageStart.prototype`, fields of the
//! route objects a router returns. Script objects change only while the worker has handed the
//! engine out, and every such hand-out moves the epoch ([`ScriptEpoch`]), so a property read
//! under the current epoch still holds. The memo forgets everything when the epoch moves.
//!
//! The memo keeps the objects it describes alive, so no other object can take an address it
//! remembers.

use crate::js::builtins::helpers::TextAddress;
use crate::js::runtime::ScriptEpoch;
use boa_engine::JsValue;
use boa_engine::object::JsObject;
use boa_engine::property::PropertyKey;
use std::cell::{Cell, RefCell};

/// Properties remembered per evaluator: more than a callback reads per call, few enough to scan.
const CAPACITY: usize = 16;

/// An own property as the evaluator needs it.
#[derive(Clone)]
pub enum Own {
    Absent,
    Data(JsValue),
    /// An accessor, with its getter if it has one.
    Accessor(Option<JsObject>),
}

impl Own {
    /// `o`'s own property `key`, read now (one descriptor built).
    pub fn read(o: &JsObject, key: &PropertyKey) -> Own {
        match o.borrow().properties().get(key) {
            None => Own::Absent,
            Some(d) if d.is_accessor_descriptor() => {
                Own::Accessor(d.get().and_then(JsValue::as_object))
            }
            Some(d) => Own::Data(d.value().cloned().unwrap_or_default()),
        }
    }

    /// The value of a data property; `None` for an accessor or no property.
    pub fn data(self) -> Option<JsValue> {
        match self {
            Own::Data(v) => Some(v),
            Own::Absent | Own::Accessor(_) => None,
        }
    }

    /// The getter of an accessor property.
    pub fn getter(self) -> Option<JsObject> {
        match self {
            Own::Accessor(g) => g,
            Own::Absent | Own::Data(_) => None,
        }
    }
}

#[derive(Default)]
pub struct PropertyMemo {
    state: RefCell<State>,
}

struct Entry {
    object: JsObject,
    key: PropertyKey,
    /// Where `key`'s text lives, taken once: every lookup scans the entries.
    text: Option<TextAddress>,
    own: Own,
}

impl Entry {
    fn is(&self, o: &JsObject, key: &PropertyKey, text: Option<TextAddress>) -> bool {
        JsObject::equals(&self.object, o) && same_key(&self.key, self.text, key, text)
    }
}

/// Where a string key's text lives (see [`TextAddress`]); `None` for a symbol or an index.
fn text_of(key: &PropertyKey) -> Option<TextAddress> {
    match key {
        PropertyKey::String(s) => Some(TextAddress::of(s)),
        _ => None,
    }
}

/// Whether two keys are equal, told by their texts' addresses where those decide it.
fn same_key(
    a: &PropertyKey,
    a_text: Option<TextAddress>,
    b: &PropertyKey,
    b_text: Option<TextAddress>,
) -> bool {
    (a_text.zip(b_text))
        .and_then(|(x, y)| x.same_text(y))
        .unwrap_or_else(|| a == b)
}

#[derive(Default)]
struct State {
    epoch: Option<ScriptEpoch>,
    entries: Vec<Entry>,
    /// Where the next entry goes once the memo is full.
    next: usize,
}

impl PropertyMemo {
    /// Called before an evaluation under `epoch`: forgets what was read under another one.
    pub fn begin(&self, epoch: ScriptEpoch) {
        let mut s = self.state.borrow_mut();
        if s.epoch != Some(epoch) {
            s.epoch = Some(epoch);
            s.entries.clear();
            s.next = 0;
        }
    }

    /// The epoch of the current evaluation (see [`Self::begin`]).
    pub fn epoch(&self) -> Option<ScriptEpoch> {
        self.state.borrow().epoch
    }

    /// `look` applied to `o`'s own property `key`. An absent property is not remembered: finding
    /// that out costs no descriptor. The evaluator converts the property's value where the memo
    /// keeps it: a copy handed out would be one more reference count to take and give back on
    /// every read.
    pub fn with_own<R>(&self, o: &JsObject, key: &PropertyKey, look: impl FnOnce(&Own) -> R) -> R {
        let mut s = self.state.borrow_mut();
        let text = text_of(key);
        if let Some(e) = s.entries.iter().find(|e| e.is(o, key, text)) {
            return look(&e.own);
        }
        let own = Own::read(o, key);
        if matches!(own, Own::Absent) {
            return look(&own);
        }
        let answer = look(&own);
        let entry = Entry {
            object: o.clone(),
            key: key.clone(),
            text,
            own,
        };
        if s.entries.len() < CAPACITY {
            s.entries.push(entry);
        } else {
            let at = s.next;
            s.entries[at] = entry;
            s.next = (at + 1) % CAPACITY;
        }
        answer
    }
}

/// What one property read of a compiled callback (one call site) found last: the object, the
/// key and the value, under an epoch. A site reads the same object request after request (the
/// route a router returns, the table of balancers), so its last answer is nearly always the next
/// one, and checking it compares an epoch and an address where the [`PropertyMemo`] scans. It
/// rests on the memo's rule: an answer found under the current epoch still holds.
#[derive(Default)]
pub struct SiteMemo {
    last: RefCell<Option<SiteAnswer>>,
}

/// The key a site reads, and whether an answer must be checked against it.
#[derive(Clone, Copy)]
pub enum SiteKey<'k> {
    /// `a.b` or a global name: the same key on every evaluation, so it needs no check.
    Fixed(&'k PropertyKey),
    /// `a[b]`: computed per evaluation; an answer holds only for the key it was found for.
    Computed(&'k PropertyKey),
}

impl<'k> SiteKey<'k> {
    pub fn key(self) -> &'k PropertyKey {
        match self {
            SiteKey::Fixed(k) | SiteKey::Computed(k) => k,
        }
    }
}

/// A site's last answer. It keeps one object and one value alive per read in the script's
/// source until that read finds another or the compiled callback is dropped with its script.
struct SiteAnswer {
    epoch: ScriptEpoch,
    /// Kept alive so no other object can take its address while the answer is remembered.
    object: JsObject,
    key: PropertyKey,
    text: Option<TextAddress>,
    value: JsValue,
}

impl SiteMemo {
    /// `look` applied to the value this site found for `o[key]` under `epoch`; `None` when it
    /// has not found one for that object, key and epoch.
    pub fn with<R>(
        &self,
        epoch: ScriptEpoch,
        o: &JsObject,
        key: SiteKey,
        look: impl FnOnce(&JsValue) -> R,
    ) -> Option<R> {
        let last = self.last.borrow();
        let a = last.as_ref()?;
        let same = || match key {
            SiteKey::Fixed(_) => true,
            SiteKey::Computed(k) => same_key(&a.key, a.text, k, text_of(k)),
        };
        let holds = a.epoch == epoch && JsObject::equals(&a.object, o) && same();
        holds.then(|| look(&a.value))
    }

    /// Remembers that `o[key]` is `value` under `epoch`, in place of the site's last answer.
    pub fn remember(&self, epoch: ScriptEpoch, o: &JsObject, key: &PropertyKey, value: JsValue) {
        if let Ok(mut last) = self.last.try_borrow_mut() {
            *last = Some(SiteAnswer {
                epoch,
                object: o.clone(),
                key: key.clone(),
                text: text_of(key),
                value,
            });
        }
    }
}

/// A check on script objects that passed under some epoch: it holds for the rest of that epoch
/// (see the module comment), so it runs once per epoch. A failure is not remembered: the check
/// runs again on the next call, and the caller takes the engine's path meanwhile.
#[derive(Default)]
pub struct EpochCheck {
    passed_in: Cell<Option<ScriptEpoch>>,
}

impl EpochCheck {
    /// Whether `check` holds under `epoch`, running it unless it passed under `epoch` already.
    /// Without an epoch (no evaluation has begun) it runs every time.
    pub fn holds(&self, epoch: Option<ScriptEpoch>, check: impl FnOnce() -> bool) -> bool {
        if epoch.is_some() && self.passed_in.get() == epoch {
            return true;
        }
        let holds = check();
        self.passed_in.set(if holds { epoch } else { None });
        holds
    }
}

#[cfg(test)]
mod tests {
    use super::{EpochCheck, Own, PropertyMemo, SiteKey, SiteMemo};
    use crate::js::runtime::ScriptEpoch;
    use boa_engine::object::JsObject;
    use boa_engine::property::PropertyKey;
    use boa_engine::{Context, JsString, JsValue};

    fn key(text: &str) -> PropertyKey {
        // A new string each time: its text is not where any other key's text is.
        PropertyKey::from(JsString::from(text))
    }

    fn own(memo: &PropertyMemo, o: &JsObject, key: &PropertyKey) -> Own {
        memo.with_own(o, key, Own::clone)
    }

    fn value(own: Own) -> Option<i32> {
        own.data().and_then(|v| v.as_number()).map(|n| n as i32)
    }

    fn object_with(ctx: &mut Context, fields: &[(&str, i32)]) -> JsObject {
        let o = JsObject::with_object_proto(ctx.intrinsics());
        for (name, v) in fields {
            o.set(key(name), JsValue::new(*v), true, ctx)
                .expect("an ordinary object takes a data property");
        }
        o
    }

    #[test]
    fn a_key_is_found_by_its_text_whichever_string_holds_it() {
        let mut ctx = Context::default();
        let o = object_with(&mut ctx, &[("service", 1)]);
        let memo = PropertyMemo::default();
        memo.begin(ScriptEpoch::fresh());
        let first = key("service");
        assert_eq!(value(own(&memo, &o, &first)), Some(1));
        // Changed behind the memo's back (as it never is within an epoch): what it answers
        // now shows whether it remembered or read again.
        o.set(key("service"), JsValue::new(2), true, &mut ctx)
            .expect("set");
        assert_eq!(value(own(&memo, &o, &first.clone())), Some(1), "same text");
        assert_eq!(
            value(own(&memo, &o, &key("service"))),
            Some(1),
            "equal text"
        );
    }

    fn site_answer(site: &SiteMemo, epoch: ScriptEpoch, o: &JsObject, k: SiteKey) -> Option<i32> {
        site.with(epoch, o, k, |v| v.as_number().map(|n| n as i32))
            .flatten()
    }

    #[test]
    fn a_site_answers_for_the_object_key_and_epoch_it_read_only() {
        let mut ctx = Context::default();
        let (o, p) = (object_with(&mut ctx, &[]), object_with(&mut ctx, &[]));
        let (epoch, next) = (ScriptEpoch::fresh(), ScriptEpoch::fresh());
        let service = key("service");

        let named = SiteMemo::default();
        assert_eq!(
            site_answer(&named, epoch, &o, SiteKey::Fixed(&service)),
            None,
            "nothing read yet"
        );
        named.remember(epoch, &o, &service, JsValue::new(1));
        assert_eq!(
            site_answer(&named, epoch, &o, SiteKey::Fixed(&service)),
            Some(1)
        );
        assert_eq!(
            site_answer(&named, epoch, &p, SiteKey::Fixed(&service)),
            None,
            "another object"
        );
        assert_eq!(
            site_answer(&named, next, &o, SiteKey::Fixed(&service)),
            None,
            "another epoch"
        );

        let computed = SiteMemo::default();
        computed.remember(epoch, &o, &service, JsValue::new(2));
        assert_eq!(
            site_answer(&computed, epoch, &o, SiteKey::Computed(&service)),
            Some(2)
        );
        assert_eq!(
            site_answer(&computed, epoch, &o, SiteKey::Computed(&key("service"))),
            Some(2),
            "equal text in another string"
        );
        assert_eq!(
            site_answer(&computed, epoch, &o, SiteKey::Computed(&key("target"))),
            None
        );
        assert_eq!(
            site_answer(&computed, epoch, &o, SiteKey::Computed(&key("servicf"))),
            None,
            "same length"
        );
        computed.remember(epoch, &p, &key("target"), JsValue::new(3));
        assert_eq!(
            site_answer(&computed, epoch, &p, SiteKey::Computed(&key("target"))),
            Some(3)
        );
        assert_eq!(
            site_answer(&computed, epoch, &o, SiteKey::Computed(&service)),
            None,
            "replaced"
        );
    }

    #[test]
    fn an_epoch_check_runs_once_per_epoch_and_again_after_a_failure() {
        let check = EpochCheck::default();
        let runs = std::cell::Cell::new(0);
        let runs = &runs;
        let run = |verdict: bool| {
            move || {
                runs.set(runs.get() + 1);
                verdict
            }
        };
        let (first, second) = (ScriptEpoch::fresh(), ScriptEpoch::fresh());
        assert!(check.holds(Some(first), run(true)));
        assert!(check.holds(Some(first), run(false)), "passed in this epoch");
        assert_eq!(runs.get(), 1);
        assert!(
            !check.holds(Some(second), run(false)),
            "a new epoch checks again"
        );
        assert!(
            !check.holds(Some(second), run(false)),
            "a failure is checked again"
        );
        assert!(check.holds(None, run(true)));
        assert!(!check.holds(None, run(false)), "no epoch, no memory");
        assert_eq!(runs.get(), 5);
    }

    #[test]
    fn keys_of_one_length_are_told_apart() {
        let mut ctx = Context::default();
        let o = object_with(&mut ctx, &[("ab", 1), ("cd", 2)]);
        let memo = PropertyMemo::default();
        memo.begin(ScriptEpoch::fresh());
        for _ in 0..2 {
            assert_eq!(value(own(&memo, &o, &key("ab"))), Some(1));
            assert_eq!(value(own(&memo, &o, &key("cd"))), Some(2));
            assert_eq!(value(own(&memo, &o, &key("ef"))), None);
            assert_eq!(value(own(&memo, &o, &PropertyKey::from(7u32))), None);
        }
    }
}
