//! Regular expressions of the files, compiled once ([`crate::parsed`]): a pattern searched for
//! in console output, and one a whole value must match (a text limit's `matches`, a prompt's
//! answer, a station's label).

use regex::Regex;

use crate::parsed::{Kind, Parsed};

/// A regular expression searched for in text (a console pattern, an identity query), compiled
/// once; its named groups name what it captures.
pub type Pattern = Parsed<Search>;

/// A pattern the whole value must match (anchored at both ends when compiled).
pub type WholeMatch = Parsed<Whole>;

/// A regular expression as written, matching anywhere in the text.
pub struct Search;

impl Kind for Search {
    type Value = Regex;
    type Error = regex::Error;
    fn parse(text: &str) -> Result<Regex, regex::Error> {
        Regex::new(text)
    }
}

/// A regular expression the whole text must match.
pub struct Whole;

impl Kind for Whole {
    type Value = Regex;
    type Error = regex::Error;
    fn parse(text: &str) -> Result<Regex, regex::Error> {
        Regex::new(&format!("^(?:{text})$"))
            // The error of the pattern as written: its positions are the writer's.
            .map_err(|anchored| Regex::new(text).err().unwrap_or(anchored))
    }
}

impl Pattern {
    /// The compiled regex, or why the pattern does not compile.
    pub fn regex(&self) -> Result<&Regex, &regex::Error> {
        self.parsed()
    }

    /// Whether the pattern waits for `${...}` variables, substituted when a scenario is bound:
    /// such a pattern is compiled then, not at load.
    pub fn has_variables(&self) -> bool {
        self.as_str().contains("${")
    }
}

impl WholeMatch {
    /// The compiled, anchored regex, or why the pattern as written does not compile.
    pub fn regex(&self) -> Result<&Regex, &regex::Error> {
        self.parsed()
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
