//! A slot of a `qemu:` rig: the emulated board started for it, and its `virtual` channels opened
//! on QEMU's own interfaces: the console on the board's UART pty, the probe on QEMU's GDB stub,
//! GPIO through qtest, the environment's sensors through QMP.

use std::net::SocketAddr;
use std::sync::Arc;

use rigor_gdb_remote::{GdbFlasher, ResetMethod};
use rigor_hal::DigitalLine;
use rigor_model::profile::{Direction, Profile};
use rigor_model::rig::{GpioLine, Probe, QemuRig};
use rigor_plan::plan::{BoundAction, BoundPlan, MeasureSource};
use rigor_qemu::{Environment, GpioPort, QemuConfig, QemuGpio, QemuMachine};
use rigor_runner::devices::SlotDevices;

/// Starts a board with blank flash for `plan`'s slot and opens what the plan uses.
pub async fn start(
    rig: &QemuRig,
    plan: &BoundPlan,
    profile: &Profile,
) -> Result<(QemuMachine, SlotDevices), String> {
    let slot = &plan.slot;
    let gdb: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("slot `{slot}`: no free port for QEMU's GDB stub: {e}"))?;
    let mut config = QemuConfig::blank();
    config.machine = rig.machine.clone();
    config.devices = rig.devices.clone();
    config.gdb = Some(gdb);
    let machine = QemuMachine::start(&config)
        .await
        .map_err(|e| format!("slot `{slot}`: QEMU did not start: {e}"))?;
    let mut devices = SlotDevices::default();
    if let Some(console) = &plan.console {
        // Opened before the board runs: what it says before anyone listens is lost.
        let port = machine
            .open_console(console.baud)
            .await
            .map_err(|e| format!("slot `{slot}`: the board's console: {e}"))?;
        devices.console = Some(Box::new(port));
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
                let pin = rig.gpio.get(&line.channel).ok_or_else(|| {
                    format!(
                        "slot `{slot}`: channel `{}` has no pin in the rig's `qemu.gpio`",
                        line.channel
                    )
                })?;
                let port = port(&pin.port).ok_or_else(|| {
                    format!("slot `{slot}`: GPIO port `{}` is not A to G", pin.port)
                })?;
                let path = rigor_qemu::gpio_port_path(machine.qmp(), port)
                    .await
                    .map_err(|e| format!("slot `{slot}`: finding GPIO port {}: {e}", pin.port))?;
                let output = profile
                    .signals
                    .get(&line.signal)
                    .is_some_and(|s| s.direction == Direction::Output);
                let opened: Arc<dyn DigitalLine> = if output {
                    Arc::new(
                        QemuGpio::output(machine.qtest().clone(), path, pin.line)
                            .await
                            .map_err(|e| {
                                format!("slot `{slot}`: watching {}: {e}", line.channel)
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
