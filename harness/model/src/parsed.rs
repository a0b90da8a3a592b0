//! Text a file gives that the harness must parse before it can use it (a regular expression, an
//! arithmetic expression, a public key, a version), parsed once.
//!
//! `rigor check` binds every scenario on every slot it fits, and a run uses a pattern or an
//! expression at every step that names it, so text parsed wherever it was used was parsed tens of
//! thousands of times. A [`Parsed`] value is parsed the first time it is asked for (when its file
//! is checked at load, so a bad value is an error there, with its file, line and column) and every
//! copy of it (the bound plans of every slot, the engine) shares that one parsed value. The text
//! as written stays beside it: files and records show that, and equality compares it.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A kind of text and how to parse it.
pub trait Kind {
    /// What the text parses into.
    type Value: Send + Sync;
    /// Why it does not.
    type Error: Send + Sync;
    /// Parses `text`.
    fn parse(text: &str) -> Result<Self::Value, Self::Error>;
}

/// Text of kind `K`, parsed when first asked for; every clone shares the parse.
pub struct Parsed<K: Kind> {
    text: String,
    parsed: Arc<OnceLock<Result<K::Value, K::Error>>>,
    kind: PhantomData<fn() -> K>,
}

impl<K: Kind> Parsed<K> {
    /// The text as written; parsed when first used.
    pub fn new(text: impl Into<String>) -> Self {
        Parsed {
            text: text.into(),
            parsed: Arc::new(OnceLock::new()),
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
