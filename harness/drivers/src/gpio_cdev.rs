//! Linux GPIO lines through the GPIO character device (uAPI v2, the `gpiocdev` crate: pure Rust,
//! no libgpiod). A line the rig drives (a device input) is requested as an output; a line the rig
//! observes (a device output) as an input with edge detection on both edges, so `wait_edge` and
//! `watch` see every edge with the kernel's timestamp, pulses shorter than any polling period
//! included.
//!
//! Verified against the kernel's `gpio-sim` driver in a Debian kernel guest (`tests/kernel`, run by
//! `.ci/kernel-tests`): outputs read back by the simulator, inputs it pulls, edges with kernel
//! timestamps, a busy line and a missing chip.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gpiocdev::line::{EdgeDetection, EdgeKind, Value};
use gpiocdev::request::Request;
use rigor_hal::{DigitalLine, Edge, HalError, Transition, async_trait};

/// What the rig does with the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The rig drives it (a device input): requested as an output, initially inactive.
    Drive,
    /// The rig observes it (a device output): requested as an input with edge events.
    Sense,
}

/// One requested line of a GPIO chip.
pub struct GpioCdevLine {
    request: Arc<Request>,
    offset: u32,
    role: Role,
    name: String,
}

impl GpioCdevLine {
    /// Requests line `offset` of `chip` (a path like `/dev/gpiochip2`, or a chip's label) as
    /// consumer `rigor`.
    pub fn open(chip: &str, offset: u32, role: Role) -> Result<Self, HalError> {
        let path = if chip.starts_with('/') {
            PathBuf::from(chip)
        } else {
            let chips = gpiocdev::chip::chips().unwrap_or_default();
            let labelled: Vec<(PathBuf, String)> = chips
                .into_iter()
                .filter_map(|p| {
                    let label = gpiocdev::chip::Chip::from_path(&p).ok()?.info().ok()?.label;
                    Some((p, label))
                })
                .collect();
            pick_chip(chip, &labelled)?
        };
        let name = format!("{}:{offset}", path.display());
        let mut builder = Request::builder();
        builder
            .on_chip(&path)
            .with_consumer("rigor")
            .with_line(offset);
        match role {
            Role::Drive => builder.as_output(Value::Inactive),
            Role::Sense => builder
                .as_input()
                .with_edge_detection(EdgeDetection::BothEdges),
        };
        let request = builder.request().map_err(|e| match e {
            // No such device file (a path from another machine, a USB GPIO expander unplugged).
            gpiocdev::Error::Os(gpiocdev_uapi::Errno(n @ (ENOENT | ENODEV))) => {
                HalError::Disconnected {
                    what: format!("gpio chip {}", path.display()),
                    source: Some(std::io::Error::from_raw_os_error(n)),
                }
            }
            other => error(&name, &other),
        })?;
        Ok(GpioCdevLine {
            request: Arc::new(request),
            offset,
            role,
            name,
        })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Request, u32) -> Result<T, gpiocdev::Error> + Send + 'static,
    ) -> Result<T, HalError> {
        // The character device's calls block (reads of edge events wait in the kernel); they run
        // on the blocking pool so a slot's task never stalls the runtime.
        let (request, offset, name) = (self.request.clone(), self.offset, self.name.clone());
        tokio::task::spawn_blocking(move || f(&request, offset).map_err(|e| error(&name, &e)))
            .await
            .map_err(|e| HalError::Io {
                what: format!("gpio line {}", self.name),
                source: std::io::Error::other(e.to_string()),
            })?
    }
}

#[async_trait]
impl DigitalLine for GpioCdevLine {
    async fn set(&self, high: bool) -> Result<(), HalError> {
        if self.role == Role::Sense {
            return Err(HalError::Misconfigured {
                what: format!("gpio line {}", self.name),
                reason: "it carries a device output; the rig only observes it".to_owned(),
            });
        }
        let value = if high { Value::Active } else { Value::Inactive };
        self.blocking(move |r, o| r.set_value(o, value)).await
    }

    async fn get(&self) -> Result<bool, HalError> {
        self.blocking(|r, o| r.value(o).map(|v| v == Value::Active))
            .await
    }

    async fn watch(&self, window: Duration) -> Result<(bool, Vec<Transition>), HalError> {
        self.blocking(move |r, o| {
            let start = Instant::now();
            let level = r.value(o)? == Value::Active;
            let mut events = Vec::new();
            loop {
                let left = window.saturating_sub(start.elapsed());
                if left.is_zero() || !r.wait_edge_event(left)? {
                    break;
                }
                let e = r.read_edge_event()?;
                events.push((start.elapsed(), e.timestamp_ns, e.kind));
            }
            Ok((level, transitions(&events)))
        })
        .await
    }

    async fn wait_edge(
        &self,
        edge: Edge,
        within: Duration,
    ) -> Result<Option<Transition>, HalError> {
        self.blocking(move |r, _| {
            let start = Instant::now();
            loop {
                let left = within.saturating_sub(start.elapsed());
                if left.is_zero() || !r.wait_edge_event(left)? {
                    return Ok(None);
                }
                let e = r.read_edge_event()?;
                let high = e.kind == EdgeKind::Rising;
                if edge.is(!high, high) {
                    return Ok(Some(Transition {
                        at: start.elapsed(),
                        high,
                    }));
                }
            }
        })
        .await
    }
}

/// The chip whose label is `label`, among `(path, label)` pairs.
pub fn pick_chip(label: &str, chips: &[(PathBuf, String)]) -> Result<PathBuf, HalError> {
    let found: Vec<&PathBuf> = chips
        .iter()
        .filter(|(_, l)| l == label)
        .map(|(p, _)| p)
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => {
            let known: Vec<String> = chips
                .iter()
                .map(|(p, l)| format!("{} ({l})", p.display()))
                .collect();
            Err(HalError::Misconfigured {
                what: format!("gpio chip `{label}`"),
                reason: if known.is_empty() {
                    "this system has no GPIO chips".to_owned()
                } else {
                    format!("no chip has that label; chips: {}", known.join(", "))
                },
            })
        }
        several => Err(HalError::Misconfigured {
            what: format!("gpio chip `{label}`"),
            reason: format!("{} chips have that label; name one by path", several.len()),
        }),
    }
}

/// Edge events as transitions timed from the watch's start: the first by when it was read, the
/// rest by the kernel's timestamps after it, so the spacing that frequency and duty cycle depend
/// on is the kernel's, not the reader's.
pub fn transitions(events: &[(Duration, u64, EdgeKind)]) -> Vec<Transition> {
    let Some((first_seen, first_ns, _)) = events.first() else {
        return Vec::new();
    };
    events
        .iter()
        .map(|(_, ns, kind)| Transition {
            at: *first_seen + Duration::from_nanos(ns.saturating_sub(*first_ns)),
            high: *kind == EdgeKind::Rising,
        })
        .collect()
}

/// The kernel's answer to a request for a line that another consumer holds.
const EBUSY: i32 = 16;
/// No such file: the chip's device is not there.
const ENOENT: i32 = 2;
/// The chip's device file is there, its device gone.
const ENODEV: i32 = 19;

/// A gpiocdev error as the seam's: the line or chip named, blamed on the rig.
fn error(name: &str, e: &gpiocdev::Error) -> HalError {
    let what = format!("gpio line {name}");
    match e {
        gpiocdev::Error::GpioChip(path, kind) => HalError::Disconnected {
            what: format!("gpio chip {}", path.display()),
            source: Some(std::io::Error::other(kind.to_string())),
        },
        gpiocdev::Error::Uapi(_, gpiocdev_uapi::Error::Os(gpiocdev_uapi::Errno(EBUSY))) => {
            HalError::Misconfigured {
                what,
                reason: "another consumer holds the line (see `gpioinfo`)".to_owned(),
            }
        }
        other => HalError::Io {
            what,
            source: std::io::Error::other(other.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_chip_is_found_by_its_label_and_a_missing_one_lists_the_others() {
        let chips = vec![
            (
                PathBuf::from("/dev/gpiochip0"),
                "pinctrl-bcm2711".to_owned(),
            ),
            (PathBuf::from("/dev/gpiochip2"), "ftdi-cbus".to_owned()),
        ];
        assert_eq!(
            pick_chip("ftdi-cbus", &chips).unwrap(),
            PathBuf::from("/dev/gpiochip2")
        );
        let err = pick_chip("mcp23017", &chips).unwrap_err().to_string();
        assert_eq!(
            err,
            "gpio chip `mcp23017`: no chip has that label; chips: /dev/gpiochip0 (pinctrl-bcm2711), /dev/gpiochip2 (ftdi-cbus)"
        );
        let err = pick_chip("x", &[]).unwrap_err().to_string();
        assert_eq!(err, "gpio chip `x`: this system has no GPIO chips");
        let twice = vec![
            chips[1].clone(),
            (PathBuf::from("/dev/gpiochip3"), "ftdi-cbus".into()),
        ];
        assert!(
            pick_chip("ftdi-cbus", &twice)
                .unwrap_err()
                .to_string()
                .contains("2 chips")
        );
    }

    #[test]
    fn edge_events_keep_the_kernels_spacing() {
        let events = [
            (Duration::from_millis(40), 1_000_000_000, EdgeKind::Rising),
            (Duration::from_millis(95), 1_500_000_000, EdgeKind::Falling),
            (Duration::from_millis(96), 2_000_000_000, EdgeKind::Rising),
        ];
        let t = transitions(&events);
        assert_eq!(
            t.iter().map(|t| (t.at, t.high)).collect::<Vec<_>>(),
            [
                (Duration::from_millis(40), true),
                (Duration::from_millis(540), false),
                (Duration::from_millis(1040), true),
            ]
        );
    }

    #[test]
    fn a_chip_that_is_not_there_is_the_rigs_and_names_the_chip() {
        // No GPIO subsystem here: the request fails, and says which chip.
        let err = GpioCdevLine::open("/dev/gpiochip99", 3, Role::Sense)
            .err()
            .unwrap();
        assert_eq!(err.blame(), rigor_hal::Blame::Rig);
        assert!(err.to_string().contains("gpiochip99"), "{err}");
    }
}
