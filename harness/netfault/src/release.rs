//! The engine's release side: a thread of its own holds the packets in flight and writes each
//! to the far TUN device when its time comes.
//!
//! A thread rather than a tokio timer: tokio's timer wheel ticks in whole milliseconds and
//! rounds deadlines up, which put every delay 0.5 to 1.5 ms late; a thread waiting on its
//! channel with a timeout (a futex on a high-resolution timer), with no timer slack and at
//! real-time priority where granted ([`crate::realtime`]), wakes within tens of microseconds of
//! the deadline even on a loaded machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use tun_rs::AsyncDevice;

use crate::error::NetfaultError;
use crate::realtime;

/// The sending end; dropping it stops the thread (packets still in flight are lost, as on a
/// link that goes away).
pub(crate) struct Release {
    tx: mpsc::Sender<InFlight>,
    pending: Arc<AtomicUsize>,
}

impl Release {
    /// Starts the thread writing to `to`; `delivered` runs after each frame written, with the
    /// packets it held.
    pub(crate) fn spawn(
        name: &str,
        to: Arc<AsyncDevice>,
        delivered: impl Fn(u64) + Send + 'static,
    ) -> Result<Self, NetfaultError> {
        let (tx, rx) = mpsc::channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let count = pending.clone();
        std::thread::Builder::new()
            .name(format!("rg-release-{name}"))
            .spawn(move || {
                realtime::raise();
                run(&rx, &to, &count, &delivered);
            })
            .map_err(|e| NetfaultError::io("starting the engine's release thread", e))?;
        Ok(Self { tx, pending })
    }

    /// Packets handed over and not yet written: while any are, a packet due now must queue
    /// behind them to keep order.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Hands over a frame (header and packet) holding `packets` packets, to write at `at`.
    pub(crate) fn send(&self, at: Instant, frame: Vec<u8>, packets: u64) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        // The thread ends only when this sender is dropped: the send cannot fail while it lives.
        let _ = self.tx.send(InFlight { at, frame, packets });
    }
}

/// A frame waiting for its time.
struct InFlight {
    at: Instant,
    frame: Vec<u8>,
    packets: u64,
}

/// A frame in the heap: departure, hand-over sequence number, frame, packets it holds.
type Queued = Reverse<(Instant, u64, Vec<u8>, u64)>;

fn run(
    rx: &mpsc::Receiver<InFlight>,
    to: &AsyncDevice,
    pending: &AtomicUsize,
    delivered: &dyn Fn(u64),
) {
    // Earliest departure first; the sequence number keeps packets due at the same instant in
    // the order they were handed over.
    let mut in_flight: BinaryHeap<Queued> = BinaryHeap::new();
    let mut seq = 0u64;
    loop {
        let next = in_flight.peek().map(|Reverse((at, ..))| *at);
        let received = match next {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(InFlight { at, frame, packets }) => {
                in_flight.push(Reverse((at, seq, frame, packets)));
                seq += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while in_flight.peek().is_some_and(|Reverse((at, ..))| *at <= now) {
            if let Some(Reverse((_, _, frame, packets))) = in_flight.pop() {
                // A write the kernel refuses (the interface going down) is a lost packet.
                if to.try_send(&frame).is_ok() {
                    delivered(packets);
                }
                pending.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}
