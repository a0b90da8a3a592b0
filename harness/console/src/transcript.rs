//! The transcript: every byte in both directions and every event on the port, timed from the
//! start of the session, kept as raw bytes and exportable as text for a run's artifacts.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::time::Duration;

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the device.
    Received,
    /// To the device.
    Sent,
    /// Something rigor noted about the port (vanished, reopened, baud changed, input dropped);
    /// the bytes are the note's text.
    Event,
}

impl Direction {
    fn mark(self) -> char {
        match self {
            Direction::Received => '<',
            Direction::Sent => '>',
            Direction::Event => '!',
        }
    }
}

/// One read, one write or one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptEntry {
    /// Time since the session started (monotonic).
    pub at: Duration,
    /// Which way.
    pub direction: Direction,
    /// The raw bytes, exactly as they crossed the port.
    pub bytes: Vec<u8>,
}

/// The session's transcript.
///
/// Bounded: past its limit the oldest entries go (a day of burn-in on a chatty console must not
/// eat the station's memory), and the text export says how much is missing.
#[derive(Debug, Clone)]
pub struct Transcript {
    entries: VecDeque<TranscriptEntry>,
    bytes: usize,
    dropped: u64,
    limit: usize,
}

impl Transcript {
    pub(crate) fn new(limit: usize) -> Self {
        Transcript {
            entries: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            limit: limit.max(1),
        }
    }

    pub(crate) fn record(&mut self, at: Duration, direction: Direction, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.bytes += bytes.len();
        self.entries.push_back(TranscriptEntry {
            at,
            direction,
            bytes: bytes.to_vec(),
        });
        if self.bytes > self.limit {
            while self.bytes > self.limit / 4 * 3 {
                let Some(old) = self.entries.pop_front() else {
                    break;
                };
                self.bytes -= old.bytes.len();
                self.dropped += old.bytes.len() as u64;
            }
        }
    }

    pub(crate) fn event(&mut self, at: Duration, text: &str) {
        self.record(at, Direction::Event, text.as_bytes());
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &TranscriptEntry> {
        self.entries.iter()
    }

    /// Every byte received that is still in the transcript, in order.
    pub fn received(&self) -> Vec<u8> {
        self.bytes_of(Direction::Received)
    }

    /// Every byte sent that is still in the transcript, in order.
    pub fn sent(&self) -> Vec<u8> {
        self.bytes_of(Direction::Sent)
    }

    /// The events' texts, in order.
    pub fn events(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|e| e.direction == Direction::Event)
            .map(|e| String::from_utf8_lossy(&e.bytes).into_owned())
            .collect()
    }

    /// How many bytes of the oldest entries were dropped to stay within the limit.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped
    }

    fn bytes_of(&self, direction: Direction) -> Vec<u8> {
        self.entries
            .iter()
            .filter(|e| e.direction == direction)
            .flat_map(|e| e.bytes.iter().copied())
            .collect()
    }

    /// The transcript as text, a line per line of output: `[   1.234] < boot: fw 1.2.0`.
    ///
    /// `<` is received, `>` sent, `!` an event. Each line is timed by the read that brought its
    /// first byte; a line interrupted by the other direction continues on a new line. Line ends
    /// are dropped; other control bytes and invalid UTF-8 are shown escaped (`\x00`, `\xff`).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if self.dropped > 0 {
            let _ = writeln!(
                out,
                "[{:>8}] ! {} bytes of earlier transcript dropped",
                "", self.dropped
            );
        }
        let mut line = Line::default();
        for e in &self.entries {
            if e.direction == Direction::Event {
                line.flush(&mut out);
                let _ = writeln!(out, "{} ! {}", stamp(e.at), escape(&e.bytes));
                continue;
            }
            if line.direction != Some(e.direction) {
                line.flush(&mut out);
            }
            for &b in &e.bytes {
                if line.bytes.is_empty() {
                    line.at = e.at;
                    line.direction = Some(e.direction);
                }
                line.bytes.push(b);
                if b == b'\n' {
                    line.flush(&mut out);
                }
            }
        }
        line.flush(&mut out);
        out
    }
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

#[derive(Default)]
struct Line {
    at: Duration,
    direction: Option<Direction>,
    bytes: Vec<u8>,
}

impl Line {
    fn flush(&mut self, out: &mut String) {
        let Some(direction) = self.direction.take() else {
            return;
        };
        let mut bytes = self.bytes.as_slice();
        bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let _ = writeln!(
            out,
            "{} {} {}",
            stamp(self.at),
            direction.mark(),
            escape(bytes)
        );
        self.bytes.clear();
    }
}

fn stamp(at: Duration) -> String {
    format!("[{:>8.3}]", at.as_secs_f64())
}

/// Text with control characters and invalid UTF-8 made visible.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\t' => out.push(c),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn text_has_a_line_per_line_timed_by_its_first_byte() {
        let mut t = Transcript::new(1 << 20);
        t.record(ms(1234), Direction::Received, b"boot: fw ");
        t.record(ms(1240), Direction::Received, b"1.2.0\r\nfridge> ");
        t.record(ms(2000), Direction::Sent, b"version\r\n");
        t.record(ms(2001), Direction::Received, b"\xff\x00noise\x1b[0m\r\n");
        t.event(ms(3000), "/dev/ttyUSB0 vanished: broken pipe");
        let lines = [
            "[   1.234] < boot: fw 1.2.0",
            "[   1.240] < fridge> ",
            "[   2.000] > version",
            "[   2.001] < \\xff\\x00noise\\x1b[0m",
            "[   3.000] ! /dev/ttyUSB0 vanished: broken pipe",
        ];
        assert_eq!(t.to_text(), lines.map(|l| l.to_owned() + "\n").concat());
        assert_eq!(t.sent(), b"version\r\n");
        assert_eq!(t.events(), ["/dev/ttyUSB0 vanished: broken pipe"]);
    }

    #[test]
    fn past_its_limit_the_oldest_entries_go_and_the_text_says_so() {
        let mut t = Transcript::new(100);
        for i in 0..30 {
            t.record(ms(i), Direction::Received, b"0123456789\n");
        }
        assert!(t.dropped_bytes() > 0);
        assert!(t.received().len() <= 100);
        let text = t.to_text();
        assert!(
            text.starts_with(&format!(
                "[        ] ! {} bytes of earlier transcript dropped\n",
                t.dropped_bytes()
            )),
            "{text}"
        );
    }
}
