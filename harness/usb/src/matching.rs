//! Which attached device is which rig channel, and for a channel that matches nothing, why not.

use rigor_model::rig::{Probe, Rig, SerialPort};
use serde::Serialize;

use crate::discover::UsbDevice;

/// A USB identity a rig asks for: `VID:PID[:SERIAL]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsbWanted {
    /// Vendor id.
    pub vid: u16,
    /// Product id.
    pub pid: u16,
    /// Serial number, if the rig names one.
    pub serial: Option<String>,
}

impl UsbWanted {
    /// Parses `VID:PID[:SERIAL]` (hex ids).
    pub fn parse(text: &str) -> Option<UsbWanted> {
        let mut parts = text.splitn(3, ':');
        let vid = u16::from_str_radix(parts.next()?, 16).ok()?;
        let pid = u16::from_str_radix(parts.next()?, 16).ok()?;
        let serial = parts.next().filter(|s| !s.is_empty()).map(str::to_owned);
        Some(UsbWanted { vid, pid, serial })
    }

    fn matches(&self, d: &UsbDevice) -> bool {
        d.vid == self.vid
            && d.pid == self.pid
            && self
                .serial
                .as_ref()
                .is_none_or(|s| d.serial.as_ref() == Some(s))
    }
}

/// What became of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "verdict")]
pub enum Verdict {
    /// Exactly one attached device is it.
    Found {
        /// Where it is plugged in.
        location: String,
        /// Its serial ports, for a serial adapter.
        ttys: Vec<String>,
    },
    /// Several attached devices fit: the rig should name the serial number.
    Ambiguous {
        /// Their identities.
        candidates: Vec<String>,
    },
    /// Nothing attached fits.
    Missing {
        /// Why, with the closest candidate.
        why: String,
    },
    /// The rig's text is not a USB identity.
    Invalid {
        /// What the rig says.
        text: String,
    },
}

/// One USB-identified channel of a slot and what was found for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelMatch {
    /// The slot.
    pub slot: String,
    /// The channel (`serial.uart0`, `probe`).
    pub channel: String,
    /// What the rig asks for.
    pub wanted: String,
    /// What was found.
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// The rig against what is attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// The rig.
    pub rig: String,
    /// Every USB-identified channel, slot by slot.
    pub channels: Vec<ChannelMatch>,
    /// Attached devices that more than one channel claims, by location.
    pub claimed_twice: Vec<String>,
    /// What is attached.
    pub attached: Vec<UsbDevice>,
}

impl ProbeReport {
    /// True when every channel found exactly its device, and no device is claimed twice.
    pub fn all_found(&self) -> bool {
        self.claimed_twice.is_empty()
            && self
                .channels
                .iter()
                .all(|c| matches!(c.verdict, Verdict::Found { .. }))
    }

    /// The report as a table for people.
    pub fn to_text(&self) -> String {
        let mut out = format!("{:<10} {:<14} {:<34} result\n", "slot", "channel", "wanted");
        for c in &self.channels {
            let result = match &c.verdict {
                Verdict::Found { location, ttys } if ttys.is_empty() => {
                    format!("found at {location}")
                }
                Verdict::Found { location, ttys } => {
                    format!("found at {location} ({})", ttys.join(", "))
                }
                Verdict::Ambiguous { candidates } => {
                    format!("AMBIGUOUS: {} fit; name the serial", candidates.join(", "))
                }
                Verdict::Missing { why } => format!("MISSING: {why}"),
                Verdict::Invalid { text } => format!("INVALID: `{text}` is not VID:PID[:SERIAL]"),
            };
            out.push_str(&format!(
                "{:<10} {:<14} {:<34} {result}\n",
                c.slot, c.channel, c.wanted
            ));
        }
        for location in &self.claimed_twice {
            out.push_str(&format!(
                "the device at {location} is claimed by two channels\n"
            ));
        }
        out.push_str(&format!("\nattached ({}):\n", self.attached.len()));
        for d in &self.attached {
            out.push_str(&format!("  {}\n", self.describe(d)));
        }
        out
    }

    /// One attached device, with what claims it.
    fn describe(&self, d: &UsbDevice) -> String {
        let claimed: Vec<String> = self
            .channels
            .iter()
            .filter(|c| matches!(&c.verdict, Verdict::Found { location, .. } if *location == d.location))
            .map(|c| format!("{} {}", c.slot, c.channel))
            .collect();
        let name: Vec<&str> = [d.manufacturer.as_deref(), d.product.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        let mut line = format!(
            "{:<8} {:<36} {:<15} {}",
            d.location,
            d.identity(),
            format!("{:?}", d.kind).to_lowercase(),
            name.join(" ")
        );
        if !d.ttys.is_empty() {
            line.push_str(&format!(" {}", d.ttys.join(", ")));
        }
        if !claimed.is_empty() {
            line.push_str(&format!(" -> {}", claimed.join(", ")));
        }
        line
    }
}

/// Matches every USB-identified channel of `rig` against `attached`.
pub fn match_rig(rig: &Rig, attached: &[UsbDevice]) -> ProbeReport {
    let mut channels = Vec::new();
    for (slot, s) in &rig.slots {
        let mut wanted: Vec<(String, String)> = Vec::new();
        if let Some(Probe::ProbeRs(p)) = &s.probe {
            wanted.push(("probe".to_owned(), p.selector.clone()));
        }
        for (name, port) in &s.serial {
            if let SerialPort::Usb(id) = port {
                wanted.push((format!("serial.{name}"), id.clone()));
            }
        }
        for (channel, text) in wanted {
            let verdict = match UsbWanted::parse(&text) {
                Some(w) => verdict(&w, attached),
                None => Verdict::Invalid { text: text.clone() },
            };
            channels.push(ChannelMatch {
                slot: slot.clone(),
                channel,
                wanted: text,
                verdict,
            });
        }
    }
    let mut seen = std::collections::BTreeMap::<&str, u32>::new();
    for c in &channels {
        if let Verdict::Found { location, .. } = &c.verdict {
            *seen.entry(location).or_default() += 1;
        }
    }
    let claimed_twice = seen
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(l, _)| l.to_owned())
        .collect();
    ProbeReport {
        rig: rig.rig.clone(),
        channels,
        claimed_twice,
        attached: attached.to_vec(),
    }
}

fn verdict(w: &UsbWanted, attached: &[UsbDevice]) -> Verdict {
    let fits: Vec<&UsbDevice> = attached.iter().filter(|d| w.matches(d)).collect();
    match fits.as_slice() {
        [one] => Verdict::Found {
            location: one.location.clone(),
            ttys: one.ttys.clone(),
        },
        [] => Verdict::Missing {
            why: closest(w, attached),
        },
        many => Verdict::Ambiguous {
            candidates: many.iter().map(|d| d.identity()).collect(),
        },
    }
}

/// Why nothing fits, naming the closest attached device and the field that differs.
fn closest(w: &UsbWanted, attached: &[UsbDevice]) -> String {
    let same_ids = attached.iter().find(|d| d.vid == w.vid && d.pid == w.pid);
    if let (Some(d), Some(want)) = (same_ids, &w.serial) {
        return format!(
            "a {:04x}:{:04x} is attached at {} but its serial is {}, not {want}",
            w.vid,
            w.pid,
            d.location,
            d.serial.as_deref().unwrap_or("(none)")
        );
    }
    if let Some(want) = &w.serial
        && let Some(d) = attached.iter().find(|d| d.serial.as_ref() == Some(want))
    {
        return format!(
            "serial {want} is attached at {} as {:04x}:{:04x}, not {:04x}:{:04x}",
            d.location, d.vid, d.pid, w.vid, w.pid
        );
    }
    if let Some(d) = attached.iter().find(|d| d.vid == w.vid) {
        return format!(
            "vendor {:04x} is attached only as {} at {}",
            w.vid,
            d.identity(),
            d.location
        );
    }
    if attached.is_empty() {
        "no USB device is attached".to_owned()
    } else {
        format!("nothing of vendor {:04x} is attached", w.vid)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::discover::DeviceKind;

    fn dev(location: &str, vid: u16, pid: u16, serial: Option<&str>) -> UsbDevice {
        UsbDevice {
            vid,
            pid,
            serial: serial.map(str::to_owned),
            manufacturer: None,
            product: None,
            location: location.to_owned(),
            ttys: Vec::new(),
            kind: DeviceKind::Other,
        }
    }

    #[test]
    fn each_way_a_channel_can_miss_says_what_differs() {
        let attached = [
            dev("1-1", 0x0403, 0x6001, Some("FT5XYZ13")),
            dev("1-2", 0x0483, 0x374e, Some("066DFF555")),
            dev("1-3", 0x10c4, 0xea60, Some("A")),
            dev("1-4", 0x10c4, 0xea60, Some("B")),
        ];
        let why = |text: &str| match verdict(&UsbWanted::parse(text).unwrap(), &attached) {
            Verdict::Missing { why } => why,
            other => format!("{other:?}"),
        };
        assert_eq!(
            why("0403:6001:FT5XYZ12"),
            "a 0403:6001 is attached at 1-1 but its serial is FT5XYZ13, not FT5XYZ12"
        );
        assert_eq!(
            why("0483:374b:066DFF555"),
            "serial 066DFF555 is attached at 1-2 as 0483:374e, not 0483:374b"
        );
        assert_eq!(
            why("0483:3748"),
            "vendor 0483 is attached only as 0483:374e:066DFF555 at 1-2"
        );
        assert_eq!(why("1366:0101"), "nothing of vendor 1366 is attached");
        assert!(matches!(
            verdict(&UsbWanted::parse("10c4:ea60").unwrap(), &attached),
            Verdict::Ambiguous { candidates } if candidates.len() == 2
        ));
        assert!(matches!(
            verdict(&UsbWanted::parse("10c4:ea60:B").unwrap(), &attached),
            Verdict::Found { location, .. } if location == "1-4"
        ));
        assert_eq!(
            closest(&UsbWanted::parse("0403:6001").unwrap(), &[]),
            "no USB device is attached"
        );
    }
}
