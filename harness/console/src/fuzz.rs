//! The expect engine's input path as a session runs it, for the fuzz target `console_expect`
//! (`fuzz/`): bytes from a device arrive in reads of any size, are decoded, buffered within a
//! limit, searched for patterns incrementally, consumed up to each match, and kept in the
//! transcript. Not an API.
//!
//! Besides "no panic, no hang", each search is checked against a fresh search of the same text:
//! the incremental search skips text earlier searches ruled out, and a wrong skip would miss a
//! match silently (an expect that times out on a device that answered).

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use regex::{Regex, RegexBuilder};

use crate::input::Input;
use crate::search::{Analysis, Matcher, search};
use crate::transcript::{Direction, Transcript};

/// At most this many patterns per expect, as a scenario's `console.expect` with alternatives.
const PATTERNS: usize = 3;

/// `pattern` compiled, from a cache: the fuzzer mostly mutates the input and keeps the patterns,
/// and compiling a Unicode class costs more than the rest of a run. `None` for a pattern the
/// engine would refuse at check time, which never reaches it.
fn compiled(pattern: &str) -> Option<Regex> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() > 4096 {
            cache.clear();
        }
        cache
            .entry(pattern.to_owned())
            .or_insert_with(|| RegexBuilder::new(pattern).size_limit(1 << 16).build().ok())
            .clone()
    })
}

/// Runs `data` through the input path. Layout: one byte for the buffer limit; up to
/// [`PATTERNS`] patterns, each a length byte and that many bytes (a length of 0 ends the list);
/// then reads, each a length byte and that many bytes (a length of 0 gives up on a half
/// character, as when the port is reopened).
///
/// # Panics
/// When the incremental search disagrees with a fresh one, or a match lies outside the input:
/// those are the findings.
#[doc(hidden)]
pub fn fuzz_expect(data: &[u8]) {
    let Some((&limit, mut rest)) = data.split_first() else {
        return;
    };
    let limit = 16 + 4 * usize::from(limit);
    let mut patterns = Vec::new();
    while patterns.len() < PATTERNS {
        let Some((&len, after)) = rest.split_first() else {
            break;
        };
        rest = after;
        if len == 0 {
            break;
        }
        let take = usize::from(len % 48).min(rest.len());
        let (text, after) = rest.split_at(take);
        rest = after;
        if let Some(re) = compiled(&String::from_utf8_lossy(text)) {
            patterns.push(re);
        }
    }
    if patterns.is_empty() {
        return;
    }
    let mut input = Input::new(limit);
    let mut transcript = Transcript::new(limit * 4);
    let analyses: Vec<Analysis> = patterns
        .iter()
        .map(|re| Analysis::of(re.as_str()))
        .collect();
    let fresh = || -> Vec<Matcher<'_>> {
        patterns
            .iter()
            .zip(&analyses)
            .map(|(re, a)| Matcher::new(re, *a))
            .collect()
    };
    let mut matchers = fresh();
    let mut at = Duration::ZERO;
    while let Some((&len, after)) = rest.split_first() {
        at += Duration::from_millis(1);
        if len == 0 {
            input.flush_partial(at);
            rest = after;
        } else {
            let take = usize::from(len).min(after.len());
            let (read, after) = after.split_at(take);
            rest = after;
            transcript.record(at, Direction::Received, read);
            let dropped = input.push(read, at);
            if dropped > 0 {
                transcript.event(at, "input dropped");
            }
        }
        let found = search(input.pending(), input.start(), &mut matchers);
        let expected = search(input.pending(), input.start(), &mut fresh());
        assert_eq!(
            found.as_ref().map(|f| (f.index, f.start)),
            expected.as_ref().map(|f| (f.index, f.start)),
            "the incremental search of {patterns:?} disagrees with a fresh one on {:?}",
            input.pending()
        );
        if let Some(found) = found {
            assert!(found.start >= input.start() && found.end <= input.end());
            assert!(found.start <= found.end);
            let _ = input.arrived_at(found.end);
            input.consume_to(found.end);
            // The next expect starts afresh, as the session's does.
            matchers = fresh();
        }
        let _ = input.tail();
    }
    let _ = transcript.to_text();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout the fuzz corpus is seeded with: a boot log read in pieces, two patterns.
    #[test]
    fn a_seed_runs_clean() {
        let mut data = vec![200u8];
        for p in [r"boot: fw (?P<fw>\S+)", r"(?m)^ready$"] {
            data.push(u8::try_from(p.len()).unwrap_or(0));
            data.extend_from_slice(p.as_bytes());
        }
        data.push(0);
        for read in [
            &b"noise\nboot: f"[..],
            b"w 2.1.0\r\nsens",
            b"\xe2\x82",
            b"or ok\nready\n",
        ] {
            data.push(u8::try_from(read.len()).unwrap_or(0));
            data.extend_from_slice(read);
        }
        fuzz_expect(&data);
    }
}
