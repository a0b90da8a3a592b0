//! Where a run's events go. The engine hands every event to [`Sinks`] and goes on at once; one
//! writer thread takes whatever all slots have sent meanwhile, records it in one commit (group
//! commit: a commit is most of a record's cost), and only then hands the events to the
//! subscribers. So nothing a person or CI was shown can be missing from the store after a crash,
//! and no slot waits for the disk.
//!
//! A run's start is the one entry the engine waits for: its attempt number comes from the store.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use tokio::sync::oneshot;

use crate::event::{Event, RunInfo, Subscriber, SubscriberError};
use crate::recorder::{Entry, RecordError, Recorder};

/// The most entries in one group: bounds a commit's size and the time before subscribers hear.
const GROUP_LIMIT: usize = 4096;

/// How long the writer gathers entries after the first of a group before it commits them.
const GATHER: std::time::Duration = std::time::Duration::from_micros(500);

enum Message {
    Begin(Arc<RunInfo>, oneshot::Sender<Result<u32, RecordError>>),
    Event(Event),
    /// Answered once everything sent before it is recorded and delivered.
    Flush(oneshot::Sender<()>),
    /// As `Flush`, then the subscribers write their outputs.
    Finish(oneshot::Sender<Vec<SubscriberError>>),
}

/// The engine's side of the writer thread; cheap to clone, one per slot's run. The thread ends
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Sinks {
    to_writer: mpsc::Sender<Message>,
    failure: Arc<OnceLock<RecordError>>,
}

impl Sinks {
    /// Starts the writer thread with a recorder and the subscribers it feeds.
    pub fn new(recorder: Box<dyn Recorder>, subscribers: Vec<Box<dyn Subscriber>>) -> Self {
        let (to_writer, from_engine) = mpsc::channel();
        let failure = Arc::new(OnceLock::new());
        let writer = Writer {
            recorder,
            subscribers,
            failure: failure.clone(),
        };
        // If the thread cannot start, every send fails and every run stops as unrecordable.
        let _ = std::thread::Builder::new()
            .name("rigor-recorder".into())
            .spawn(move || writer.serve(from_engine));
        Sinks { to_writer, failure }
    }

    /// Records a run's start and returns its attempt number, once it is durable.
    pub async fn begin(&self, run: Arc<RunInfo>) -> Result<u32, RecordError> {
        let (reply, answer) = oneshot::channel();
        self.to_writer
            .send(Message::Begin(run, reply))
            .map_err(|_| RecordError::Stopped)?;
        answer.await.map_err(|_| RecordError::Stopped)?
    }

    /// Hands an event over; never waits. Whether it was recorded shows in [`Sinks::failure`].
    pub fn emit(&self, event: Event) {
        if self.to_writer.send(Message::Event(event)).is_err() {
            let _ = self.failure.set(RecordError::Stopped);
        }
    }

    /// The first recording failure, if any: from then on nothing more is recorded, and runs stop.
    pub fn failure(&self) -> Option<RecordError> {
        self.failure.get().cloned()
    }

    /// Waits until everything emitted so far is recorded (or has failed) and delivered.
    pub async fn flush(&self) {
        let (reply, answer) = oneshot::channel();
        if self.to_writer.send(Message::Flush(reply)).is_ok() {
            let _ = answer.await;
        }
    }

    /// Flushes, then lets every subscriber write its output; returns their errors.
    pub async fn finish(&self) -> Vec<SubscriberError> {
        let (reply, answer) = oneshot::channel();
        if self.to_writer.send(Message::Finish(reply)).is_err() {
            return Vec::new();
        }
        answer.await.unwrap_or_default()
    }
}

/// What a message wants once its group is written.
enum Then {
    Answer(oneshot::Sender<Result<u32, RecordError>>),
    Deliver,
    Flush(oneshot::Sender<()>),
    Finish(oneshot::Sender<Vec<SubscriberError>>),
}

struct Writer {
    recorder: Box<dyn Recorder>,
    subscribers: Vec<Box<dyn Subscriber>>,
    failure: Arc<OnceLock<RecordError>>,
}

impl Writer {
    fn serve(mut self, from_engine: mpsc::Receiver<Message>) {
        while let Ok(first) = from_engine.recv() {
            let mut group = vec![first];
            // Gather for a moment: a commit costs as much for one record as for a hundred, and a
            // slot's next events are usually microseconds away. A flush is answered at once.
            let until = std::time::Instant::now() + GATHER;
            while group.len() < GROUP_LIMIT
                && !matches!(group.last(), Some(Message::Flush(_) | Message::Finish(_)))
            {
                let left = until.saturating_duration_since(std::time::Instant::now());
                match from_engine.recv_timeout(left) {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            self.write(group);
        }
    }

    fn write(&mut self, group: Vec<Message>) {
        // The events move into the entries (a copy of each would cost more than its record) and
        // are delivered from there; `then` keeps what each message wants once they are written.
        let mut entries = Vec::with_capacity(group.len());
        let mut then = Vec::with_capacity(group.len());
        for message in group {
            match message {
                Message::Begin(run, reply) => {
                    entries.push(Entry::Begin(run));
                    then.push(Then::Answer(reply));
                }
                Message::Event(event) => {
                    entries.push(Entry::Event(event));
                    then.push(Then::Deliver);
                }
                Message::Flush(reply) => then.push(Then::Flush(reply)),
                Message::Finish(reply) => then.push(Then::Finish(reply)),
            }
        }
        let results = match (self.failure.get(), entries.is_empty()) {
            (_, true) => Ok(Vec::new()),
            // After a failure nothing more goes to the store, which would hold a record with a
            // gap: the rest is kept in the recorder's spill, in order, for a later replay.
            (Some(failed), false) => {
                let failed = failed.clone();
                let _ = self.recorder.spill(&entries);
                Err(failed)
            }
            (None, false) => {
                self.recorder
                    .write(&entries)
                    .map_err(|e| match self.recorder.spill(&entries) {
                        None => e,
                        Some(Ok(path)) => RecordError::Spilled {
                            path,
                            source: Box::new(e),
                        },
                        Some(Err(spill)) => RecordError::Lost {
                            spill: Box::new(spill),
                            source: Box::new(e),
                        },
                    })
            }
        };
        let mut results = match results {
            Ok(results) => results.into_iter(),
            Err(e) => {
                let _ = self.failure.set(e.clone());
                vec![Err(e); entries.len()].into_iter()
            }
        };
        let mut written = entries.iter();
        for next in then {
            match next {
                Then::Answer(reply) => {
                    written.next();
                    let result = results.next().unwrap_or(Err(RecordError::Stopped));
                    if let Err(e) = &result {
                        let _ = self.failure.set(e.clone());
                    }
                    let _ =
                        reply.send(result.and_then(|attempt| attempt.ok_or(RecordError::Stopped)));
                }
                Then::Deliver => match (written.next(), results.next()) {
                    (Some(Entry::Event(event)), Some(Ok(_))) => self.deliver(event),
                    (_, Some(Ok(_))) => {}
                    (_, Some(Err(e))) => {
                        let _ = self.failure.set(e);
                    }
                    (_, None) => {
                        let _ = self.failure.set(RecordError::Stopped);
                    }
                },
                Then::Flush(reply) => {
                    let _ = reply.send(());
                }
                Then::Finish(reply) => {
                    let errors = self
                        .subscribers
                        .iter_mut()
                        .filter_map(|s| s.finish().err())
                        .collect();
                    let _ = reply.send(errors);
                }
            }
        }
    }

    fn deliver(&mut self, event: &Event) {
        for s in &mut self.subscribers {
            s.on_event(event);
        }
    }
}
