//! The bound plan: a scenario with every logical name resolved to a concrete channel, every
//! variable substituted, every timeout and limit known. The engine runs nothing else.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rigor_model::Origin;
use rigor_model::action::{Edge, OtaQuantity, PowerState, SignalQuantity};
use rigor_model::expression::Expression;
use rigor_model::instrument::InstrumentModel;
use rigor_model::limits::{Comparator, MarginalBand};
use rigor_model::pattern::{Pattern, WholeMatch};
use rigor_model::profile::{FlashMethod, ImageFormat, LineEnding, Signing};
use rigor_model::rig::{
    GpioLine, I2cBus, ImpairmentPoint, ModbusLink, Probe, SerialPort, UpdateServerPoint,
};
use rigor_model::step::OnFail;
use rigor_model::unit::Unit;
use rigor_model::value::Scalar;
use serde::Serialize;

/// A scenario bound to one generation, fixture and rig slot.
#[derive(Debug, Clone, Serialize)]
pub struct BoundPlan {
    /// Which scenario, exactly.
    pub scenario: ScenarioIdentity,
    /// The device profile's id.
    pub profile: String,
    /// The family.
    pub family: String,
    /// The generation.
    pub generation: String,
    /// The fixture's id.
    pub fixture: String,
    /// The rig's id.
    pub rig: String,
    /// The slot's name.
    pub slot: String,
    /// The station id, if the rig names one.
    pub station: Option<String>,
    /// Every parameter's value.
    pub parameters: BTreeMap<String, Scalar>,
    /// SHA-256 over every measurement's name and limits: changes when any limit changes.
    pub limit_set_hash: String,
    /// The MCU as probe-rs names it, from the profile.
    pub chip: Option<String>,
    /// The console, if the scenario uses it.
    pub console: Option<ConsoleBinding>,
    /// How the unit tells its serial number on the console, if its profile says and the scenario
    /// uses the console: for runs not given a serial.
    pub serial_query: Option<IdentityQuery>,
    /// How the unit tells the firmware it carries (`identity.firmware`), if its profile says and
    /// the scenario uses the console: for runs that flash nothing, so their record names it.
    pub firmware_query: Option<IdentityQuery>,
    /// Every rig instrument the slot reaches (its own, and those behind its Modbus lines), by rig name.
    pub instruments: BTreeMap<String, InstrumentBinding>,
    /// Setup steps.
    pub setup: Vec<BoundStep>,
    /// Test steps.
    pub steps: Vec<BoundStep>,
    /// Teardown steps.
    pub teardown: Vec<BoundStep>,
}

/// A scenario's name, version and content hash, as records keep them.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioIdentity {
    /// Name.
    pub name: String,
    /// Version.
    pub version: u32,
    /// SHA-256 of the file and every fragment it includes.
    pub content_hash: String,
}

/// The console port and how to talk to it.
#[derive(Debug, Clone, Serialize)]
pub struct ConsoleBinding {
    /// The slot's channel name.
    pub channel: String,
    /// The port.
    pub port: SerialPort,
    /// Baud rate from the profile.
    pub baud: u32,
    /// Line ending from the profile.
    pub line_ending: LineEnding,
    /// Delay between characters sent.
    pub char_delay: Option<Duration>,
}

/// A console command whose answer carries a piece of the unit's identity (its serial number,
/// the firmware it carries).
#[derive(Debug, Clone, Serialize)]
pub struct IdentityQuery {
    /// The command.
    pub send: String,
    /// A regular expression whose only named group is the value.
    pub expect: Pattern,
}

/// One step, bound.
#[derive(Debug, Clone, Serialize)]
pub struct BoundStep {
    /// The step's id, if it has one.
    pub id: Option<String>,
    /// Its label in reports.
    pub label: String,
    /// Where it was written.
    pub origin: Origin,
    /// How long it may take.
    pub timeout: Duration,
    /// What a failure does.
    pub on_fail: OnFail,
    /// What it does, with concrete channels.
    pub action: BoundAction,
}

/// A digital line, by signal and channel.
#[derive(Debug, Clone, Serialize)]
pub struct LineBinding {
    /// The profile's signal name.
    pub signal: String,
    /// The slot's channel name.
    pub channel: String,
    /// The line.
    pub line: GpioLine,
    /// True when the signal is active low (so `active` means electrically low).
    pub active_low: bool,
}

/// An instrument, bound.
#[derive(Debug, Clone, Serialize)]
pub struct InstrumentBinding {
    /// The slot's name for it (`psu`).
    pub alias: String,
    /// The rig's name for it.
    pub name: String,
    /// Its register map.
    #[serde(skip)]
    pub model: Arc<InstrumentModel>,
    /// The model's id.
    pub model_id: String,
    /// How to reach it.
    pub link: ModbusLink,
}

/// How the slot powers the device.
#[derive(Debug, Clone, Serialize)]
pub enum PowerBinding {
    /// A programmable supply.
    Supply {
        /// The supply.
        instrument: InstrumentBinding,
        /// Output enable channel.
        enable: String,
        /// Voltage set channel.
        set_voltage: Option<String>,
        /// Current limit channel.
        set_current: Option<String>,
    },
    /// A relay.
    Relay {
        /// The relay board.
        instrument: InstrumentBinding,
        /// The relay's channel.
        channel: String,
    },
    /// A USB hub's port.
    UsbHub {
        /// The hub's location (`1-1`).
        hub: String,
        /// The port.
        port: u32,
    },
}

impl PowerBinding {
    /// The name the slot's opened devices know the switch by: the instrument's, or
    /// `usb-hub:HUB:PORT` for a hub port.
    pub fn device_name(&self) -> String {
        match self {
            PowerBinding::Supply { instrument, .. } | PowerBinding::Relay { instrument, .. } => {
                instrument.name.clone()
            }
            PowerBinding::UsbHub { hub, port } => format!("usb-hub:{hub}:{port}"),
        }
    }
}

/// An I²C part, bound.
#[derive(Debug, Clone, Serialize)]
pub struct I2cTarget {
    /// The slot's channel name.
    pub channel: String,
    /// The bus.
    pub bus: I2cBus,
    /// The profile's name of the part.
    pub device: String,
    /// Its 7-bit address.
    pub address: u8,
}

/// A network impairment point, bound.
#[derive(Debug, Clone, Serialize)]
pub struct LinkBinding {
    /// The profile's link name.
    pub link: String,
    /// The slot's channel name.
    pub channel: String,
    /// The point.
    pub point: ImpairmentPoint,
}

/// Limits, resolved and in a known unit.
#[derive(Debug, Clone, Serialize)]
pub struct BoundLimits {
    /// How the value is judged.
    pub comparator: Comparator,
    /// The unit of the comparator's numbers (values are converted into it before judging).
    pub unit: Option<Unit>,
    /// The marginal band.
    pub marginal: Option<MarginalBand>,
    /// Where the limits were written (the scenario step, or the profile variable).
    pub origin: Origin,
}

/// Where a measurement's value comes from.
#[derive(Debug, Clone, Serialize)]
pub enum MeasureSource {
    /// An instrument channel.
    Instrument {
        /// The instrument.
        instrument: InstrumentBinding,
        /// The channel.
        channel: String,
        /// Average this many readings.
        samples: u32,
    },
    /// A captured value.
    Capture(String),
    /// An arithmetic expression over captured values and numeric variables.
    Expr(Expression),
}

/// What a step does, with every name resolved.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum BoundAction {
    /// Write firmware.
    Flash {
        /// The image path, variables substituted.
        image: String,
        /// The method.
        method: FlashMethod,
        /// The slot's probe.
        probe: Probe,
        /// Read back after writing.
        verify: bool,
        /// Formats the generation accepts.
        formats: Vec<ImageFormat>,
        /// Signing rules.
        signing: Option<Signing>,
        /// Where a raw binary goes.
        base_address: Option<u64>,
    },
    /// Switch power.
    Power {
        /// On, off or cycle.
        state: PowerState,
        /// Supply voltage.
        volts: f64,
        /// Current limit.
        current_limit_amps: f64,
        /// Off time of a cycle.
        off_for: Duration,
        /// The switch.
        switch: PowerBinding,
    },
    /// Change the console's baud rate.
    ConsoleBaud {
        /// The new rate.
        baud: u32,
    },
    /// Send text.
    ConsoleSend {
        /// The text, variables substituted.
        text: String,
        /// Line ending.
        line_ending: LineEnding,
        /// Delay between characters.
        char_delay: Option<Duration>,
    },
    /// Wait for a pattern.
    ConsoleExpect {
        /// The pattern, variables substituted, compiled.
        pattern: Pattern,
        /// How long to wait.
        within: Duration,
    },
    /// Capture output.
    ConsoleCapture {
        /// The value's name.
        name: String,
        /// End pattern.
        until: Option<Pattern>,
        /// Or duration.
        duration: Option<Duration>,
    },
    /// Drive a line.
    GpioSet {
        /// The line.
        line: LineBinding,
        /// Electrical level: true is high.
        high: bool,
    },
    /// Pulse a line.
    GpioPulse {
        /// The line.
        line: LineBinding,
        /// Electrical level during the pulse: true is high.
        high: bool,
        /// Pulse length.
        duration: Duration,
    },
    /// Read a line into a value.
    GpioRead {
        /// The line.
        line: LineBinding,
        /// The value's name (1 active, 0 inactive).
        name: String,
    },
    /// Check a line's level.
    GpioExpect {
        /// The line.
        line: LineBinding,
        /// Electrical level expected: true is high.
        high: bool,
        /// How long it may take.
        within: Duration,
    },
    /// Wait for an edge (electrical).
    GpioWaitEdge {
        /// The line.
        line: LineBinding,
        /// Which edge, electrically.
        edge: Edge,
        /// How long to wait.
        within: Duration,
    },
    /// Measure a toggling line.
    GpioMeasure {
        /// The measurement's name.
        name: String,
        /// The line.
        line: LineBinding,
        /// What to measure.
        quantity: SignalQuantity,
        /// Observation window.
        window: Duration,
        /// Limits.
        limits: BoundLimits,
    },
    /// Read I²C bytes.
    I2cRead {
        /// The part.
        target: I2cTarget,
        /// Register.
        register: u8,
        /// Byte count.
        bytes: u8,
        /// The value's name.
        name: String,
    },
    /// Write I²C bytes.
    I2cWrite {
        /// The part.
        target: I2cTarget,
        /// Register.
        register: u8,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Compare I²C bytes.
    I2cExpect {
        /// The part.
        target: I2cTarget,
        /// Register.
        register: u8,
        /// Expected bytes.
        equals: Vec<u8>,
        /// Compared bits.
        mask: Option<Vec<u8>>,
    },
    /// Read an instrument channel.
    InstrumentRead {
        /// The instrument.
        instrument: InstrumentBinding,
        /// The channel.
        channel: String,
        /// The value's name.
        name: String,
    },
    /// Write an instrument channel.
    InstrumentWrite {
        /// The instrument.
        instrument: InstrumentBinding,
        /// The channel.
        channel: String,
        /// The value.
        value: Scalar,
    },
    /// Take a measurement.
    Measure {
        /// Its name.
        name: String,
        /// Where the value comes from.
        source: MeasureSource,
        /// The unit the value comes in.
        unit: Option<Unit>,
        /// Wait before reading.
        settle: Option<Duration>,
        /// Limits.
        limits: BoundLimits,
        /// For reports.
        description: Option<String>,
    },
    /// Impair a link.
    NetImpair {
        /// The link.
        link: LinkBinding,
        /// Added latency.
        latency: Option<Duration>,
        /// Jitter.
        jitter: Option<Duration>,
        /// Loss in percent.
        loss_percent: Option<f64>,
        /// Bandwidth cap.
        bandwidth_kbps: Option<u32>,
        /// Cut entirely.
        partition: bool,
        /// Clear after.
        duration: Option<Duration>,
    },
    /// Clear a link.
    NetClear {
        /// The link.
        link: LinkBinding,
    },
    /// Tell the slot's update server what to offer.
    OtaOffer {
        /// The slot's update server.
        server: UpdateServerPoint,
        /// The image, variables substituted; its manifest is next to it.
        image: String,
        /// Cut each of the next `cuts` transfers after this many bytes.
        cut_after: Option<u64>,
        /// How many transfers to cut.
        cuts: u32,
        /// Corrupt the image in transit.
        corrupt: bool,
        /// Serve only this many bytes of it.
        truncate: Option<u64>,
        /// Stall the next transfer after some bytes, for a while.
        stall: Option<(u64, Duration)>,
    },
    /// Measure the update transfers from the server's log.
    OtaMeasure {
        /// The slot's update server.
        server: UpdateServerPoint,
        /// Its name.
        name: String,
        /// What.
        quantity: OtaQuantity,
        /// Limits.
        limits: BoundLimits,
    },
    /// Wait.
    Wait {
        /// How long.
        duration: Duration,
    },
    /// Wait until every unit of the session that names this barrier reaches it.
    Barrier {
        /// The barrier's name.
        name: String,
    },
    /// Retry a group.
    Retry {
        /// Attempts in all.
        attempts: u32,
        /// Wait between attempts.
        backoff: Option<Duration>,
        /// The steps.
        steps: Vec<BoundStep>,
    },
    /// Ask the operator.
    Prompt {
        /// The message, variables substituted.
        message: String,
        /// Keep typed text under this name.
        input: Option<String>,
        /// Buttons.
        choices: Vec<String>,
        /// The pattern a text answer must match, whole.
        pattern: Option<WholeMatch>,
        /// The picture shown with the message, found when bound.
        image: Option<PathBuf>,
    },
    /// Run a command on the station.
    Shell {
        /// The command, variables substituted.
        run: String,
        /// Passing exit status.
        expect_exit: i32,
        /// Keep stdout under this name.
        output: Option<String>,
    },
}

impl BoundPlan {
    /// Every step in order, retry groups' steps included.
    pub fn all_steps(&self) -> Vec<&BoundStep> {
        fn walk<'a>(steps: &'a [BoundStep], out: &mut Vec<&'a BoundStep>) {
            for s in steps {
                out.push(s);
                if let BoundAction::Retry { steps, .. } = &s.action {
                    walk(steps, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.setup, &mut out);
        walk(&self.steps, &mut out);
        walk(&self.teardown, &mut out);
        out
    }
}
