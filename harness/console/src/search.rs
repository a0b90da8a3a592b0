//! Searching the input buffer for patterns, incrementally where that is safe.
//!
//! A naive expect engine searches its whole buffer again on every read, which is quadratic in a
//! long boot log. A pattern that cannot match a newline can only match within one line, so after a
//! failed search the next one may start at the beginning of the last, unfinished line. Whether a
//! pattern can match a newline is read from its syntax, parsed as if `.` matched newlines because a
//! `RegexBuilder` may have set that where the pattern text does not show it: a wrong guess only
//! costs speed, never a missed match.

use std::collections::BTreeMap;

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};

/// What the search knows about a pattern from its syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Analysis {
    /// It never matches a newline, so every match lies within one line.
    pub line_local: bool,
    /// A match that ends where the input ends might grow or change with more input (`fw \S+`
    /// seeing `fw 1.2` of `fw 1.2.0`), so it is worth waiting a moment for more.
    pub extendable: bool,
}

impl Analysis {
    /// Analyses a pattern's source text; what cannot be parsed is treated the slow, safe way.
    pub(crate) fn of(pattern: &str) -> Analysis {
        let parsed = regex_syntax::ParserBuilder::new()
            .dot_matches_new_line(true)
            .build()
            .parse(pattern);
        match parsed {
            Ok(hir) => {
                let p = hir.properties();
                let fixed = p.maximum_len().is_some() && p.minimum_len() == p.maximum_len();
                Analysis {
                    line_local: !can_match_newline(&hir),
                    extendable: !(fixed && p.look_set().is_empty()),
                }
            }
            Err(_) => Analysis {
                line_local: false,
                extendable: true,
            },
        }
    }
}

fn can_match_newline(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.contains(&b'\n'),
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= '\n' && '\n' <= r.end()),
        HirKind::Class(Class::Bytes(c)) => c
            .ranges()
            .iter()
            .any(|r| r.start() <= b'\n' && b'\n' <= r.end()),
        HirKind::Repetition(r) => can_match_newline(&r.sub),
        HirKind::Capture(c) => can_match_newline(&c.sub),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => subs.iter().any(can_match_newline),
    }
}

/// One pattern being waited for.
#[derive(Debug)]
pub(crate) struct Matcher<'a> {
    pub re: &'a Regex,
    pub analysis: Analysis,
    /// Absolute offset before which no match can start (known from earlier failed searches).
    resume: u64,
}

impl<'a> Matcher<'a> {
    pub(crate) fn new(re: &'a Regex, analysis: Analysis) -> Self {
        Matcher {
            re,
            analysis,
            resume: 0,
        }
    }
}

/// A match in the input buffer, in absolute offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Which pattern matched.
    pub index: usize,
    pub start: u64,
    pub end: u64,
    pub captures: BTreeMap<String, String>,
}

/// Finds the earliest match of any pattern in `text` (which begins at absolute offset `base`);
/// on a tie the first pattern wins, as in pexpect. Remembers, for the patterns that did not
/// match, where the next search may start.
pub(crate) fn search(text: &str, base: u64, matchers: &mut [Matcher<'_>]) -> Option<Found> {
    let mut best: Option<Found> = None;
    for (index, m) in matchers.iter_mut().enumerate() {
        let from = usize::try_from(m.resume.saturating_sub(base))
            .unwrap_or(text.len())
            .min(text.len());
        let Some(caps) = m.re.captures_at(text, from) else {
            if m.analysis.line_local {
                let line_start = text.rfind('\n').map_or(0, |i| i + 1);
                m.resume = m.resume.max(base + line_start as u64);
            }
            continue;
        };
        let Some(whole) = caps.get(0) else { continue };
        let start = base + whole.start() as u64;
        if best.as_ref().is_some_and(|b| b.start <= start) {
            continue;
        }
        let captures =
            m.re.capture_names()
                .flatten()
                .filter_map(|name| Some((name.to_owned(), caps.name(name)?.as_str().to_owned())))
                .collect();
        best = Some(Found {
            index,
            start,
            end: base + whole.end() as u64,
            captures,
        });
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn re(s: &str) -> Regex {
        Regex::new(s).unwrap()
    }

    #[test]
    fn patterns_are_classified_by_what_they_can_match() {
        let line_local = |p: &str| Analysis::of(p).line_local;
        assert!(line_local(r"boot: fw (?P<fw>\S+)"));
        assert!(line_local(r"temp=\d+(\.\d+)? C|(?m)^ok$"));
        // `.` may match a newline under a builder flag the text does not show.
        assert!(!line_local(r"boot.*ready"));
        assert!(!line_local(r"a\s+b"));
        assert!(!line_local(r"[^x]"));
        assert!(!line_local("line one\nline two"));
        assert!(!line_local(r"(unclosed"));

        let extendable = |p: &str| Analysis::of(p).extendable;
        assert!(!extendable("login: "));
        assert!(extendable(r"fw \S+"));
        assert!(extendable(r"ready\b"));
        assert!(extendable(r"ok|okay"));
    }

    /// Feeds `stream` in chunks of every size and checks the incremental search finds what a full
    /// search of the whole stream finds.
    fn same_as_full_search(pattern: &str, stream: &str) {
        let re = re(pattern);
        let full = re.find(stream).map(|m| (m.start() as u64, m.end() as u64));
        for chunk in 1..=stream.len() {
            let mut m = [Matcher::new(&re, Analysis::of(pattern))];
            let mut seen = 0;
            let mut got = None;
            while got.is_none() && seen < stream.len() {
                seen = (seen + chunk).min(stream.len());
                got = search(&stream[..seen], 0, &mut m).map(|f| (f.start, f.end));
            }
            // The incremental search may see a shorter match earlier (the stream was cut), but it
            // starts where the full search's does.
            assert_eq!(
                got.map(|g| g.0),
                full.map(|f| f.0),
                "{pattern} in chunks of {chunk}"
            );
        }
    }

    #[test]
    fn incremental_search_finds_what_a_full_search_finds() {
        let log = "noise\nboot: fw 1.2.0\nsensor 3 ok\ntemp=21.5 C\nready\n";
        same_as_full_search(r"fw (?P<fw>\S+)", log);
        same_as_full_search(r"temp=\d+\.\d C", log);
        same_as_full_search(r"(?m)^ready$", log);
        same_as_full_search(r"\bok\b", log);
        same_as_full_search(r"fw.*\n.*ok", log);
        same_as_full_search(r"absent", log);
    }

    #[test]
    fn a_builder_flag_the_pattern_text_hides_does_not_hide_matches() {
        let r = regex::RegexBuilder::new("start.end")
            .dot_matches_new_line(true)
            .build()
            .unwrap();
        let mut m = [Matcher::new(&r, Analysis::of(r.as_str()))];
        assert!(search("noise\nstart", 0, &mut m).is_none());
        let found = search("noise\nstart\nend", 0, &mut m).unwrap();
        assert_eq!((found.start, found.end), (6, 15));
    }

    #[test]
    fn the_earliest_match_wins_and_ties_go_to_the_first_pattern() {
        let (a, b, c) = (re("ready"), re(r"err\w*"), re("error"));
        let mut m = [
            Matcher::new(&a, Analysis::of("ready")),
            Matcher::new(&b, Analysis::of(r"err\w*")),
            Matcher::new(&c, Analysis::of("error")),
        ];
        let found = search("boot error 5\nready", 100, &mut m).unwrap();
        assert_eq!((found.index, found.start, found.end), (1, 105, 110));
    }

    #[test]
    fn named_captures_are_collected_and_unmatched_groups_left_out() {
        let r = re(r"fw (?P<fw>\S+)(?: \((?P<build>\d+)\))?");
        let mut m = [Matcher::new(&r, Analysis::of(r.as_str()))];
        let found = search("fw 2.1.0\r\n", 0, &mut m).unwrap();
        assert_eq!(
            found.captures,
            BTreeMap::from([("fw".to_owned(), "2.1.0".to_owned())])
        );
    }
}
