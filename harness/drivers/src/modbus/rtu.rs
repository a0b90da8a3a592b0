//! Modbus RTU: the serial line's settings, opening it (tokio-serial), and the bus that the
//! instruments on one RS-485 line share.
//!
//! On RS-485 several instruments hang on one pair of wires and one USB adapter, told apart by unit
//! id. The port can be opened only once, and only one frame may be on the wire at a time, so all
//! instruments on a line go through one [`RtuBus`]: one open port, one tokio-modbus context, the
//! unit id switched per request, requests serialized, and at least the inter-frame gap of the
//! Modbus serial-line specification (3.5 character times) between the end of one frame and the
//! start of the next. [`RtuBuses`] hands out one bus per port and refuses instruments that
//! disagree on the line's settings.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rigor_hal::HalError;
use rigor_model::rig::{ModbusRtu, Parity, SerialPort};
use tokio::io::AsyncReadExt;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use super::link::{Link, Transport};

/// Stop bits of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StopBits {
    /// One stop bit (what most instruments ship with, parity or not).
    #[default]
    One,
    /// Two stop bits (the specification's choice for a line without parity).
    Two,
}

/// A serial line carrying Modbus RTU.
///
/// Data bits are not a setting: RTU frames are 8-bit by the Modbus serial-line specification (7
/// data bits is Modbus ASCII, which rigor does not speak).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtuSettings {
    /// The port (`/dev/serial/by-id/...` survives re-enumeration; a pty in tests).
    pub path: PathBuf,
    /// Baud rate.
    pub baud: u32,
    /// Parity.
    pub parity: Parity,
    /// Stop bits.
    pub stop_bits: StopBits,
    /// Silence between frames, if an instrument needs more than the specification's 3.5
    /// character times (some USB-serial bridges in instruments do).
    pub frame_gap: Option<Duration>,
}

impl RtuSettings {
    /// A line at `path` and `baud`, 8N1, with the specification's inter-frame gap.
    pub fn new(path: impl Into<PathBuf>, baud: u32) -> Self {
        RtuSettings {
            path: path.into(),
            baud,
            parity: Parity::None,
            stop_bits: StopBits::One,
            frame_gap: None,
        }
    }

    /// The line a rig describes, if its port is named by path.
    ///
    /// A port named by USB identity must be resolved to a path first (rigor-console finds
    /// adapters by identity); the virtual bench's ports are its own business.
    pub fn from_model(rtu: &ModbusRtu) -> Result<Self, HalError> {
        match &rtu.port {
            SerialPort::Path(path) => Ok(RtuSettings {
                parity: rtu.parity,
                ..RtuSettings::new(path, rtu.baud)
            }),
            SerialPort::Usb(id) => Err(HalError::Unsupported {
                what: format!("the Modbus RTU port `usb: {id}`"),
                backend: "the RTU driver, which opens ports by path".to_owned(),
            }),
            SerialPort::Virtual => Err(HalError::Unsupported {
                what: "a virtual Modbus RTU port".to_owned(),
                backend: "the RTU driver".to_owned(),
            }),
        }
    }

    /// The silence before a frame: 3.5 characters of 11 bits (start, 8 data, parity or a second
    /// stop bit, stop), fixed at 1.75 ms above 19200 baud as the specification recommends.
    pub fn frame_gap(&self) -> Duration {
        if let Some(gap) = self.frame_gap {
            return gap;
        }
        if self.baud > 19_200 || self.baud == 0 {
            return Duration::from_micros(1750);
        }
        Duration::from_secs_f64(3.5 * 11.0 / f64::from(self.baud))
    }
}

impl fmt::Display for RtuSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parity = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        let stop = match self.stop_bits {
            StopBits::One => 1,
            StopBits::Two => 2,
        };
        write!(
            f,
            "{} at {} 8{parity}{stop}",
            self.path.display(),
            self.baud
        )
    }
}

/// One RS-485 line that instruments share; cheap to clone (clones are the same bus).
///
/// Give every instrument on a port the same bus (see [`RtuBuses`]): two buses on one port would
/// each open it, and the second open fails or, worse, their frames interleave on the wire.
#[derive(Debug, Clone)]
pub struct RtuBus {
    settings: Arc<RtuSettings>,
    link: Arc<Link>,
}

impl RtuBus {
    /// A bus on the line `settings` describe; the port is opened on the first request.
    pub fn new(settings: RtuSettings) -> Self {
        RtuBus {
            settings: Arc::new(settings.clone()),
            link: Arc::new(Link::new(Transport::Rtu(settings))),
        }
    }

    /// The line's settings.
    pub fn settings(&self) -> &RtuSettings {
        &self.settings
    }

    pub(crate) fn link(&self) -> Arc<Link> {
        self.link.clone()
    }
}

/// The RTU buses of a run, one per port, so instruments that share a line share its bus.
#[derive(Debug, Default)]
pub struct RtuBuses {
    buses: HashMap<PathBuf, RtuBus>,
}

impl RtuBuses {
    /// The bus on `settings.path`, made on first use; an error if the port already carries a bus
    /// with other settings (one line has one baud rate and framing).
    pub fn bus(&mut self, settings: RtuSettings) -> Result<RtuBus, HalError> {
        if let Some(bus) = self.buses.get(&settings.path) {
            if *bus.settings() == settings {
                return Ok(bus.clone());
            }
            return Err(HalError::Misconfigured {
                what: format!("the Modbus RTU line {}", settings.path.display()),
                reason: format!(
                    "instruments on it disagree on its settings: {} and {settings}",
                    bus.settings()
                ),
            });
        }
        let bus = RtuBus::new(settings);
        self.buses.insert(bus.settings.path.clone(), bus.clone());
        Ok(bus)
    }
}

/// Opens the line; after a request timed out (`stale`: after how long), first reads until the line
/// has been silent that long again.
///
/// RTU frames carry no transaction id: a slow instrument's late answer, left on the line, would
/// be taken for the next request's answer if that has the same unit and function (a wrong reading
/// with no error). Draining drops answers up to twice the timeout late, as libmodbus's error
/// recovery does; later ones are still a hazard, so a timeout should exceed the slowest
/// instrument's turnaround.
pub(crate) async fn open(
    settings: &RtuSettings,
    stale: Option<Duration>,
) -> Result<SerialStream, HalError> {
    let name = settings.path.to_string_lossy();
    let mut port = tokio_serial::new(name.as_ref(), settings.baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(match settings.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(match settings.stop_bits {
            StopBits::One => tokio_serial::StopBits::One,
            StopBits::Two => tokio_serial::StopBits::Two,
        })
        .flow_control(tokio_serial::FlowControl::None)
        .open_native_async()
        .map_err(|e| match e.kind {
            tokio_serial::ErrorKind::NoDevice => HalError::Disconnected {
                what: settings.path.display().to_string(),
                source: Some(e.into()),
            },
            _ => HalError::Io {
                what: format!("opening {settings}"),
                source: e.into(),
            },
        })?;
    if let Some(quiet) = stale {
        drain(&mut port, settings, quiet).await?;
    }
    Ok(port)
}

/// Reads and drops bytes until the line has been silent for `quiet`.
async fn drain(
    port: &mut SerialStream,
    settings: &RtuSettings,
    quiet: Duration,
) -> Result<(), HalError> {
    // A line that never falls silent (another master, a babbling instrument) is a rig fault:
    // give up after a bound rather than wait forever.
    let bound = quiet * 10;
    let give_up = tokio::time::Instant::now() + bound;
    let mut buf = [0u8; 256];
    loop {
        if tokio::time::Instant::now() >= give_up {
            return Err(HalError::Timeout {
                what: format!("waiting for {settings} to fall silent"),
                after: bound,
            });
        }
        match tokio::time::timeout(quiet, port.read(&mut buf)).await {
            Err(_) | Ok(Ok(0)) => return Ok(()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(HalError::Io {
                    what: format!("draining {settings}"),
                    source: e,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_gap_follows_the_specification() {
        let at = |baud| RtuSettings::new("/dev/null", baud).frame_gap();
        // 3.5 × 11 bits at 9600 baud.
        assert_eq!(at(9600), Duration::from_secs_f64(38.5 / 9600.0));
        assert!(at(9600) > Duration::from_micros(4000) && at(9600) < Duration::from_micros(4020));
        assert_eq!(at(115_200), Duration::from_micros(1750));
        let slow = RtuSettings {
            frame_gap: Some(Duration::from_millis(20)),
            ..RtuSettings::new("/dev/null", 115_200)
        };
        assert_eq!(slow.frame_gap(), Duration::from_millis(20));
    }

    #[test]
    fn instruments_on_one_port_share_one_bus_with_one_set_of_settings() {
        let mut buses = RtuBuses::default();
        let meter = buses.bus(RtuSettings::new("/dev/ttyUSB0", 9600)).unwrap();
        let relays = buses.bus(RtuSettings::new("/dev/ttyUSB0", 9600)).unwrap();
        assert!(Arc::ptr_eq(&meter.link, &relays.link));
        let other = buses.bus(RtuSettings::new("/dev/ttyUSB1", 9600)).unwrap();
        assert!(!Arc::ptr_eq(&meter.link, &other.link));
        let err = buses
            .bus(RtuSettings {
                parity: Parity::Even,
                ..RtuSettings::new("/dev/ttyUSB0", 9600)
            })
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the Modbus RTU line /dev/ttyUSB0: instruments on it disagree on its settings: \
             /dev/ttyUSB0 at 9600 8N1 and /dev/ttyUSB0 at 9600 8E1"
        );
    }

    #[test]
    fn a_rig_line_named_by_path_becomes_settings() {
        let rtu = ModbusRtu {
            port: SerialPort::Path("/dev/serial/by-id/usb-FTDI-if00".to_owned()),
            baud: 19_200,
            parity: Parity::Even,
            unit: 2,
        };
        let s = RtuSettings::from_model(&rtu).unwrap();
        assert_eq!(
            s.to_string(),
            "/dev/serial/by-id/usb-FTDI-if00 at 19200 8E1"
        );
        let by_usb = ModbusRtu {
            port: SerialPort::Usb("0403:6001:FT4PQ1AB".to_owned()),
            ..rtu
        };
        assert!(matches!(
            RtuSettings::from_model(&by_usb),
            Err(HalError::Unsupported { .. })
        ));
    }
}
