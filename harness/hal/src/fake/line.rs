//! A fake digital line: the rig drives and reads it, the test plays the device's side.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::lock;
use crate::error::HalError;
use crate::seam::{DigitalLine, Edge, Transition};

/// A fake digital line. Set and read it; make it blink; see what the rig drove.
#[derive(Debug, Clone, Default)]
pub struct FakeLine {
    state: Arc<Mutex<LineState>>,
    changed: Arc<Notify>,
}

#[derive(Debug, Default)]
struct LineState {
    high: bool,
    blink: Option<Duration>,
    /// Levels the rig drove, in order.
    driven: Vec<bool>,
    /// Every level the line took, from either side, so a waiter misses no short pulse.
    levels: Vec<bool>,
}

impl FakeLine {
    /// A line at `high`.
    pub fn new(high: bool) -> Self {
        let line = FakeLine::default();
        lock(&line.state).high = high;
        line
    }
    /// The device drives the line (the rig reads it).
    pub fn drive(&self, high: bool) {
        let mut s = lock(&self.state);
        s.high = high;
        s.blink = None;
        s.levels.push(high);
        drop(s);
        self.changed.notify_waiters();
    }
    /// The line toggles with this full period (a blinking LED).
    pub fn blink(&self, period: Duration) {
        lock(&self.state).blink = Some(period);
    }
    /// Every level the rig drove, in order.
    pub fn driven(&self) -> Vec<bool> {
        lock(&self.state).driven.clone()
    }
}

/// The toggles of a line blinking with `period` from level `start`, up to `window`.
fn blink_transitions(start: bool, period: Duration, window: Duration) -> Vec<Transition> {
    let half = period / 2;
    let mut out = Vec::new();
    if half.is_zero() {
        return out;
    }
    let (mut level, mut at) = (start, half);
    while at <= window {
        level = !level;
        out.push(Transition { at, high: level });
        at += half;
    }
    out
}

#[async_trait]
impl DigitalLine for FakeLine {
    async fn set(&self, high: bool) -> Result<(), HalError> {
        let mut s = lock(&self.state);
        s.high = high;
        s.driven.push(high);
        s.levels.push(high);
        drop(s);
        self.changed.notify_waiters();
        Ok(())
    }

    async fn get(&self) -> Result<bool, HalError> {
        Ok(lock(&self.state).high)
    }

    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError> {
        let s = lock(&self.state);
        let transitions = match s.blink {
            Some(period) => blink_transitions(s.high, period, window),
            None => Vec::new(),
        };
        Ok((s.high, transitions))
    }

    async fn wait_edge(
        &self,
        edge: Edge,
        within: Duration,
    ) -> Result<Option<Transition>, HalError> {
        let start = Instant::now();
        let (mut was, mut seen) = {
            let s = lock(&self.state);
            if let Some(period) = s.blink {
                let first = blink_transitions(s.high, period, within)
                    .into_iter()
                    .scan(s.high, |was, t| {
                        let hit = edge.is(*was, t.high);
                        *was = t.high;
                        Some((hit, t))
                    })
                    .find_map(|(hit, t)| hit.then_some(t));
                return Ok(first);
            }
            (s.high, s.levels.len())
        };
        loop {
            // Registered before looking, so a change between the look and the wait still wakes it.
            let changed = self.changed.notified();
            {
                let s = lock(&self.state);
                for &now in &s.levels[seen..] {
                    if edge.is(was, now) {
                        return Ok(Some(Transition {
                            at: start.elapsed(),
                            high: now,
                        }));
                    }
                    was = now;
                }
                seen = s.levels.len();
            }
            if tokio::time::timeout_at(start + within, changed)
                .await
                .is_err()
            {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_blinking_line_reports_its_transitions() {
        let led = FakeLine::new(false);
        led.blink(Duration::from_secs(1));
        let (start, t) = led.watch(Duration::from_secs(2)).await.unwrap();
        assert!(!start);
        assert_eq!(
            t.iter()
                .map(|t| (t.at.as_millis(), t.high))
                .collect::<Vec<_>>(),
            [(500, true), (1000, false), (1500, true), (2000, false)]
        );
        let falling = led
            .wait_edge(Edge::Falling, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(falling.map(|t| t.at.as_millis()), Some(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_edge_sees_a_short_pulse_the_device_drives() {
        let button = FakeLine::new(false);
        let device = button.clone();
        let waiter = tokio::spawn(async move {
            button
                .wait_edge(Edge::Falling, Duration::from_secs(5))
                .await
                .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        // High and low again before the waiter looks: the pulse must not be lost.
        device.drive(true);
        device.drive(false);
        let edge = waiter.await.unwrap().expect("the falling edge");
        assert!(!edge.high);
        assert_eq!(edge.at, Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn no_edge_within_the_window_is_none_not_an_error() {
        let line = FakeLine::new(true);
        assert_eq!(
            line.wait_edge(Edge::Rising, Duration::from_secs(1))
                .await
                .unwrap(),
            None
        );
        line.set(false).await.unwrap();
        assert_eq!(line.driven(), [false]);
    }
}
