//! Text a file gives that the harness must parse before it can use it (a regular expression, an
//! arithmetic expression, a public key, a version), parsed once.
//!
//! `rigor check` binds every scenario on every slot it fits, and a run uses a pattern or an
//! expression at every step that names it, so text parsed wherever it was used was parsed tens of
//! thousands of times. A [`Parsed`] value is parsed the first time it is asked for (when its file
//! is checked at load, so a bad value is an error there, with its file, line and column) and every
//! copy of it (the bound plans of every slot, the engine) shares that one parsed value. The text
//! as written stays beside it: files and records show that, and equality compares it.
//!
//! Within a [`SharedParses`] table (a load, a check), values made with the same text share one
//! parse too, so a thousand scenarios written from one template compile each pattern once.

use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A kind of text and how to parse it.
pub trait Kind: 'static {
    /// What the text parses into.
    type Value: Send + Sync + 'static;
    /// Why it does not.
    type Error: Send + Sync + 'static;
    /// Parses `text`.
    fn parse(text: &str) -> Result<Self::Value, Self::Error>;
}

/// Text of kind `K`, parsed when first asked for; every clone shares the parse.
pub struct Parsed<K: Kind> {
    text: String,
    parsed: Arc<Cell<K>>,
    kind: PhantomData<fn() -> K>,
}

/// The cell a parse of kind `K` is kept in.
type Cell<K> = OnceLock<Result<<K as Kind>::Value, <K as Kind>::Error>>;

impl<K: Kind> Parsed<K> {
    /// The text as written; parsed when first used (once per text within the [`SharedParses`]
    /// table in force on this thread, if any).
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let shared = CURRENT.with(|c| c.borrow().as_ref().map(|t| t.cell::<K>(&text)));
        Parsed {
            parsed: shared.unwrap_or_default(),
            text,
            kind: PhantomData,
        }
    }

    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed value, or why the text does not parse.
    pub fn parsed(&self) -> Result<&K::Value, &K::Error> {
        self.parsed.get_or_init(|| K::parse(&self.text)).as_ref()
    }

    /// Whether `self` and `other` share one parse (one is a copy of the other).
    pub fn shares_parse_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.parsed, &other.parsed)
    }
}

/// Parses shared by text: while a table is in force on a thread ([`SharedParses::enter`]), every
/// [`Parsed`] made there with a text another one was made with shares that one's parse.
///
/// A check of a thousand scenarios written from one template meets each pattern a thousand
/// times; with a table for the check, each distinct text is parsed once. The table lives as long
/// as the check that made it, not the process, so nothing piles up in a long-running station.
#[derive(Default)]
pub struct SharedParses {
    /// Kind → text → its [`Cell`].
    table: Mutex<HashMap<TypeId, HashMap<Box<str>, AnyCell>>>,
}

/// A [`Cell`] of some kind.
type AnyCell = Arc<dyn Any + Send + Sync>;

thread_local! {
    static CURRENT: RefCell<Option<Arc<SharedParses>>> = const { RefCell::new(None) };
}

impl SharedParses {
    /// An empty table.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Runs `f` with this table in force on the current thread (restoring whatever was in force
    /// before, also if `f` panics). Work spread over threads enters the table on each.
    pub fn enter<R>(self: &Arc<Self>, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Arc<SharedParses>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = self.0.take();
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace(Some(self.clone()))));
        f()
    }

    /// The parse cell of `text` as kind `K`, made on first asking.
    fn cell<K: Kind>(&self, text: &str) -> Arc<Cell<K>> {
        // A panic while the lock was held left the table consistent: it only ever inserts.
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let by_text = table.entry(TypeId::of::<K>()).or_default();
        if let Some(cell) = by_text.get(text)
            && let Ok(cell) = cell.clone().downcast::<Cell<K>>()
        {
            return cell;
        }
        let cell: Arc<Cell<K>> = Arc::new(OnceLock::new());
        by_text.insert(text.into(), cell.clone());
        cell
    }
}

impl<K: Kind> Clone for Parsed<K> {
    fn clone(&self) -> Self {
        Parsed {
            text: self.text.clone(),
            parsed: self.parsed.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: Kind> std::fmt::Debug for Parsed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text.fmt(f)
    }
}

impl<K: Kind> std::fmt::Display for Parsed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl<K: Kind> PartialEq for Parsed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<K: Kind> Serialize for Parsed<K> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

// Deserializing keeps the text only: a value that does not parse is reported by the load's
// checks, with its file, line, column and a message of rigor's, not serde's.
impl<'de, K: Kind> Deserialize<'de> for Parsed<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Parsed::new)
    }
}

impl<K: Kind> JsonSchema for Parsed<K> {
    fn schema_name() -> Cow<'static, str> {
        String::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{Pattern, WholeMatch};

    #[test]
    fn one_table_parses_each_text_once_per_kind() {
        let table = SharedParses::new();
        let (a, b, whole, other) = table.enter(|| {
            (
                Pattern::new("temp (?P<raw>\\d+)"),
                Pattern::new("temp (?P<raw>\\d+)"),
                WholeMatch::new("temp (?P<raw>\\d+)"),
                Pattern::new("light: (on|off)"),
            )
        });
        assert!(a.shares_parse_with(&b));
        assert!(!a.shares_parse_with(&other));
        // Same text, other kind: anchored, so a parse of its own.
        assert!(whole.regex().is_ok_and(|r| r.as_str().starts_with('^')));
        assert!(a.regex().is_ok_and(|r| !r.as_str().starts_with('^')));
    }

    #[test]
    fn outside_a_table_each_value_parses_on_its_own() {
        let table = SharedParses::new();
        table.enter(|| {});
        let (a, b) = (Pattern::new("x+"), Pattern::new("x+"));
        assert!(!a.shares_parse_with(&b), "the table is no longer in force");
    }
}
