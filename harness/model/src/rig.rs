//! Rigs: a rack or station, its shared instruments, and its slots with their concrete channels.
//!
//! Like labgrid's resources, a rig says only *where* things are; the drivers that talk to them are
//! chosen when a plan is bound. Channel names here (`uart0`, `dio3`, `wan0`) are what fixtures wire
//! device signals to.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::keyed_enum;

/// A rack or station, as written in `rigs/*.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "rigor rig")]
pub struct Rig {
    /// The rig's id, unique among rigs.
    pub rig: String,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The station this rig is, for the records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub station: Option<Station>,
    /// Start the virtual bench for this rig: its simulated devices and instruments stand behind
    /// every `virtual` channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_bench: Option<VirtualBench>,
    /// Run each slot's board on QEMU: real firmware on an emulated board, its console, probe,
    /// GPIO and sensors behind the slot's `virtual` channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qemu: Option<QemuRig>,
    /// What the station's owner lets scenarios do to the units in it: each destructive act is
    /// off unless granted here.
    #[serde(default)]
    pub permissions: Permissions,
    /// Defaults for runs on this rig.
    #[serde(default)]
    pub defaults: RigDefaults,
    /// Instruments, by name, that slots refer to.
    #[serde(default)]
    pub instruments: BTreeMap<String, InstrumentConnection>,
    /// The slots, by name.
    pub slots: BTreeMap<String, Slot>,
}

/// Identity of a station, stored with every run.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Station {
    /// Station id (e.g. `eol-3`).
    pub id: String,
    /// Site or plant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// Production line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// Settings of the virtual bench.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VirtualBench {
    /// Seed for per-unit variation, so runs are repeatable.
    #[serde(default)]
    pub seed: u64,
}

/// A QEMU-emulated board in each slot.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QemuRig {
    /// QEMU's machine type (`lm3s6965evb`).
    pub machine: String,
    /// `-device` options for the parts around the MCU
    /// (`tmp105,bus=i2c,address=0x48,id=temp0`).
    #[serde(default)]
    pub devices: Vec<String>,
    /// The board's pin behind each `virtual` GPIO channel of the slot.
    #[serde(default)]
    pub gpio: BTreeMap<String, QemuPin>,
    /// The emulated device (its QEMU id) behind each channel of the rig's `virtual`
    /// instruments: setting the channel sets what the device reports to the firmware.
    #[serde(default)]
    pub sensors: BTreeMap<String, String>,
}

/// A GPIO pin of the emulated board.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct QemuPin {
    /// The port, `A` to `G`.
    pub port: String,
    /// The line within it, 0 to 7.
    pub line: u32,
}

/// Run defaults of a rig.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RigDefaults {
    /// Timeout of a step that sets none and whose profile sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_timeout: Option<HumanDuration>,
    /// How often a step that failed for a rig reason (port vanished, transport timeout) is tried again.
    #[serde(default)]
    pub infrastructure_retries: u32,
}

/// How an instrument is reached, and its register map.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstrumentConnection {
    /// The id of its instrument model (register map).
    pub model: String,
    /// The Modbus link.
    pub modbus: ModbusLink,
    /// What it is and where, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

keyed_enum! {
    /// A Modbus link to an instrument.
    pub enum ModbusLink {
        /// Modbus TCP.
        "tcp" => Tcp(ModbusTcp),
        /// Modbus RTU over a serial line.
        "rtu" => Rtu(ModbusRtu),
        /// A Modbus TCP server of the virtual bench, at an address it picks when it starts.
        "virtual" => Virtual(VirtualModbus),
    }
}

/// Modbus TCP settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModbusTcp {
    /// `host:port`.
    pub address: String,
    /// Unit (slave) id.
    #[serde(default = "unit_one")]
    pub unit: u8,
}

/// Modbus RTU settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModbusRtu {
    /// The serial port.
    pub port: SerialPort,
    /// Baud rate.
    pub baud: u32,
    /// Parity.
    #[serde(default)]
    pub parity: Parity,
    /// Unit (slave) id.
    pub unit: u8,
}

/// A virtual-bench Modbus server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VirtualModbus {
    /// Unit (slave) id.
    #[serde(default = "unit_one")]
    pub unit: u8,
    /// How the bench serves it: Modbus TCP on loopback (default), or RTU on a pseudo-terminal
    /// opened by the rig's RTU driver, as a USB RS-485 adapter would be.
    #[serde(default)]
    pub transport: VirtualTransport,
}

/// How the virtual bench serves an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VirtualTransport {
    /// Modbus TCP on 127.0.0.1.
    #[default]
    Tcp,
    /// Modbus RTU on a pseudo-terminal.
    Rtu,
}

fn unit_one() -> u8 {
    1
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Parity {
    /// No parity.
    #[default]
    None,
    /// Even parity.
    Even,
    /// Odd parity.
    Odd,
}

/// One place a device sits on the rig, with its channels by name.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Slot {
    /// The kind of socket; a fixture fits slots of its kind.
    pub kind: String,
    /// What it is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The debug probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<Probe>,
    /// Serial ports, by channel name.
    #[serde(default)]
    pub serial: BTreeMap<String, SerialPort>,
    /// Digital I/O lines, by channel name.
    #[serde(default)]
    pub gpio: BTreeMap<String, GpioLine>,
    /// I²C adapters, by channel name.
    #[serde(default)]
    pub i2c: BTreeMap<String, I2cBus>,
    /// The rig's instruments this slot uses, by the name scenarios give them (`psu: bench-psu-2`).
    #[serde(default)]
    pub instruments: BTreeMap<String, String>,
    /// How the device in this slot is powered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<PowerSwitch>,
    /// Network impairment points, by channel name.
    #[serde(default)]
    pub net: BTreeMap<String, ImpairmentPoint>,
    /// The update server rigor runs for the device in this slot (`ota.offer` steps tell it what
    /// to serve); the device reaches it through the slot's impairment point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_server: Option<UpdateServerPoint>,
}

keyed_enum! {
    /// Where the update server rigor runs for a slot listens.
    pub enum UpdateServerPoint {
        /// On this address (`host:port`), where the device's name for its update server
        /// resolves (through the slot's impairment point).
        "listen" => Listen(String),
        /// On loopback, reached by the virtual bench's unit through its slot's impairment point.
        "virtual" => Virtual,
    }
}

keyed_enum! {
    /// A debug probe.
    pub enum Probe {
        /// A probe opened by probe-rs.
        "probe-rs" => ProbeRs(ProbeRsProbe),
        /// A GDB remote-protocol server (OpenOCD, Black Magic Probe, J-Link GDB server, QEMU).
        "gdb-remote" => GdbRemote(GdbRemoteProbe),
        /// The virtual bench's simulated firmware slot.
        "virtual" => Virtual,
    }
}

/// A probe-rs probe.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProbeRsProbe {
    /// probe-rs selector, `VID:PID` or `VID:PID:SERIAL` in hex (e.g. `0483:374b:0668FF485550755187121723`).
    pub selector: String,
    /// Wire protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<WireProtocol>,
    /// Clock speed in kHz.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_khz: Option<u32>,
}

/// Debug wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WireProtocol {
    /// Serial Wire Debug.
    Swd,
    /// JTAG.
    Jtag,
}

/// A GDB remote-protocol server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GdbRemoteProbe {
    /// `host:port` of the server.
    pub address: String,
    /// The monitor command that resets the target after a load, so it boots the new image
    /// (`reset run` for OpenOCD, `system_reset` for QEMU); without one, detaching lets the target
    /// run from where it was halted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<String>,
}

keyed_enum! {
    /// A serial port, by path or by stable USB identity.
    pub enum SerialPort {
        /// A device path (prefer `/dev/serial/by-id/...`, which survives re-enumeration).
        "path" => Path(String),
        /// A USB serial adapter by `VID:PID:SERIAL` (hex VID and PID), found again after re-enumeration.
        "usb" => Usb(String),
        /// A pseudo-terminal of the virtual bench.
        "virtual" => Virtual,
    }
}

keyed_enum! {
    /// A digital I/O line.
    pub enum GpioLine {
        /// A Linux GPIO character-device line.
        "gpiochip" => Gpiochip(GpiochipLine),
        /// A coil or discrete input of a Modbus instrument (digital I/O module, PLC).
        "modbus" => Modbus(ModbusLine),
        /// A line of the virtual bench.
        "virtual" => Virtual,
    }
}

/// A Linux GPIO character-device line.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GpiochipLine {
    /// The chip (`/dev/gpiochip2`, or its label).
    pub chip: String,
    /// The line offset on the chip.
    pub line: u32,
}

/// A digital line behind a Modbus instrument.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ModbusLine {
    /// The rig instrument.
    pub instrument: String,
    /// A boolean channel of its model.
    pub channel: String,
}

keyed_enum! {
    /// An I²C adapter.
    pub enum I2cBus {
        /// A Linux i2c-dev bus (`/dev/i2c-1`).
        "linux" => Linux(String),
        /// The virtual bench's bus.
        "virtual" => Virtual,
    }
}

keyed_enum! {
    /// How a slot's device gets power.
    pub enum PowerSwitch {
        /// A programmable supply: the power step sets volts and current limit, then enables the output.
        "supply" => Supply(SupplyPower),
        /// A relay channel in the supply line.
        "relay" => Relay(RelayPower),
        /// A USB hub port that powers the device (switched as uhubctl does).
        "usb-hub" => UsbHub(UsbHubPower),
    }
}

/// Power from a programmable supply; channel names are of the instrument's model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SupplyPower {
    /// The slot's name for the supply (a key of the slot's `instruments`).
    pub instrument: String,
    /// The boolean channel that switches the output.
    #[serde(default = "output")]
    pub enable: String,
    /// The channel that sets the output voltage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_voltage: Option<String>,
    /// The channel that sets the current limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_current: Option<String>,
}

fn output() -> String {
    "output".to_owned()
}

/// Power from a USB hub's port.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UsbHubPower {
    /// The hub's location as the kernel names it (`1-1`, `3-2.4`); `rigor rig probe` lists them.
    pub hub: String,
    /// The port number on the hub.
    pub port: u32,
}

/// A relay channel in the device's supply line.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RelayPower {
    /// The slot's name for the relay board.
    pub instrument: String,
    /// The boolean channel of the relay.
    pub channel: String,
}

keyed_enum! {
    /// A point where the device's network traffic can be impaired.
    pub enum ImpairmentPoint {
        /// A userspace TCP/UDP proxy the device's endpoint resolves to.
        "proxy" => Proxy(ProxyPoint),
        /// A TUN device routing the device's traffic through rigor.
        "tun" => Tun(TunPoint),
        /// Linux netem on an interface, where the kernel has it.
        "netem" => Netem(NetemPoint),
        /// The virtual bench's impairment point.
        "virtual" => Virtual,
    }
}

/// A userspace proxy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProxyPoint {
    /// Where the proxy listens (`host:port`).
    pub listen: String,
    /// Where it forwards to (`host:port`).
    pub upstream: String,
}

/// A TUN device.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TunPoint {
    /// Interface name.
    pub interface: String,
    /// Address/prefix on it.
    pub address: String,
}

/// netem on an interface.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetemPoint {
    /// Interface name.
    pub interface: String,
}

/// The destructive acts a station allows, as probe-rs asks for `Permissions` before erasing a
/// chip: each is off unless the rig grants it, and a scenario that needs one the rig does not
/// grant does not bind (`rigor check` names the step and the permission).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Permissions {
    /// Erase and write a unit's flash (`flash` steps).
    #[serde(default)]
    pub flash: bool,
    /// Write a unit's non-volatile memory: its serial, keys or calibration (`i2c.write` to a
    /// memory part, one the profile gives a `size`).
    #[serde(default)]
    pub provision: bool,
    /// Run commands on the station (`shell` steps).
    #[serde(default)]
    pub shell: bool,
}

/// A permission a step needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See [`Permissions::flash`].
    Flash,
    /// See [`Permissions::provision`].
    Provision,
    /// See [`Permissions::shell`].
    Shell,
}

impl Permission {
    /// Its key under `permissions:`.
    pub fn key(self) -> &'static str {
        match self {
            Permission::Flash => "flash",
            Permission::Provision => "provision",
            Permission::Shell => "shell",
        }
    }

    /// What it allows, for people.
    pub fn act(self) -> &'static str {
        match self {
            Permission::Flash => "erase and write a unit's flash",
            Permission::Provision => "write a unit's non-volatile memory",
            Permission::Shell => "run shell commands",
        }
    }
}

impl Permissions {
    /// Whether `p` is granted.
    pub fn grants(self, p: Permission) -> bool {
        match p {
            Permission::Flash => self.flash,
            Permission::Provision => self.provision,
            Permission::Shell => self.shell,
        }
    }
}
