//! Device profiles: one file per device generation.
//!
//! A profile says what the device is (MCU, flash rules, signals, console, I²C parts, power,
//! identity, network links, capabilities, expected values). `extends:` names the profile of an
//! earlier generation; the child is merged over it key by key (mappings merge, other values
//! replace, `null` removes), so gen2 states only what differs from gen1.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::keyed_enum;
use crate::pattern::Pattern;
use crate::signing::{TrustedKey, Version};
use crate::unit::Unit;

/// A device generation, as written in `device-profiles/*.yaml` (after `extends` is merged).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "rigor device profile")]
pub struct Profile {
    /// The profile's id, unique among profiles (e.g. `fridge-ctl-gen2`).
    pub profile: String,
    /// The product family the generation belongs to (e.g. `fridge-ctl`).
    #[serde(default)]
    pub family: Option<String>,
    /// The generation's name within its family (e.g. `gen2`).
    #[serde(default)]
    pub generation: Option<String>,
    /// The id of the profile this one changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// What this generation is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The microcontroller.
    #[serde(default)]
    pub mcu: Option<Mcu>,
    /// How the device is flashed and which images it accepts.
    #[serde(default)]
    pub flash: Option<FlashRules>,
    /// Named signals on the device's connector.
    #[serde(default)]
    pub signals: BTreeMap<String, Signal>,
    /// The debug/command console.
    #[serde(default)]
    pub console: Option<Console>,
    /// Parts on the device's I²C bus.
    #[serde(default)]
    pub i2c: BTreeMap<String, I2cDevice>,
    /// Supply voltage and current limits.
    #[serde(default)]
    pub power: Option<Power>,
    /// How to read the unit's identity from it.
    #[serde(default)]
    pub identity: BTreeMap<String, IdentitySource>,
    /// Network links of the device and the endpoints it dials over them.
    #[serde(default)]
    pub network: BTreeMap<String, NetworkLink>,
    /// Capability tags scenarios can require (`uplink`, `eeprom`, ...).
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Expected values and ranges, usable in scenarios as `${name}` and `limits: { from-profile: name }`.
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    /// Defaults for steps run on this generation.
    #[serde(default)]
    pub defaults: Option<ProfileDefaults>,
}

/// The microcontroller.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Mcu {
    /// The chip's name as probe-rs knows it (e.g. `STM32F401RETx`).
    pub chip: String,
    /// The CPU core (e.g. `cortex-m4`), for people and for GDB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core: Option<String>,
}

/// A way to write firmware into the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FlashMethod {
    /// probe-rs over an SWD/JTAG debug probe.
    ProbeRs,
    /// The GDB remote serial protocol (OpenOCD, Black Magic Probe, J-Link GDB server, QEMU).
    GdbRemote,
    /// The virtual bench's simulated firmware slot.
    Virtual,
}

impl FlashMethod {
    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            FlashMethod::ProbeRs => "probe-rs",
            FlashMethod::GdbRemote => "gdb-remote",
            FlashMethod::Virtual => "virtual",
        }
    }
}

/// A firmware image file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// ELF with load segments.
    Elf,
    /// Intel HEX.
    Hex,
    /// A raw binary written at `base-address`.
    Bin,
}

/// Flashing methods and the rules an image must meet before anything is written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FlashRules {
    /// Methods this generation supports, preferred first.
    pub methods: Vec<FlashMethod>,
    /// Image formats accepted.
    #[serde(default = "default_formats")]
    pub formats: Vec<ImageFormat>,
    /// Where a raw binary goes in flash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_address: Option<u64>,
    /// Image signing and anti-rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<Signing>,
}

fn default_formats() -> Vec<ImageFormat> {
    vec![ImageFormat::Elf]
}

/// Which signatures an image must carry and how old it may be.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Signing {
    /// Trusted ed25519 public keys, by name, base64-encoded (32 bytes).
    pub trusted_keys: BTreeMap<String, TrustedKey>,
    /// The lowest firmware version this generation may be given (semantic version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_rollback_floor: Option<Version>,
    /// Refuse images without a manifest signature (default true).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// Which way a signal goes, seen from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The device reads it; the rig drives it.
    Input,
    /// The device drives it; the rig reads it.
    Output,
    /// Either.
    Bidirectional,
}

/// The electrical level at which a signal is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ActiveLevel {
    /// Active when high.
    High,
    /// Active when low.
    Low,
}

/// A named signal on the device's connector.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Signal {
    /// Which way it goes, seen from the device.
    pub direction: Direction,
    /// The level at which it is active (default high).
    #[serde(default = "active_high")]
    pub active: ActiveLevel,
    /// Names for its two states (e.g. `open`/`closed`), usable in steps instead of active/inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub states: Option<SignalStates>,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn active_high() -> ActiveLevel {
    ActiveLevel::High
}

/// Names for a signal's active and inactive states.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalStates {
    /// The name of the active state.
    pub active: String,
    /// The name of the inactive state.
    pub inactive: String,
}

/// A line ending appended to text sent to the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema, Default)]
#[serde(rename_all = "kebab-case")]
pub enum LineEnding {
    /// Nothing.
    None,
    /// `\n`.
    #[default]
    Lf,
    /// `\r`.
    Cr,
    /// `\r\n`.
    Crlf,
}

impl LineEnding {
    /// The bytes of this line ending.
    pub fn bytes(self) -> &'static [u8] {
        match self {
            LineEnding::None => b"",
            LineEnding::Lf => b"\n",
            LineEnding::Cr => b"\r",
            LineEnding::Crlf => b"\r\n",
        }
    }
}

/// The device's console UART.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Console {
    /// Baud rate.
    pub baud: u32,
    /// What ends a line sent to the device.
    #[serde(default)]
    pub line_ending: LineEnding,
    /// The shell prompt, as literal text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// A regular expression the boot banner matches (named captures become values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_banner: Option<Pattern>,
    /// How long the device takes from power-on to its banner, at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<HumanDuration>,
    /// Delay between characters sent, for bootloaders that drop fast input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub char_delay: Option<HumanDuration>,
}

/// A part on the device's I²C bus.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct I2cDevice {
    /// 7-bit address.
    pub address: u8,
    /// Part number, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
    /// Named registers.
    #[serde(default)]
    pub registers: BTreeMap<String, I2cRegister>,
    /// Size in bytes, for memories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
}

/// A named register of an I²C part.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct I2cRegister {
    /// Register address.
    pub address: u8,
    /// Width in bytes.
    #[serde(default = "one")]
    pub bytes: u8,
    /// How to read it (scaling, format), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn one() -> u8 {
    1
}

/// Supply voltage and current limits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Power {
    /// The supply voltage the power step sets, in volts.
    pub nominal_volts: f64,
    /// Lowest supply voltage the device is specified for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_volts: Option<f64>,
    /// Highest supply voltage the device is specified for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_volts: Option<f64>,
    /// Current limit to program into the supply, in amperes.
    pub current_limit_amps: f64,
    /// Below this voltage the device resets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brown_out_volts: Option<f64>,
}

keyed_enum! {
    /// Where a piece of the unit's identity (serial number, MAC address) is read from.
    pub enum IdentitySource {
        /// Send a console command and capture the value with a named group.
        "console" => Console(ConsoleQuery),
        /// Read bytes from an I²C part (an EEPROM).
        "i2c" => I2c(I2cQuery),
    }
}

/// A console command whose answer carries a value.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConsoleQuery {
    /// The command to send.
    pub send: String,
    /// A regular expression with one named group holding the value.
    pub expect: Pattern,
}

/// Bytes read from an I²C part.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct I2cQuery {
    /// The profile's name of the part.
    pub device: String,
    /// The first register (memory address).
    pub register: u8,
    /// How many bytes.
    pub bytes: u8,
}

/// A network link of the device.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetworkLink {
    /// The physical medium.
    pub medium: Medium,
    /// Endpoints the device dials over this link.
    #[serde(default)]
    pub dials: BTreeMap<String, Endpoint>,
}

/// A network medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Medium {
    /// Wired Ethernet.
    Ethernet,
    /// Wi-Fi.
    Wifi,
    /// Cellular modem.
    Cellular,
}

/// An endpoint the device connects to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Endpoint {
    /// Host name.
    pub host: String,
    /// TCP or UDP port.
    pub port: u16,
    /// Application protocol (e.g. `mqtt-tls`), for people and for impairment rules.
    pub protocol: String,
}

/// An expected value or range of the generation.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Variable {
    /// The expected value (substituted for `${name}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<crate::value::Scalar>,
    /// Lowest acceptable value, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Highest acceptable value, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// The unit of `value`, `low` and `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// What it means, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Step defaults of a generation.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfileDefaults {
    /// Timeout of a step that sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout: Option<HumanDuration>,
}
