//! Opening a bound plan's backends: where the rig's channel descriptions meet the driver crates. A channel kind without a working backend on this build is an error that says
//! so, never a silent stand-in. `virtual` channels are the virtual bench's, opened through the same
//! serial and Modbus backends as a rack's.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rigor_bench::{InstrumentEndpoint, SlotEndpoints};
use rigor_console::{PortSelector, SerialConsole, UsbId};
use rigor_drivers::gpio_cdev::{GpioCdevLine, Role};
use rigor_drivers::i2c_dev::I2cDevBus;
use rigor_drivers::modbus::{Endpoint, ModbusInstrument, ModbusLine, RtuBuses, RtuSettings};
use rigor_drivers::net_proxy::ImpairmentProxy;
use rigor_gdb_remote::{GdbFlasher, ResetMethod};
use rigor_hal::{DigitalLine, Instrument, NetImpairment};
use rigor_model::rig::{
    GpioLine, I2cBus, ImpairmentPoint, ModbusLink, Probe, SerialPort, UpdateServerPoint,
};
use rigor_plan::plan::{
    BoundAction, BoundPlan, InstrumentBinding, LineBinding, MeasureSource, PowerBinding,
};
#[cfg(feature = "probe-rs")]
use rigor_probe_rs::ProbeRsFlasher;
use rigor_runner::devices::SlotDevices;

/// A channel that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// This build has no backend for the channel kind yet, or no bench runs for a virtual one.
    #[error("slot `{slot}`: {what} is not available ({why})")]
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
    /// The OS or the device refused (a port in use, a missing device, a board that did not start).
    #[error("slot `{slot}`: cannot open {what}")]
    Io {
        /// The slot.
        slot: String,
        /// The channel.
        what: String,
        /// Why: the driver's error, with the OS's reason in its sources.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OpenError {
    /// `what` on `slot` failed with `source`.
    pub(crate) fn io(
        slot: &str,
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        OpenError::Io {
            slot: slot.to_owned(),
            what: what.into(),
            source: source.into(),
        }
    }
}

/// Opens backends for one slot, sharing instruments between the steps that use them.
struct Opener<'a> {
    plan: &'a BoundPlan,
    bench: Option<&'a SlotEndpoints>,
    rtu: &'a Mutex<RtuBuses>,
    devices: SlotDevices,
    instruments: HashMap<String, Arc<dyn Instrument>>,
    io_module: Option<Arc<dyn Instrument>>,
}

impl Opener<'_> {
    fn unavailable(&self, what: String, why: &'static str) -> OpenError {
        OpenError::Unavailable {
            slot: self.plan.slot.clone(),
            what,
            why,
        }
    }

    fn address(&self, text: &str) -> Result<SocketAddr, OpenError> {
        text.parse().map_err(|_| OpenError::Address {
            slot: self.plan.slot.clone(),
            address: text.to_owned(),
        })
    }

    fn instrument(&mut self, b: &InstrumentBinding) -> Result<Arc<dyn Instrument>, OpenError> {
        if let Some(i) = self.instruments.get(&b.name) {
            return Ok(i.clone());
        }
        let (address, unit) = match &b.link {
            ModbusLink::Tcp(tcp) => (self.address(&tcp.address)?, tcp.unit),
            ModbusLink::Virtual(v) => match self.bench.and_then(|e| e.instruments.get(&b.name)) {
                Some(InstrumentEndpoint::Tcp(a)) => (*a, v.unit),
                Some(InstrumentEndpoint::Rtu(path)) => {
                    // The bench's RS-485 line, reached through the same RTU driver as a rack's.
                    let bus = self
                        .rtu
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .bus(RtuSettings::new(path.clone(), 115_200));
                    let bus = bus.map_err(|e| {
                        OpenError::io(
                            &self.plan.slot,
                            format!("virtual RTU instrument `{}`", b.name),
                            e,
                        )
                    })?;
                    let opened: Arc<dyn Instrument> = Arc::new(ModbusInstrument::new(
                        &b.name,
                        b.model.clone(),
                        Endpoint::Rtu { bus, unit: v.unit },
                    ));
                    self.instruments.insert(b.name.clone(), opened.clone());
                    return Ok(opened);
                }
                None => {
                    return Err(self.unavailable(
                        format!("virtual instrument `{}`", b.name),
                        "no virtual bench runs for this slot",
                    ));
                }
            },
            ModbusLink::Rtu(rtu) => {
                let bus = RtuSettings::from_model(rtu).and_then(|settings| {
                    self.rtu
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .bus(settings)
                });
                let bus = bus.map_err(|e| {
                    OpenError::io(
                        &self.plan.slot,
                        format!("Modbus RTU instrument `{}`", b.name),
                        e,
                    )
                })?;
                let opened: Arc<dyn Instrument> = Arc::new(ModbusInstrument::new(
                    &b.name,
                    b.model.clone(),
                    Endpoint::Rtu {
                        bus,
                        unit: rtu.unit,
                    },
                ));
                self.instruments.insert(b.name.clone(), opened.clone());
                return Ok(opened);
            }
        };
        let opened: Arc<dyn Instrument> = Arc::new(ModbusInstrument::new(
            &b.name,
            b.model.clone(),
            Endpoint::Tcp { address, unit },
        ));
        self.instruments.insert(b.name.clone(), opened.clone());
        Ok(opened)
    }

    fn line(&mut self, line: &LineBinding) -> Result<(), OpenError> {
        if self.devices.lines.contains_key(&line.channel) {
            return Ok(());
        }
        let opened: Arc<dyn DigitalLine> = match &line.line {
            GpioLine::Modbus(m) => {
                let Some(conn) = self.plan.instruments.get(&m.instrument).cloned() else {
                    return Err(self.unavailable(
                        format!("instrument `{}`", m.instrument),
                        "the rig does not describe it",
                    ));
                };
                Arc::new(ModbusLine::new(
                    self.instrument(&conn)?,
                    &m.channel,
                    &m.channel,
                ))
            }
            GpioLine::Virtual => {
                let Some(e) = self.bench else {
                    return Err(self.unavailable(
                        format!("virtual line `{}`", line.channel),
                        "no virtual bench runs for this slot",
                    ));
                };
                let io = self
                    .io_module
                    .get_or_insert_with(|| {
                        Arc::new(ModbusInstrument::new(
                            "digital-io",
                            e.io_model.clone(),
                            Endpoint::Tcp {
                                address: e.io,
                                unit: rigor_bench::servers::IO_UNIT,
                            },
                        ))
                    })
                    .clone();
                Arc::new(ModbusLine::new(
                    io,
                    format!("{}.drive", line.channel),
                    format!("{}.level", line.channel),
                ))
            }
            GpioLine::Gpiochip(g) => {
                // A line some step drives is requested as an output; one only observed, as an
                // input with edge events.
                let driven = self.plan.all_steps().iter().any(|s| {
                    matches!(&s.action,
                        BoundAction::GpioSet { line: l, .. } | BoundAction::GpioPulse { line: l, .. }
                            if l.channel == line.channel)
                });
                let role = if driven { Role::Drive } else { Role::Sense };
                Arc::new(GpioCdevLine::open(&g.chip, g.line, role).map_err(|e| {
                    OpenError::io(&self.plan.slot, format!("GPIO line `{}`", line.channel), e)
                })?)
            }
        };
        self.devices.lines.insert(line.channel.clone(), opened);
        Ok(())
    }

    async fn link(&mut self, channel: &str, point: &ImpairmentPoint) -> Result<(), OpenError> {
        if self.devices.links.contains_key(channel) {
            return Ok(());
        }
        let opened: Arc<dyn NetImpairment> = match point {
            ImpairmentPoint::Proxy(p) => {
                let listen = self.address(&p.listen)?;
                let proxy = ImpairmentProxy::start(listen, p.upstream.clone())
                    .await
                    .map_err(|e| {
                        OpenError::io(
                            &self.plan.slot,
                            format!("the impairment proxy on {listen}"),
                            e,
                        )
                    })?;
                Arc::new(proxy)
            }
            ImpairmentPoint::Virtual => match self.bench.and_then(|e| e.uplink.clone()) {
                Some(proxy) => proxy,
                None => {
                    return Err(self.unavailable(
                        format!("virtual impairment point `{channel}`"),
                        "no simulated unit with an uplink sits in this slot",
                    ));
                }
            },
            // A device link through rigor's packet engine, in namespaces rigor owns.
            ImpairmentPoint::Tun(point) => {
                let link = rigor_netfault::open_point(point).await.map_err(|e| {
                    OpenError::io(&self.plan.slot, format!("impairment point `{channel}`"), e)
                })?;
                Arc::from(link)
            }
            // The kernel's netem, tbf and nft on a host interface; without them, an error that
            // says why and points to `tun:`.
            ImpairmentPoint::Netem(point) => {
                let link = rigor_netfault::open_netem_point(point).map_err(|e| {
                    OpenError::io(&self.plan.slot, format!("impairment point `{channel}`"), e)
                })?;
                Arc::from(link)
            }
        };
        let backend = match point {
            ImpairmentPoint::Tun(_) => Some(rigor_netfault::Backend::Tun),
            ImpairmentPoint::Netem(_) => Some(rigor_netfault::Backend::Kernel),
            ImpairmentPoint::Proxy(_) | ImpairmentPoint::Virtual => None,
        };
        if let Some(backend) = backend {
            tracing::info!(slot = %self.plan.slot, channel, %backend, "impairment point opened");
        }
        self.devices.links.insert(channel.to_owned(), opened);
        Ok(())
    }

    /// Starts the slot's update server; a virtual one listens on loopback and the bench's unit
    /// reaches it through its slot's impairment point.
    async fn update_server(&mut self, point: &UpdateServerPoint) -> Result<(), OpenError> {
        if self.devices.update_server.is_some() {
            return Ok(());
        }
        let listen = match point {
            UpdateServerPoint::Listen(address) => self.address(address)?,
            UpdateServerPoint::Virtual => SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let server = rigor_update_server::UpdateServer::start(listen)
            .await
            .map_err(|e| {
                OpenError::io(&self.plan.slot, format!("the update server on {listen}"), e)
            })?;
        if let UpdateServerPoint::Virtual = point {
            let route = match self.bench {
                Some(bench) => bench
                    .route_updates(server.local_addr())
                    .await
                    .map_err(|e| {
                        OpenError::io(&self.plan.slot, "the way to the update server", e)
                    })?,
                None => None,
            };
            let Some(route) = route else {
                return Err(self.unavailable(
                    "the virtual update server".into(),
                    "no simulated unit with an uplink sits in this slot",
                ));
            };
            self.devices.keep.push(Box::new(route));
        }
        self.devices.update_server = Some(Arc::new(server));
        Ok(())
    }

    fn console(&mut self) -> Result<(), OpenError> {
        let Some(binding) = &self.plan.console else {
            return Ok(());
        };
        if self.devices.console.is_some() {
            return Ok(());
        }
        let name = match &binding.port {
            SerialPort::Path(p) => PortSelector::path(p),
            SerialPort::Usb(id) => match id.parse::<UsbId>() {
                Ok(id) => PortSelector::Usb(id),
                Err(_) => {
                    return Err(self.unavailable(
                        format!("serial port `{id}`"),
                        "it is not a USB identity VID:PID[:SERIAL] with hex ids (0403:6001:FT5XYZ12)",
                    ));
                }
            },
            SerialPort::Virtual => match self.bench {
                Some(e) => PortSelector::path(&e.console),
                None => {
                    return Err(self.unavailable(
                        format!("virtual console `{}`", binding.channel),
                        "no virtual bench runs for this slot",
                    ));
                }
            },
        };
        let console = SerialConsole::open(name, binding.baud).map_err(|e| {
            OpenError::io(&self.plan.slot, format!("console `{}`", binding.channel), e)
        })?;
        self.devices.console = Some(Box::new(console));
        Ok(())
    }

    fn flasher(&mut self, probe: &Probe) -> Result<(), OpenError> {
        if self.devices.flasher.is_some() {
            return Ok(());
        }
        match (probe, self.bench) {
            (Probe::Virtual, Some(e)) => {
                self.devices.flasher = Some(Box::new(e.flasher.clone()));
                Ok(())
            }
            (Probe::Virtual, None) => Err(self.unavailable(
                "the virtual probe".into(),
                "no virtual bench runs for this slot",
            )),
            (Probe::GdbRemote(g), _) => {
                let reset = g
                    .reset
                    .clone()
                    .map_or(ResetMethod::None, ResetMethod::Monitor);
                self.devices.flasher = Some(Box::new(GdbFlasher::new(g.address.clone(), reset)));
                Ok(())
            }
            #[cfg(not(feature = "probe-rs"))]
            (Probe::ProbeRs(_), _) => Err(self.unavailable(
                "the probe-rs probe".into(),
                "this rigor was built without its `probe-rs` feature",
            )),
            #[cfg(feature = "probe-rs")]
            (Probe::ProbeRs(p), _) => {
                let Some(chip) = &self.plan.chip else {
                    return Err(self.unavailable(
                        "the probe-rs probe".into(),
                        "the profile names no `mcu.chip` for probe-rs to attach to",
                    ));
                };
                let flasher = ProbeRsFlasher::new(Some(&p.selector), chip)
                    .map_err(|e| OpenError::io(&self.plan.slot, "the probe-rs probe", e))?;
                self.devices.flasher = Some(Box::new(flasher));
                Ok(())
            }
        }
    }

    fn i2c(&mut self, channel: &str, bus: &I2cBus) -> Result<(), OpenError> {
        if self.devices.i2c.contains_key(channel) {
            return Ok(());
        }
        match (bus, self.bench) {
            (I2cBus::Virtual, Some(e)) => {
                self.devices
                    .i2c
                    .insert(channel.to_owned(), Arc::new(e.i2c.clone()));
                Ok(())
            }
            (I2cBus::Linux(path), _) => {
                let bus = I2cDevBus::open(path).map_err(|e| {
                    OpenError::io(&self.plan.slot, format!("I²C bus `{channel}`"), e)
                })?;
                self.devices.i2c.insert(channel.to_owned(), Arc::new(bus));
                Ok(())
            }
            (I2cBus::Virtual, None) => Err(self.unavailable(
                format!("I²C bus `{channel}`"),
                "no virtual bench runs for this slot",
            )),
        }
    }
}

/// Opens every backend `plan` uses; `virtual` channels are the bench's, when one runs.
pub async fn open(
    plan: &BoundPlan,
    bench: Option<&SlotEndpoints>,
    rtu: &Mutex<RtuBuses>,
) -> Result<SlotDevices, OpenError> {
    let mut o = Opener {
        plan,
        bench,
        rtu,
        devices: SlotDevices::default(),
        instruments: HashMap::new(),
        io_module: None,
    };
    for step in plan.all_steps() {
        match &step.action {
            BoundAction::Power { switch, .. } => match switch {
                PowerBinding::Supply { instrument, .. }
                | PowerBinding::Relay { instrument, .. } => {
                    o.instrument(instrument)?;
                }
                PowerBinding::UsbHub { hub, port } => {
                    let opened: Arc<dyn Instrument> = Arc::new(rigor_usb::HubPort::new(
                        std::path::Path::new(rigor_usb::SYSFS_USB),
                        hub,
                        *port,
                    ));
                    o.instruments.insert(switch.device_name(), opened);
                }
            },
            BoundAction::InstrumentRead { instrument, .. }
            | BoundAction::InstrumentWrite { instrument, .. }
            | BoundAction::Measure {
                source: MeasureSource::Instrument { instrument, .. },
                ..
            } => {
                o.instrument(instrument)?;
            }
            BoundAction::GpioSet { line, .. }
            | BoundAction::GpioPulse { line, .. }
            | BoundAction::GpioRead { line, .. }
            | BoundAction::GpioExpect { line, .. }
            | BoundAction::GpioWaitEdge { line, .. }
            | BoundAction::GpioMeasure { line, .. } => o.line(line)?,
            BoundAction::NetImpair { link, .. } | BoundAction::NetClear { link } => {
                o.link(&link.channel, &link.point).await?
            }
            BoundAction::OtaOffer { server, .. } | BoundAction::OtaMeasure { server, .. } => {
                o.update_server(server).await?
            }
            BoundAction::Flash { probe, .. } => o.flasher(probe)?,
            BoundAction::ConsoleSend { .. }
            | BoundAction::ConsoleExpect { .. }
            | BoundAction::ConsoleCapture { .. } => o.console()?,
            BoundAction::I2cRead { target, .. }
            | BoundAction::I2cWrite { target, .. }
            | BoundAction::I2cExpect { target, .. } => {
                o.i2c(&target.channel, &target.bus)?;
            }
            _ => {}
        }
    }
    let mut devices = o.devices;
    devices.instruments = o.instruments;
    Ok(devices)
}
