//! Opening a bound plan's backends: the composition root where the rig's channel descriptions meet
//! the driver crates. A channel kind without a working backend on this build is an error that says
//! so, never a silent stand-in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use rigor_drivers::modbus::{Endpoint, ModbusInstrument, ModbusLine};
use rigor_drivers::net_proxy::ImpairmentProxy;
use rigor_drivers::serial::{PortName, SerialConsole};
use rigor_hal::{DigitalLine, Instrument, NetImpairment};
use rigor_model::rig::{GpioLine, ImpairmentPoint, ModbusLink, SerialPort};
use rigor_plan::plan::{BoundAction, BoundPlan, InstrumentBinding};
use rigor_runner::devices::SlotDevices;

/// A channel that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// This build has no backend for the channel kind yet.
    #[error("slot `{slot}`: {what} is not available in this build of rigor ({why})")]
    Unavailable {
        /// The slot.
        slot: String,
        /// The channel.
        what: String,
        /// Why, and what to do.
        why: &'static str,
    },
    /// The address is not an address.
    #[error("slot `{slot}`: `{address}` is not a host:port address")]
    Address {
        /// The slot.
        slot: String,
        /// What was written.
        address: String,
    },
    /// The OS refused (a port in use, a missing device).
    #[error("slot `{slot}`: cannot open {what}")]
    Io {
        /// The slot.
        slot: String,
        /// The channel.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Opens every backend `plan` uses.
pub async fn open(plan: &BoundPlan) -> Result<SlotDevices, OpenError> {
    let slot = plan.slot.clone();
    let unavailable = |what: String, why: &'static str| OpenError::Unavailable {
        slot: slot.clone(),
        what,
        why,
    };
    let mut devices = SlotDevices::default();
    let mut instruments: HashMap<String, Arc<dyn Instrument>> = HashMap::new();
    let mut instrument = |b: &InstrumentBinding| -> Result<Arc<dyn Instrument>, OpenError> {
        if let Some(i) = instruments.get(&b.name) {
            return Ok(i.clone());
        }
        let opened: Arc<dyn Instrument> = match &b.link {
            ModbusLink::Tcp(tcp) => {
                let address: SocketAddr = tcp.address.parse().map_err(|_| OpenError::Address {
                    slot: slot.clone(),
                    address: tcp.address.clone(),
                })?;
                Arc::new(ModbusInstrument::new(
                    &b.name,
                    b.model.clone(),
                    Endpoint::Tcp {
                        address,
                        unit: tcp.unit,
                    },
                ))
            }
            ModbusLink::Rtu(_) => {
                return Err(unavailable(
                    format!("Modbus RTU instrument `{}`", b.name),
                    "RTU over a serial port lands with the serial backends",
                ));
            }
            ModbusLink::Virtual(_) => {
                return Err(unavailable(
                    format!("virtual instrument `{}`", b.name),
                    "the virtual bench is not in this build yet",
                ));
            }
        };
        instruments.insert(b.name.clone(), opened.clone());
        Ok(opened)
    };
    for step in plan.all_steps() {
        match &step.action {
            BoundAction::Power { switch, .. } => {
                let b = match switch {
                    rigor_plan::plan::PowerBinding::Supply { instrument, .. }
                    | rigor_plan::plan::PowerBinding::Relay { instrument, .. } => instrument,
                };
                instrument(b)?;
            }
            BoundAction::InstrumentRead { instrument: b, .. }
            | BoundAction::InstrumentWrite { instrument: b, .. } => {
                instrument(b)?;
            }
            BoundAction::Measure {
                source: rigor_plan::plan::MeasureSource::Instrument { instrument: b, .. },
                ..
            } => {
                instrument(b)?;
            }
            BoundAction::GpioSet { line, .. }
            | BoundAction::GpioPulse { line, .. }
            | BoundAction::GpioRead { line, .. }
            | BoundAction::GpioExpect { line, .. }
            | BoundAction::GpioWaitEdge { line, .. }
            | BoundAction::GpioMeasure { line, .. } => {
                if devices.lines.contains_key(&line.channel) {
                    continue;
                }
                let opened: Arc<dyn DigitalLine> = match &line.line {
                    GpioLine::Modbus(m) => {
                        let Some(conn) = plan.instruments.get(&m.instrument) else {
                            return Err(unavailable(
                                format!("instrument `{}`", m.instrument),
                                "the rig does not describe it",
                            ));
                        };
                        Arc::new(ModbusLine::new(instrument(conn)?, &m.channel, &m.channel))
                    }
                    GpioLine::Gpiochip(_) => {
                        return Err(unavailable(
                            format!("GPIO line `{}`", line.channel),
                            "the Linux GPIO character-device backend is not written yet",
                        ));
                    }
                    GpioLine::Virtual => {
                        return Err(unavailable(
                            format!("virtual line `{}`", line.channel),
                            "the virtual bench is not in this build yet",
                        ));
                    }
                };
                devices.lines.insert(line.channel.clone(), opened);
            }
            BoundAction::NetImpair { link, .. } | BoundAction::NetClear { link } => {
                if devices.links.contains_key(&link.channel) {
                    continue;
                }
                let opened: Arc<dyn NetImpairment> = match &link.point {
                    ImpairmentPoint::Proxy(p) => {
                        let listen: SocketAddr =
                            p.listen.parse().map_err(|_| OpenError::Address {
                                slot: slot.clone(),
                                address: p.listen.clone(),
                            })?;
                        let proxy = ImpairmentProxy::start(listen, p.upstream.clone())
                            .await
                            .map_err(|source| OpenError::Io {
                                slot: slot.clone(),
                                what: format!("the impairment proxy on {listen}"),
                                source,
                            })?;
                        Arc::new(proxy)
                    }
                    ImpairmentPoint::Tun(_) | ImpairmentPoint::Netem(_) => {
                        return Err(unavailable(
                            format!("impairment point `{}`", link.channel),
                            "only the userspace proxy is written yet",
                        ));
                    }
                    ImpairmentPoint::Virtual => {
                        return Err(unavailable(
                            format!("virtual impairment point `{}`", link.channel),
                            "the virtual bench is not in this build yet",
                        ));
                    }
                };
                devices.links.insert(link.channel.clone(), opened);
            }
            BoundAction::Flash { .. } => {
                return Err(unavailable(
                    "the debug probe".into(),
                    "flashing backends land with the hardware paths",
                ));
            }
            BoundAction::ConsoleSend { .. }
            | BoundAction::ConsoleExpect { .. }
            | BoundAction::ConsoleCapture { .. } => {
                if devices.console.is_some() {
                    continue;
                }
                let Some(binding) = &plan.console else {
                    continue;
                };
                let name = match &binding.port {
                    SerialPort::Path(p) => PortName::Path(p.clone()),
                    SerialPort::Usb(id) => PortName::usb(id).ok_or_else(|| {
                        unavailable(
                            format!("serial port `{id}`"),
                            "it is not a VID:PID:SERIAL identity",
                        )
                    })?,
                    SerialPort::Virtual => {
                        return Err(unavailable(
                            format!("virtual console `{}`", binding.channel),
                            "the virtual bench is not in this build yet",
                        ));
                    }
                };
                let console =
                    SerialConsole::open(name, binding.baud).map_err(|e| OpenError::Io {
                        slot: slot.clone(),
                        what: format!("console `{}`", binding.channel),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                devices.console = Some(Box::new(console));
            }
            BoundAction::I2cRead { target, .. }
            | BoundAction::I2cWrite { target, .. }
            | BoundAction::I2cExpect { target, .. } => {
                return Err(unavailable(
                    format!("I²C bus `{}`", target.channel),
                    "the i2c-dev backend is not written yet",
                ));
            }
            _ => {}
        }
    }
    devices.instruments = instruments;
    Ok(devices)
}
