//! A slot of a `qemu:` rig: the emulated board started for it, and its `virtual` channels opened
//! on QEMU's own interfaces: the console on the board's UART pty, the probe on QEMU's GDB stub,
//! GPIO through qtest, the environment's sensors through QMP, and the board's Ethernet through
//! the packet engine when the plan impairs a `tun:` point.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rigor_gdb_remote::{GdbFlasher, ResetMethod};
use rigor_hal::{ConsolePort, DigitalLine, HalError, async_trait};
use rigor_model::profile::{Direction, Profile};
use rigor_model::rig::{GpioLine, ImpairmentPoint, Probe, QemuRig, TunPoint};
use rigor_plan::plan::{BoundAction, BoundPlan, MeasureSource};
use rigor_qemu::{BoardNetwork, Environment, GpioPort, QemuConfig, QemuGpio, QemuMachine};
use rigor_runner::devices::SlotDevices;

use crate::open::OpenError;

/// The board's UART: rigor's serial console on QEMU's pty, whose failures say whether the
/// board died (QEMU aborted on a CPU lockup: the device's fault) or the port failed (the rig's).
struct BoardConsole {
    port: rigor_console::SerialConsole,
    machine: Arc<QemuMachine>,
}

impl BoardConsole {
    /// The device's death if that is why the port failed, else the port's error.
    async fn why(&self, e: HalError) -> HalError {
        // The pty hangs up as QEMU dies; its exit status follows within moments.
        match self.machine.wait_exit(Duration::from_millis(500)).await {
            Ok(exit) if exit.is_dead_device() => exit.into_error().into(),
            _ => e,
        }
    }
}

#[async_trait]
impl ConsolePort for BoardConsole {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, HalError> {
        match self.port.read(buf).await {
            Ok(n) => Ok(n),
            Err(e) => Err(self.why(e).await),
        }
    }
    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), HalError> {
        match self.port.write_all(bytes).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.why(e).await),
        }
    }
    async fn set_baud(&mut self, baud: u32) -> Result<(), HalError> {
        self.port.set_baud(baud).await
    }
    async fn reopen(&mut self) -> Result<(), HalError> {
        self.machine.check()?;
        self.port.reopen().await
    }
    fn describe(&self) -> String {
        format!("the board's UART ({})", self.port.describe())
    }
}

/// Starts a board with blank flash for `plan`'s slot and opens what the plan uses.
pub async fn start(
    rig: &QemuRig,
    plan: &BoundPlan,
    profile: &Profile,
) -> Result<(Arc<QemuMachine>, SlotDevices), OpenError> {
    let slot = &plan.slot;
    let gdb: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| OpenError::io(slot, "a free port for QEMU's GDB stub", e))?;
    let mut config = QemuConfig::blank();
    config.machine = rig.machine.clone();
    config.devices = rig.devices.clone();
    config.gdb = Some(gdb);
    let mut devices = SlotDevices::default();
    // The board's address is its firmware's: the fixture firmware's is the one there is.
    let board = BoardNetwork::fridge_fw();
    let link = match board_link(plan)? {
        Some((channel, point)) => {
            let link = rigor_netfault::open_tun(point)
                .await
                .map_err(|e| OpenError::io(slot, format!("impairment point `{channel}`"), e))?;
            config = config.nic(board.nic());
            Some((channel, link))
        }
        None => None,
    };
    let machine = Arc::new(
        QemuMachine::start(&config)
            .await
            .map_err(|e| OpenError::io(slot, "QEMU", e))?,
    );
    if let Some((channel, link)) = link {
        board
            .wire(
                link.device_namespace(),
                link.network_namespace(),
                link.interface(),
            )
            .map_err(|e| OpenError::io(slot, format!("the board's network on `{channel}`"), e))?;
        tracing::info!(
            slot = %slot,
            channel,
            backend = %rigor_netfault::Backend::Tun,
            "impairment point opened for the board's Ethernet"
        );
        devices.links.insert(channel.to_owned(), Arc::new(link));
    }
    if let Some(console) = &plan.console {
        // Opened before the board runs: what it says before anyone listens is lost.
        let port = machine
            .open_console(console.baud)
            .await
            .map_err(|e| OpenError::io(slot, "the board's console", e))?;
        devices.console = Some(Box::new(BoardConsole {
            port,
            machine: machine.clone(),
        }));
    }
    for step in plan.all_steps() {
        match &step.action {
            BoundAction::Flash {
                probe: Probe::Virtual,
                ..
            } => {
                // QEMU's core reads the vector table at reset: a plain continue leaves SP at 0.
                devices.flasher = Some(Box::new(GdbFlasher::new(
                    gdb.to_string(),
                    ResetMethod::Monitor("system_reset".into()),
                )));
            }
            BoundAction::GpioSet { line, .. }
            | BoundAction::GpioPulse { line, .. }
            | BoundAction::GpioRead { line, .. }
            | BoundAction::GpioExpect { line, .. }
            | BoundAction::GpioWaitEdge { line, .. }
            | BoundAction::GpioMeasure { line, .. } => {
                if devices.lines.contains_key(&line.channel)
                    || !matches!(line.line, GpioLine::Virtual)
                {
                    continue;
                }
                let pin = rig
                    .gpio
                    .get(&line.channel)
                    .ok_or_else(|| OpenError::Unavailable {
                        slot: slot.clone(),
                        what: format!("channel `{}`", line.channel),
                        why: "it has no pin in the rig's `qemu.gpio`",
                    })?;
                let port = port(&pin.port).ok_or_else(|| OpenError::Unavailable {
                    slot: slot.clone(),
                    what: format!("GPIO port `{}`", pin.port),
                    why: "the board's GPIO ports are A to G",
                })?;
                let path = rigor_qemu::gpio_port_path(machine.qmp(), port)
                    .await
                    .map_err(|e| OpenError::io(slot, format!("GPIO port {}", pin.port), e))?;
                let output = profile
                    .signals
                    .get(&line.signal)
                    .is_some_and(|s| s.direction == Direction::Output);
                let opened: Arc<dyn DigitalLine> = if output {
                    Arc::new(
                        QemuGpio::output(machine.qtest().clone(), path, pin.line)
                            .await
                            .map_err(|e| {
                                OpenError::io(slot, format!("line {}", line.channel), e)
                            })?,
                    )
                } else {
                    Arc::new(QemuGpio::input(machine.qtest().clone(), path, pin.line))
                };
                devices.lines.insert(line.channel.clone(), opened);
            }
            BoundAction::InstrumentRead { instrument, .. }
            | BoundAction::InstrumentWrite { instrument, .. }
            | BoundAction::Measure {
                source: MeasureSource::Instrument { instrument, .. },
                ..
            } => {
                devices
                    .instruments
                    .entry(instrument.name.clone())
                    .or_insert_with(|| {
                        Arc::new(Environment::new(machine.qmp().clone(), rig.sensors.clone()))
                    });
            }
            _ => {}
        }
    }
    Ok((machine, devices))
}

/// The `tun:` point the plan's `net.*` steps use, if any: the board's Ethernet goes through it.
/// The board has one Ethernet controller, so one such point.
fn board_link(plan: &BoundPlan) -> Result<Option<(&str, &TunPoint)>, OpenError> {
    let mut found: Option<(&str, &TunPoint)> = None;
    for step in plan.all_steps() {
        let (BoundAction::NetImpair { link, .. } | BoundAction::NetClear { link }) = &step.action
        else {
            continue;
        };
        let ImpairmentPoint::Tun(point) = &link.point else {
            continue;
        };
        match found {
            Some((channel, _)) if channel != link.channel => {
                return Err(OpenError::Unavailable {
                    slot: plan.slot.clone(),
                    what: format!("impairment point `{}`", link.channel),
                    why: "the board has one Ethernet controller, already on another `tun:` point",
                });
            }
            Some(_) => {}
            None => found = Some((link.channel.as_str(), point)),
        }
    }
    Ok(found)
}

fn port(name: &str) -> Option<GpioPort> {
    Some(match name {
        "A" => GpioPort::A,
        "B" => GpioPort::B,
        "C" => GpioPort::C,
        "D" => GpioPort::D,
        "E" => GpioPort::E,
        "F" => GpioPort::F,
        "G" => GpioPort::G,
        _ => return None,
    })
}
