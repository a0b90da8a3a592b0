//! The input buffer: what the device sent that no match has consumed yet.
//!
//! Bytes are decoded as they arrive, lossily: garbage and broken UTF-8 become U+FFFD and can
//! never wedge a match (the transcript keeps the raw bytes). A multi-byte character split across
//! two reads is held back until its end arrives, so the split does not turn it into garbage.
//! Offsets are absolute positions in the decoded stream, so a search can resume where the last
//! one stopped even after input before it was consumed or dropped.

use std::collections::VecDeque;
use std::time::Duration;

/// How many characters of recent output a timeout reports.
pub(crate) const TAIL_CHARS: usize = 200;

/// Consumed text is moved out only once it is this large and half the buffer, so consuming a line
/// at a time stays cheap with a large backlog behind it.
const COMPACT_AT: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Input {
    /// Decoded text; `text[head..]` is not consumed yet.
    text: String,
    head: usize,
    /// Absolute offset of `text[0]`.
    base: u64,
    /// The start of a character whose remaining bytes have not arrived yet.
    partial: Vec<u8>,
    /// Absolute end offset of each arrival and when it came, oldest first.
    arrivals: VecDeque<(u64, Duration)>,
    last_arrival: Option<Duration>,
    limit: usize,
    /// The last output, consumed or not, for failure messages.
    recent: String,
}

impl Input {
    /// A buffer that keeps at most `limit` bytes of unconsumed text.
    pub(crate) fn new(limit: usize) -> Self {
        Input {
            text: String::new(),
            head: 0,
            base: 0,
            partial: Vec::new(),
            arrivals: VecDeque::new(),
            last_arrival: None,
            limit: limit.max(1),
            recent: String::new(),
        }
    }

    /// Adds bytes that arrived at `at`. Returns how many bytes of the oldest unconsumed text were
    /// dropped to stay within the limit.
    pub(crate) fn push(&mut self, bytes: &[u8], at: Duration) -> usize {
        self.partial.extend_from_slice(bytes);
        let keep = incomplete_tail(&self.partial);
        let done = self.partial.len() - keep;
        let decoded = String::from_utf8_lossy(&self.partial[..done]).into_owned();
        self.partial.drain(..done);
        self.append(&decoded, at)
    }

    /// Gives up on a character that will never be completed (the port was reopened).
    pub(crate) fn flush_partial(&mut self, at: Duration) {
        if !self.partial.is_empty() {
            let decoded = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            self.append(&decoded, at);
        }
    }

    fn append(&mut self, decoded: &str, at: Duration) -> usize {
        self.last_arrival = Some(at);
        if decoded.is_empty() {
            return 0;
        }
        self.text.push_str(decoded);
        self.arrivals.push_back((self.end(), at));
        self.remember(decoded);
        let pending = self.text.len() - self.head;
        if pending <= self.limit {
            return 0;
        }
        // Drop to three quarters, not just to the limit, so a flood is noted once per a few
        // hundred KiB rather than once per read.
        let mut cut = self.text.len() - self.limit / 4 * 3;
        while !self.text.is_char_boundary(cut) {
            cut += 1;
        }
        let dropped = cut - self.head;
        self.consume_to(self.base + cut as u64);
        dropped
    }

    fn remember(&mut self, decoded: &str) {
        self.recent.push_str(decoded);
        if self.recent.len() > TAIL_CHARS * 16 {
            let mut cut = self.recent.len() - TAIL_CHARS * 4;
            while !self.recent.is_char_boundary(cut) {
                cut += 1;
            }
            self.recent.drain(..cut);
        }
    }

    /// The unconsumed text.
    pub(crate) fn pending(&self) -> &str {
        &self.text[self.head..]
    }

    /// Absolute offset of the first unconsumed character.
    pub(crate) fn start(&self) -> u64 {
        self.base + self.head as u64
    }

    /// Absolute offset just past the last decoded character.
    pub(crate) fn end(&self) -> u64 {
        self.base + self.text.len() as u64
    }

    /// When the last bytes arrived, if any did.
    pub(crate) fn last_arrival(&self) -> Option<Duration> {
        self.last_arrival
    }

    /// Consumes everything before absolute offset `to`.
    pub(crate) fn consume_to(&mut self, to: u64) {
        let to = to.clamp(self.start(), self.end());
        self.head = usize::try_from(to - self.base).unwrap_or(self.text.len());
        let start = self.start();
        while self.arrivals.front().is_some_and(|(end, _)| *end < start) {
            self.arrivals.pop_front();
        }
        if self.head >= COMPACT_AT && self.head * 2 >= self.text.len() {
            self.text.drain(..self.head);
            self.base += self.head as u64;
            self.head = 0;
        }
    }

    /// Consumes and returns everything unconsumed.
    pub(crate) fn take_all(&mut self) -> String {
        let all = self.pending().to_owned();
        self.consume_to(self.end());
        all
    }

    /// When the character ending at absolute offset `end` arrived.
    pub(crate) fn arrived_at(&self, end: u64) -> Option<Duration> {
        let i = self.arrivals.partition_point(|(e, _)| *e < end);
        self.arrivals.get(i).map(|(_, at)| *at)
    }

    /// The last [`TAIL_CHARS`] characters received, consumed or not.
    pub(crate) fn tail(&self) -> &str {
        match self.recent.char_indices().rev().nth(TAIL_CHARS - 1) {
            Some((i, _)) => &self.recent[i..],
            None => &self.recent,
        }
    }
}

/// The length of a UTF-8 sequence at the end of `bytes` that is valid so far but incomplete.
fn incomplete_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let lead = bytes[bytes.len() - back];
        if lead & 0xC0 == 0x80 {
            continue;
        }
        let need = match lead {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        let tail = &bytes[bytes.len() - back..];
        let incomplete = matches!(std::str::from_utf8(tail), Err(e) if e.error_len().is_none());
        return if back < need && incomplete { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::ZERO;

    #[test]
    fn a_character_split_across_reads_is_joined_and_garbage_is_replaced() {
        let mut input = Input::new(1024);
        input.push(b"\xff\x00 temp: 4 \xc2", T);
        assert_eq!(input.pending(), "\u{fffd}\0 temp: 4 ");
        input.push(b"\xb0C \xe2\x82", T);
        assert_eq!(input.pending(), "\u{fffd}\0 temp: 4 °C ");
        // A sequence that cannot be completed any more is garbage, not a wedge.
        input.push(b"x", T);
        assert_eq!(input.pending(), "\u{fffd}\0 temp: 4 °C \u{fffd}x");
    }

    #[test]
    fn flush_partial_gives_up_on_a_half_character() {
        let mut input = Input::new(1024);
        input.push(b"ok \xe2\x82", T);
        input.flush_partial(T);
        assert_eq!(input.pending(), "ok \u{fffd}");
    }

    #[test]
    fn consuming_keeps_the_rest_and_the_arrival_times() {
        let mut input = Input::new(1024);
        input.push(b"boot: fw 1.2.0\r\n", Duration::from_millis(10));
        input.push(b"ready\r\n", Duration::from_millis(20));
        let ready = input.start() + input.pending().find("ready").unwrap() as u64;
        input.consume_to(ready);
        assert_eq!(input.pending(), "ready\r\n");
        assert_eq!(input.arrived_at(ready + 5), Some(Duration::from_millis(20)));
        assert_eq!(input.take_all(), "ready\r\n");
        assert_eq!(input.pending(), "");
        assert_eq!(input.tail(), "boot: fw 1.2.0\r\nready\r\n");
    }

    #[test]
    fn a_flood_drops_the_oldest_input_and_says_how_much() {
        let mut input = Input::new(1000);
        assert_eq!(input.push(&[b'a'; 900], T), 0);
        let dropped = input.push(&[b'b'; 300], T);
        assert_eq!(dropped, 1200 - 750);
        assert_eq!(input.pending().len(), 750);
        assert!(input.pending().ends_with(&"b".repeat(300)));
        assert_eq!(input.tail().len(), TAIL_CHARS);
    }

    #[test]
    fn large_backlogs_are_compacted_without_losing_offsets() {
        let mut input = Input::new(1 << 20);
        let line = "x".repeat(99) + "\n";
        for _ in 0..2000 {
            input.push(line.as_bytes(), T);
        }
        let mut consumed = 0u64;
        for _ in 0..1500 {
            consumed += 100;
            input.consume_to(consumed);
        }
        assert_eq!(input.start(), 150_000);
        assert_eq!(input.pending().len(), 50_000);
        assert!(input.text.len() < 200_000, "consumed text was moved out");
    }
}
