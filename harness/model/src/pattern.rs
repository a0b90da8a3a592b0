//! A regular expression a whole value must match (a text limit's `matches`), compiled once.
//!
//! `rigor check` binds every scenario on every slot it fits, and a run judges every value, so a
//! pattern compiled wherever it was used was compiled tens of thousands of times. A
//! [`WholeMatch`] is compiled the first time it is asked for (when the scenario is checked at
//! load) and every copy of it (the bound plans of every slot, the engine's judgement) shares that
//! one compiled regex.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A pattern the whole value must match (anchored at both ends when compiled).
#[derive(Clone)]
pub struct WholeMatch {
    text: String,
    /// The anchored regex, or the error of the pattern as written; shared by every clone.
    compiled: Arc<OnceLock<Result<Regex, regex::Error>>>,
}

impl WholeMatch {
    /// The pattern `text`; compiled when first used.
    pub fn new(text: impl Into<String>) -> Self {
        WholeMatch {
            text: text.into(),
            compiled: Arc::new(OnceLock::new()),
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The compiled, anchored regex, or why the pattern as written does not compile.
    pub fn regex(&self) -> Result<&Regex, &regex::Error> {
        self.compiled
            .get_or_init(|| {
                Regex::new(&format!("^(?:{})$", self.text))
                    // The error of the pattern as written: its positions are the writer's.
                    .map_err(|anchored| Regex::new(&self.text).err().unwrap_or(anchored))
            })
            .as_ref()
    }
}

impl std::fmt::Debug for WholeMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.text.fmt(f)
    }
}

impl std::fmt::Display for WholeMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for WholeMatch {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for WholeMatch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for WholeMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(WholeMatch::new)
    }
}

impl JsonSchema for WholeMatch {
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
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_copy_shares_one_compiled_regex() {
        let p = WholeMatch::new(r"FC\d-\d{6}");
        let copy = p.clone();
        let a: *const Regex = p.regex().unwrap();
        let b: *const Regex = copy.regex().unwrap();
        assert_eq!(a, b);
        assert!(p.regex().unwrap().is_match("FC2-000201"));
        assert!(!p.regex().unwrap().is_match("xFC2-000201"));
    }

    #[test]
    fn an_invalid_pattern_reports_the_error_of_the_pattern_as_written() {
        // Anchored, the group would open at column 5: the message points where the writer wrote it.
        let written = String::from("(a");
        let p = WholeMatch::new(written.clone());
        assert_eq!(
            p.regex().unwrap_err().to_string(),
            Regex::new(&written).unwrap_err().to_string()
        );
    }
}
