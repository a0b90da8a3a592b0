//! Every event as one JSON object per line (`--format json`), for scripts and station software.

use std::io::Write;

use rigor_runner::event::{Event, Subscriber, SubscriberError};

/// Writes events as JSON lines to a writer (stdout by default).
pub struct JsonLines<W: Write + Send> {
    out: W,
    error: Option<std::io::Error>,
}

impl<W: Write + Send> JsonLines<W> {
    /// Lines go to `out`.
    pub fn new(out: W) -> Self {
        Self { out, error: None }
    }
}

impl<W: Write + Send> Subscriber for JsonLines<W> {
    fn on_event(&mut self, event: &Event) {
        if self.error.is_some() {
            return;
        }
        let line = serde_json::to_string(event).map_err(std::io::Error::other);
        if let Err(e) = line.and_then(|l| writeln!(self.out, "{l}")) {
            self.error = Some(e);
        }
    }

    fn finish(&mut self) -> Result<(), SubscriberError> {
        let what = "writing JSON lines".to_owned();
        if let Some(source) = self.error.take() {
            return Err(SubscriberError { what, source });
        }
        self.out
            .flush()
            .map_err(|source| SubscriberError { what, source })
    }
}
