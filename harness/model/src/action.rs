//! The bodies of scenario steps: what each kind of step says.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::expression::Expression;
use crate::limits::Limits;
use crate::pattern::{Pattern, WholeMatch};
use crate::profile::{FlashMethod, LineEnding};
use crate::step::Step;
use crate::unit::Unit;
use crate::value::Scalar;

/// A body that may also be written as a single string (`power: on`, `console.send: version`).
pub trait FromShorthand: Sized {
    /// What the string form means; `Err` carries the message (and a `\nhelp: ` line).
    fn from_shorthand(s: &str) -> Result<Self, String>;

    /// Whether the shorthand's words are ones YAML 1.1 readers (PyYAML, many CI tools) read as
    /// booleans: `on` and `off` become `true` and `false` there.
    const YAML11_BOOLEANS: bool = false;

    /// What a boolean means where a YAML 1.1 reader turned the shorthand into one.
    fn from_yaml11_bool(b: bool) -> Result<Self, String> {
        Err(format!("`{b}` is not a value here"))
    }
}

/// Write firmware into the device.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Flash {
    /// Path of the image; `${build_dir}` and other variables are substituted.
    pub image: String,
    /// Force a method (default: the first of the profile's methods the slot's probe supports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<FlashMethod>,
    /// Read back and compare after writing (default true).
    #[serde(default = "yes")]
    pub verify: bool,
}

fn yes() -> bool {
    true
}

/// What a power step does. `on` and `off` may come as the booleans a YAML 1.1 reader makes of
/// them (`power: on` is `power: true` to PyYAML), so tools of either YAML version agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PowerState {
    /// Switch the supply on (at the profile's nominal voltage).
    On,
    /// Switch it off.
    Off,
    /// Off, wait, on.
    Cycle,
}

impl PowerState {
    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "on" => Ok(PowerState::On),
            "off" => Ok(PowerState::Off),
            "cycle" => Ok(PowerState::Cycle),
            other => {
                let help = crate::suggest::help(other, ["on", "off", "cycle"]).unwrap_or_default();
                Err(format!("unknown power state `{other}`\nhelp: {help}"))
            }
        }
    }

    fn from_bool(on: bool) -> Self {
        if on { PowerState::On } else { PowerState::Off }
    }
}

impl<'de> Deserialize<'de> for PowerState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PowerState;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("on, off or cycle")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<PowerState, E> {
                PowerState::parse(s).map_err(E::custom)
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<PowerState, E> {
                Ok(PowerState::from_bool(b))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for PowerState {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PowerState".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "on, off or cycle (true and false are on and off, as YAML 1.1 reads them)",
            "oneOf": [ { "enum": ["on", "off", "cycle"] }, { "type": "boolean" } ]
        })
    }
}

/// Switch the device's power.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Power {
    /// On, off or cycle.
    pub state: PowerState,
    /// Supply voltage instead of the profile's nominal one (for brown-out and margin tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volts: Option<f64>,
    /// How long a cycle stays off (default 500ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub off_for: Option<HumanDuration>,
}

impl FromShorthand for Power {
    fn from_shorthand(s: &str) -> Result<Self, String> {
        Ok(Power {
            state: PowerState::parse(s)?,
            volts: None,
            off_for: None,
        })
    }

    const YAML11_BOOLEANS: bool = true;

    fn from_yaml11_bool(b: bool) -> Result<Self, String> {
        Ok(Power {
            state: PowerState::from_bool(b),
            volts: None,
            off_for: None,
        })
    }
}

/// Send text to the console.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleSend {
    /// The text; the profile's line ending is appended.
    pub text: String,
    /// Override the profile's line ending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_ending: Option<LineEnding>,
    /// Override the profile's delay between characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub char_delay: Option<HumanDuration>,
}

impl FromShorthand for ConsoleSend {
    fn from_shorthand(s: &str) -> Result<Self, String> {
        Ok(ConsoleSend {
            text: s.to_owned(),
            line_ending: None,
            char_delay: None,
        })
    }
}

/// Wait for console output matching a pattern; named groups become captured values.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleExpect {
    /// A regular expression; `(?P<name>...)` groups are captured under their names.
    pub pattern: Pattern,
    /// How long to wait (default: the step's timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<HumanDuration>,
}

impl FromShorthand for ConsoleExpect {
    fn from_shorthand(s: &str) -> Result<Self, String> {
        Ok(ConsoleExpect {
            pattern: Pattern::new(s),
            within: None,
        })
    }
}

/// Capture console output as a value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleCapture {
    /// The name of the captured value.
    #[serde(rename = "as")]
    pub name: String,
    /// Capture until this pattern appears.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Pattern>,
    /// Capture for this long.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
}

/// Drive a device input.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpioSet {
    /// The profile's signal name.
    pub signal: String,
    /// `active`, `inactive`, `high`, `low`, or one of the signal's state names.
    pub level: String,
}

/// Drive a device input to a level for a while, then back.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpioPulse {
    /// The profile's signal name.
    pub signal: String,
    /// The level during the pulse.
    pub level: String,
    /// How long.
    #[serde(rename = "for")]
    pub duration: HumanDuration,
}

/// Read a signal's level into a value (1 active, 0 inactive).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpioRead {
    /// The profile's signal name.
    pub signal: String,
    /// The name of the value.
    #[serde(rename = "as")]
    pub name: String,
}

/// Check a signal's level, waiting up to `within` for it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpioExpect {
    /// The profile's signal name.
    pub signal: String,
    /// The expected level.
    pub level: String,
    /// How long it may take to get there (default: now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<HumanDuration>,
}

/// Signal edges.
// In a scenario, of the signal's active level; at the hardware seam (`rigor_hal` re-exports this
// type for `DigitalLine::wait_edge`), of its electrical level: one type for both, so the binder's
// turning one into the other is the only place they differ. (Kept out of the doc comment, which
// the JSON Schema shows scenario writers.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Edge {
    /// Low to high.
    Rising,
    /// High to low.
    Falling,
    /// Either.
    Any,
}

impl Edge {
    /// The edge as a scenario writes it (`rising`).
    pub fn name(self) -> &'static str {
        match self {
            Edge::Rising => "rising",
            Edge::Falling => "falling",
            Edge::Any => "any",
        }
    }

    /// Whether a change from `was` to `now` is this edge.
    pub fn is(self, was: bool, now: bool) -> bool {
        match self {
            Edge::Rising => !was && now,
            Edge::Falling => was && !now,
            Edge::Any => was != now,
        }
    }
}

/// Wait for an edge on a signal.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpioWaitEdge {
    /// The profile's signal name.
    pub signal: String,
    /// Which edge.
    pub edge: Edge,
    /// How long to wait (default: the step's timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within: Option<HumanDuration>,
}

/// What to measure on a toggling signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SignalQuantity {
    /// Cycles per second (Hz).
    Frequency,
    /// Duration of the active phase (s).
    PulseWidth,
    /// Active share of a period (%).
    DutyCycle,
}

impl SignalQuantity {
    /// The unit the measurement comes in.
    pub fn unit(self) -> Unit {
        match self {
            SignalQuantity::Frequency => Unit::Hertz,
            SignalQuantity::PulseWidth => Unit::Second,
            SignalQuantity::DutyCycle => Unit::Percent,
        }
    }
}

/// Measure the frequency, pulse width or duty cycle of a signal over a window.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpioMeasure {
    /// The measurement's name, unique in the scenario.
    pub name: String,
    /// The profile's signal name.
    pub signal: String,
    /// What to measure.
    pub quantity: SignalQuantity,
    /// How long to watch.
    pub window: HumanDuration,
    /// Pass/fail limits.
    pub limits: Limits,
}

/// An I²C register: by the profile's name for it, or by number.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RegisterRef {
    /// A register address.
    Address(u8),
    /// A named register of the part in the profile.
    Name(String),
}

impl<'de> Deserialize<'de> for RegisterRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RegisterRef;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a register address (0 to 255) or a register name from the profile")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<RegisterRef, E> {
                u8::try_from(n)
                    .map(RegisterRef::Address)
                    .map_err(|_| E::custom(format!("register address {n} does not fit in a byte")))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<RegisterRef, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("register address {n} is negative")))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E>(self, s: &str) -> Result<RegisterRef, E> {
                Ok(RegisterRef::Name(s.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RegisterRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RegisterRef".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "oneOf": [
            { "type": "integer", "minimum": 0, "maximum": 255 },
            { "type": "string" }
        ] })
    }
}

/// Read bytes from an I²C part into a value (big-endian unsigned).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct I2cRead {
    /// The profile's name of the part.
    pub device: String,
    /// The register.
    pub register: RegisterRef,
    /// How many bytes (default: the named register's width, else 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u8>,
    /// The name of the value.
    #[serde(rename = "as")]
    pub name: String,
}

/// Write bytes to an I²C part.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct I2cWrite {
    /// The profile's name of the part.
    pub device: String,
    /// The register.
    pub register: RegisterRef,
    /// The bytes.
    pub data: Vec<u8>,
}

/// Read bytes from an I²C part and compare them.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct I2cExpect {
    /// The profile's name of the part.
    pub device: String,
    /// The register.
    pub register: RegisterRef,
    /// The expected bytes.
    pub equals: Vec<u8>,
    /// Only these bits are compared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<Vec<u8>>,
}

/// Read an instrument channel into a value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstrumentRead {
    /// `instrument.channel`, with the slot's name for the instrument.
    pub channel: String,
    /// The name of the value.
    #[serde(rename = "as")]
    pub name: String,
}

/// Write an instrument channel.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstrumentWrite {
    /// `instrument.channel`, with the slot's name for the instrument.
    pub channel: String,
    /// The value, in the channel's unit (booleans for coils).
    pub value: Scalar,
}

/// Take a measurement and judge it against limits.
///
/// The value comes from exactly one of: an instrument channel (`from`), a captured value
/// (`capture`), or an arithmetic expression over captured values (`expr`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Measure {
    /// The measurement's name, unique in the scenario.
    pub name: String,
    /// `instrument.channel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A captured value's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// An arithmetic expression over captured values and parameters, e.g. `raw * 0.0625`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expr: Option<Expression>,
    /// The unit of a captured or computed value (default: the limits' unit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// Wait this long before reading (for a supply to settle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<HumanDuration>,
    /// Average this many readings (instrument channels only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u32>,
    /// Pass/fail limits.
    pub limits: Limits,
    /// What it is, for reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Impair a network link of the device.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetImpair {
    /// The profile's name of the link.
    pub link: String,
    /// Added one-way latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<HumanDuration>,
    /// Latency jitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<HumanDuration>,
    /// Share of packets (or, on a stream proxy, of chunks) dropped, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<f64>,
    /// Bandwidth cap in kilobits per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth_kbps: Option<u32>,
    /// Cut the link entirely.
    #[serde(default)]
    pub partition: bool,
    /// Clear the impairment after this long (default: it stays until `net.clear` or teardown).
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
}

/// Remove impairments from a link.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetClear {
    /// The profile's name of the link.
    pub link: String,
}

impl FromShorthand for NetClear {
    fn from_shorthand(s: &str) -> Result<Self, String> {
        Ok(NetClear { link: s.to_owned() })
    }
}

/// Tell the slot's update server which signed image to offer (its manifest next to it), and
/// how to serve it: faithfully, or cut, corrupted, truncated or stalled, as the field does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OtaOffer {
    /// The image; its manifest is `<image>.manifest.json`.
    pub image: String,
    /// Close each of the next `cuts` transfers after this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after: Option<u64>,
    /// How many transfers to cut (default 1, with `cut-after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuts: Option<u32>,
    /// Flip a byte of the image in transit: it no longer matches its signed manifest.
    #[serde(default)]
    pub corrupt: bool,
    /// Serve only the first this many bytes of the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncate: Option<u64>,
    /// Stall the next transfer after some bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall: Option<OtaStall>,
}

/// A stall in a transfer.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OtaStall {
    /// After this many bytes.
    pub after: u64,
    /// For this long.
    #[serde(rename = "for")]
    pub duration: HumanDuration,
}

/// What the update server's log says of the transfers since the last `ota.offer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OtaQuantity {
    /// Requests for the image (count).
    ImageRequests,
    /// Requests that resumed with a `Range` header (count).
    ResumedRequests,
    /// Image bytes sent in all (bytes).
    BytesSent,
    /// Image bytes sent more than once: 0 for a client that resumes (bytes).
    BytesRedownloaded,
    /// Transfers the server cut on purpose (count).
    Cuts,
    /// From the first cut transfer to the request after the last cut: how long the client took
    /// to come back to its download (s).
    TimeToRecover,
}

impl OtaQuantity {
    /// The unit the quantity is in.
    pub fn unit(self) -> Unit {
        match self {
            OtaQuantity::BytesSent | OtaQuantity::BytesRedownloaded => Unit::Byte,
            OtaQuantity::TimeToRecover => Unit::Second,
            _ => Unit::Count,
        }
    }
}

/// Take a measurement from the update server's log.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OtaMeasure {
    /// The measurement's name, unique in the scenario.
    pub name: String,
    /// What to measure.
    pub quantity: OtaQuantity,
    /// Pass/fail limits.
    pub limits: Limits,
}

/// Run steps again until they pass, up to a number of attempts. Every attempt is recorded.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Retry {
    /// Attempts in all, at least 2.
    pub attempts: u32,
    /// Wait between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<HumanDuration>,
    /// The steps.
    pub steps: Vec<Step>,
}

/// Ask the station operator to do or confirm something (factory stations).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Prompt {
    /// What to tell the operator.
    pub message: String,
    /// Ask for text (e.g. a scanned label) and keep it under this name.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Buttons to offer; the first passes, any other fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// For a text answer: the pattern the whole answer must match (`FC[23]-\d{6}`); an answer
    /// that does not is refused and asked for again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<WholeMatch>,
    /// A picture shown with the message (where to look, what good looks like): a PNG, JPEG,
    /// GIF, SVG or WebP file, its path relative to this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Insert the steps of a fragment file here.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Include {
    /// Path of the fragment, relative to this file.
    pub fragment: String,
    /// Values for the fragment's parameters.
    #[serde(default, rename = "with", skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, Scalar>,
}

/// Run a shell command on the station (only where the rig allows it).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Shell {
    /// The command line, run by `/bin/sh -c`.
    pub run: String,
    /// The exit status that passes (default 0).
    #[serde(default)]
    pub expect_exit: i32,
    /// Keep its standard output under this name.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}
