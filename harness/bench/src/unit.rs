//! A simulated fridge-ctl unit: its electrical state (supply, lines, sensor, EEPROM), shared by the
//! servers that stand for its instruments, and its firmware, which runs on a thread of its own
//! and talks on the unit's console.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rigor_model::fixture::Fixture;
use rigor_model::profile::{ActiveLevel, Direction, Profile};

use crate::boot::Flash;
use crate::firmware::Header;
use crate::telemetry::Link;
use crate::uart::Uart;

/// A fault a unit can be built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Never boots; draws almost nothing.
    Dead,
    /// Boots ten times slower than its profile says (past any sensible banner wait).
    SlowBoot,
    /// The alarm LED's pin is stuck low.
    StuckPin,
    /// The temperature sensor fails to acknowledge every third read.
    FlakySensor,
    /// Garbage bytes on the console line between messages.
    NoisyLine,
    /// The console's USB serial adapter drops off the bus for 400 ms when the compressor starts
    /// (its inrush browns out the adapter), and comes back under the same stable name.
    DisconnectingConsole,
    /// The console's adapter drops off the bus after the banner and does not come back.
    UnpluggedConsole,
    /// The update client moves the boot pointer to the new slot before the image is whole: a
    /// power cut mid-download leaves a unit that never boots again.
    BricksOnPowerCut,
    /// The firmware hard-faults at the first shell command it is sent: it stops answering and
    /// printing, draws almost nothing, and never boots again (a device that dies mid-scenario).
    CrashesOnCommand,
}

impl Fault {
    /// Every fault's name, for help texts and errors.
    pub const NAMES: &'static str = "dead, slow-boot, stuck-pin, flaky-sensor, noisy-line, \
         disconnecting-console, unplugged-console, bricks-on-power-cut, crashes-on-command";

    /// Parses a fault's name (one of [`Fault::NAMES`]).
    pub fn parse(s: &str) -> Option<Fault> {
        Some(match s {
            "dead" => Fault::Dead,
            "slow-boot" => Fault::SlowBoot,
            "stuck-pin" => Fault::StuckPin,
            "flaky-sensor" => Fault::FlakySensor,
            "noisy-line" => Fault::NoisyLine,
            "disconnecting-console" => Fault::DisconnectingConsole,
            "unplugged-console" => Fault::UnpluggedConsole,
            "bricks-on-power-cut" => Fault::BricksOnPowerCut,
            "crashes-on-command" => Fault::CrashesOnCommand,
            _ => return None,
        })
    }
}

/// One signal of the unit, as wired to the slot.
#[derive(Debug, Clone)]
struct Wire {
    channel: usize,
    output: bool,
    active_low: bool,
}

/// The unit's state, shared between its firmware thread and its instruments.
#[derive(Debug)]
pub struct State {
    pub(crate) generation: String,
    pub(crate) family: String,
    pub(crate) serial: String,
    banner: String,
    boot_time: Duration,
    idle_amps: f64,
    brown_out: f64,
    pub(crate) faults: Vec<Fault>,
    wires: BTreeMap<String, Wire>,
    /// What the rig drives on each slot channel (`None`: not driven, the line rests at its pull).
    pub(crate) driven: Vec<Option<bool>>,
    /// Supply settings and output.
    pub(crate) volts_set: f64,
    pub(crate) amps_limit: f64,
    pub(crate) output: bool,
    powered_since: Option<Instant>,
    booted: bool,
    pub(crate) firmware: Option<Header>,
    compressor: bool,
    compressor_request: Option<(Instant, bool)>,
    light: bool,
    door_open_since: Option<Instant>,
    /// Chamber temperature and this unit's sensor offset.
    pub(crate) chamber: f64,
    pub(crate) sensor_offset: f64,
    pub(crate) sensor_reads: u32,
    /// The bench's seed: with the serial, it fixes this unit's variation and noise.
    seed: u64,
    pub(crate) eeprom: Option<[u8; 256]>,
    pub(crate) temp_address: u8,
    /// What the firmware believes of its uplink.
    pub(crate) link: Link,
    /// Lines the firmware's background tasks log, for the main loop to print.
    pub(crate) console_log: Vec<String>,
    /// The flash: A/B slots, boot counter, anti-rollback counter, a download in progress.
    pub(crate) flash: Flash,
    /// `ota update` was typed and the update client has not taken it yet.
    pub(crate) ota_request: bool,
    /// Where the unit's name for its update server resolves (the slot's impairment point).
    pub(crate) update_server: Option<std::net::SocketAddr>,
    /// Power-ons (and reboots) so far: work begun before the latest one lost its RAM.
    pub(crate) power_ons: u64,
}

pub(crate) fn lock(s: &Mutex<State>) -> MutexGuard<'_, State> {
    s.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Per-unit variation from its serial number and the bench seed: a few percent, repeatable.
pub(crate) fn variation(serial: &str, seed: u64, salt: u64) -> f64 {
    let mut h = seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for b in serial.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

impl State {
    /// A unit of `profile`, wired by `fixture` to the slot's `channels`.
    pub fn new(
        serial: &str,
        profile: &Profile,
        fixture: &Fixture,
        channels: &[String],
        faults: Vec<Fault>,
        seed: u64,
    ) -> State {
        let generation = profile.generation.clone().unwrap_or_default();
        let family = profile.family.clone().unwrap_or_default();
        let console = profile.console.as_ref();
        let re = console
            .and_then(|c| c.boot_banner.as_ref())
            .and_then(|p| p.regex().ok());
        // The banner this generation's firmware prints: the format its profile's pattern matches.
        let banner = ["{f} {g} fw {v}", "[boot] {f}/{g} v{v}"]
            .into_iter()
            .map(|f| f.replace("{f}", &family))
            .find(|f| {
                re.is_some_and(|re| {
                    re.is_match(&f.replace("{g}", &generation).replace("{v}", "1.0.0"))
                })
            })
            .unwrap_or_else(|| format!("{family} {{g}} fw {{v}}"));
        let range = profile.variables.get("idle_current");
        let idle = range.map_or(0.06, |v| {
            (v.low.unwrap_or(0.04) + v.high.unwrap_or(0.08)) / 2.0
        });
        let wires = fixture
            .signals
            .iter()
            .filter_map(|(signal, channel)| {
                let def = profile.signals.get(signal)?;
                Some((
                    signal.clone(),
                    Wire {
                        channel: channels.iter().position(|c| c == channel)?,
                        output: def.direction == Direction::Output,
                        active_low: def.active == ActiveLevel::Low,
                    },
                ))
            })
            .collect();
        let has_eeprom = profile.i2c.contains_key("eeprom");
        State {
            generation,
            family,
            serial: serial.to_owned(),
            banner,
            boot_time: console
                .and_then(|c| c.boot_time)
                .map_or(Duration::from_millis(500), |d| d.get())
                / 2,
            idle_amps: idle * (1.0 + 0.08 * variation(serial, seed, 1)),
            brown_out: profile
                .power
                .as_ref()
                .and_then(|p| p.brown_out_volts)
                .unwrap_or(9.0),
            faults,
            wires,
            driven: vec![None; channels.len()],
            volts_set: 0.0,
            amps_limit: 0.0,
            output: false,
            powered_since: None,
            booted: false,
            firmware: None,
            compressor: false,
            compressor_request: None,
            light: false,
            door_open_since: None,
            chamber: 4.25,
            sensor_offset: 0.25 * variation(serial, seed, 2),
            sensor_reads: 0,
            seed,
            eeprom: has_eeprom.then_some([0xFF; 256]),
            temp_address: profile.i2c.get("temp_sensor").map_or(0x48, |p| p.address),
            link: Link::Offline,
            console_log: Vec::new(),
            flash: Flash::default(),
            ota_request: false,
            update_server: None,
            power_ons: 0,
        }
    }

    pub(crate) fn has(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }

    /// The supply was set: below the brown-out level the MCU resets at once, however short the
    /// dip (a power cycle faster than the firmware's main loop still reboots it).
    pub(crate) fn supply_changed(&mut self) {
        if !self.supplied() {
            self.powered_since = None;
            self.booted = false;
            self.compressor = false;
        }
    }

    /// Restarts the firmware as a watchdog or `reboot` does: the supply stays, the boot begins.
    pub(crate) fn reboot(&mut self) {
        self.booted = false;
        self.compressor = false;
        self.link = Link::Offline;
        self.power_ons += 1;
        self.powered_since = self.supplied().then(Instant::now);
    }

    /// Whether the running image's self-test passes.
    pub(crate) fn selftest_passes(&self) -> bool {
        !self.has(Fault::FlakySensor) && !self.firmware.as_ref().is_some_and(Header::fails_selftest)
    }

    /// Whether the supply gives the unit enough to run.
    pub(crate) fn supplied(&self) -> bool {
        self.output && self.volts_set >= self.brown_out
    }

    /// Whether the unit runs (booted, powered).
    pub(crate) fn running(&self) -> bool {
        self.booted && self.supplied()
    }

    /// The current it draws now.
    pub(crate) fn current(&self, now: Instant) -> f64 {
        if !self.output {
            return 0.0;
        }
        if !self.supplied() || self.has(Fault::Dead) || self.firmware.is_none() {
            return 0.004;
        }
        let surge = self
            .powered_since
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(200));
        let base = if surge { 0.25 } else { self.idle_amps };
        // The radio, associated and keeping its link alive, adds its share of the idle current.
        let radio = match self.link {
            Link::Connected | Link::Degraded => 0.008,
            _ => 0.0,
        };
        base + radio + if self.compressor { 0.40 } else { 0.0 }
    }

    /// The electrical level of a slot channel now.
    pub(crate) fn level(&self, channel: usize, now: Instant) -> bool {
        for (signal, w) in &self.wires {
            if w.channel != channel || !w.output {
                continue;
            }
            let active = match signal.as_str() {
                "alarm_led" => {
                    !self.has(Fault::StuckPin)
                        && self.running()
                        && self.door_open_since.is_some_and(|t| {
                            let since = now.duration_since(t).as_millis();
                            since >= 500 && (since / 500) % 2 == 1
                        })
                }
                "compressor_relay" => self.compressor,
                _ => false,
            };
            return active != w.active_low;
        }
        // An input rests at its pull (high for active-low lines) unless the rig drives it.
        let pull = self
            .wires
            .values()
            .find(|w| w.channel == channel)
            .is_some_and(|w| w.active_low);
        self.driven.get(channel).copied().flatten().unwrap_or(pull)
    }

    fn signal_active(&self, signal: &str, now: Instant) -> bool {
        self.wires
            .get(signal)
            .is_some_and(|w| self.level(w.channel, now) != w.active_low)
    }

    /// The temperature the firmware `fw` reads from its sensor, in °C, as it prints and reports it.
    pub(crate) fn firmware_temperature(&self, fw: &Header) -> f64 {
        let raw = i16::from_be_bytes(self.temperature_register()) >> 4;
        // The buggy build scales by 0.125 °C per count instead of 0.0625.
        let per_count = if fw.has_temperature_bug() {
            0.125
        } else {
            0.0625
        };
        f64::from(raw) * per_count
    }

    /// The sensor's temperature register: 12 bits left-justified, 0.0625 °C per count, with a
    /// count of noise that differs from read to read (repeatably, by unit and read number).
    pub(crate) fn temperature_register(&self) -> [u8; 2] {
        let noise = 0.06 * variation(&self.serial, self.seed, 1000 + u64::from(self.sensor_reads));
        let counts = ((self.chamber + self.sensor_offset + noise) / 0.0625).round() as i16;
        (counts << 4).to_be_bytes()
    }
}

/// How long a disconnecting console's adapter stays off the bus.
const ADAPTER_DROPOUT: Duration = Duration::from_millis(400);

/// The unit's firmware: one thread, the console's device end, a 10 ms main loop.
pub(crate) fn spawn_firmware(state: Arc<Mutex<State>>, uart: Uart, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let link = uart.link().to_owned();
        let mut uart = Some(uart);
        // When an unplugged adapter comes back, if it does.
        let mut replug: Option<Instant> = None;
        let mut compressor_was = false;
        let mut booted_at: Option<Instant> = None;
        let mut line = Vec::new();
        let mut buf = [0u8; 256];
        let mut light_pressed = false;
        let mut last_noise = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let mut out = String::new();
            {
                let mut s = lock(&state);
                if s.supplied() {
                    if s.powered_since.is_none() {
                        s.powered_since = Some(now);
                        s.booted = false;
                        s.power_ons += 1;
                    }
                } else {
                    s.powered_since = None;
                    s.booted = false;
                    s.compressor = false;
                }
                let boot = if s.has(Fault::SlowBoot) {
                    s.boot_time * 10
                } else {
                    s.boot_time
                };
                if let (Some(since), false) = (s.powered_since, s.booted)
                    && now.duration_since(since) >= boot
                    && !s.has(Fault::Dead)
                    && let Some(fw) = s.boot_image()
                {
                    s.booted = true;
                    out.push_str(
                        &s.banner
                            .replace("{g}", &s.generation)
                            .replace("{v}", &fw.version),
                    );
                    out.push_str("\r\nfridge> ");
                    if let Some(why) = s.flash.rolled_back.take() {
                        let slot = crate::boot::SLOT_NAMES[s.flash.running];
                        s.console_log.push(format!(
                            "ota: rolled back to slot {slot} fw {} ({why})",
                            fw.version
                        ));
                    }
                }
                if s.running() {
                    let open = s.signal_active("door_switch", now);
                    if open && s.door_open_since.is_none() {
                        s.door_open_since = Some(now);
                    } else if !open {
                        s.door_open_since = None;
                    }
                    let pressed = s.signal_active("btn_light", now);
                    if pressed && !light_pressed {
                        s.light = !s.light;
                        out.push_str(&format!(
                            "light: {}\r\nfridge> ",
                            if s.light { "on" } else { "off" }
                        ));
                    }
                    light_pressed = pressed;
                    if let Some((at, on)) = s.compressor_request
                        && now >= at
                    {
                        s.compressor = on;
                        s.compressor_request = None;
                    }
                    // A log line starts on a line of its own, and the prompt follows it again.
                    for logged in std::mem::take(&mut s.console_log) {
                        out.push_str("\r\n");
                        out.push_str(&logged);
                        out.push_str("\r\nfridge> ");
                    }
                    if s.has(Fault::NoisyLine)
                        && now.duration_since(last_noise) > Duration::from_millis(300)
                    {
                        last_noise = now;
                        out.push_str("\u{1}\u{fffd}~");
                    }
                }
            }
            let (compressor, booted, faults) = {
                let s = lock(&state);
                (s.compressor, s.booted, s.faults.clone())
            };
            booted_at = if booted {
                booted_at.or(Some(now))
            } else {
                None
            };
            // The banner gets out before the adapter goes.
            let unplug =
                (faults.contains(&Fault::DisconnectingConsole) && compressor && !compressor_was)
                    || (faults.contains(&Fault::UnpluggedConsole)
                        && booted_at.is_some_and(|t| now.duration_since(t) > ADAPTER_DROPOUT));
            compressor_was = compressor;
            if unplug && let Some(cable) = uart.take() {
                cable.unplug();
                replug = (!faults.contains(&Fault::UnpluggedConsole))
                    .then(|| Instant::now() + ADAPTER_DROPOUT);
            }
            if uart.is_none() && replug.is_some_and(|at| Instant::now() >= at) {
                replug = None;
                uart = Uart::plug_in(&link).ok();
            }
            // Off the bus, what the firmware prints is lost, and nothing arrives.
            let Some(port) = uart.as_mut() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            if !out.is_empty() && port.write_all(out.as_bytes()).is_err() {
                return;
            }
            let n = match port.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => 0,
                Err(_) => return,
            };
            line.extend_from_slice(&buf[..n]);
            while let Some(end) = line.iter().position(|b| *b == b'\n' || *b == b'\r') {
                let cmd = String::from_utf8_lossy(&line[..end]).trim().to_owned();
                line.drain(..=end);
                if cmd.is_empty() {
                    continue;
                }
                let answer = command(&state, &cmd);
                if let Some(a) = answer
                    && port
                        .write_all(format!("{a}\r\nfridge> ").as_bytes())
                        .is_err()
                {
                    return;
                }
            }
        }
    });
}

/// The firmware's shell; `None` while it does not run (commands go unanswered, as on a dead board).
fn command(state: &Mutex<State>, cmd: &str) -> Option<String> {
    let mut s = lock(state);
    if !s.running() {
        return None;
    }
    let fw = s.firmware.clone()?;
    if s.has(Fault::CrashesOnCommand) {
        s.faults.push(Fault::Dead);
        s.booted = false;
        return None;
    }
    Some(match cmd {
        "version" => format!("fw {}", fw.version),
        "serial" => format!("serial: {}", s.serial),
        "temp" => format!("temp: {:.2} C", s.firmware_temperature(&fw)),
        "relay on" | "relay off" => {
            let on = cmd == "relay on";
            // The compressor start delay protects the compressor; the relay follows after it.
            s.compressor_request = Some((Instant::now() + Duration::from_millis(200), on));
            format!("relay: {}", if on { "on" } else { "off" })
        }
        "selftest" => {
            if !s.selftest_passes() {
                "selftest: sensor FAIL\r\nselftest: fail".into()
            } else {
                "selftest: sensor ok\r\nselftest: ok".into()
            }
        }
        "reload" => match s.eeprom {
            Some(e) => format!("calibration: {}", i16::from_be_bytes([e[0x10], e[0x11]])),
            None => "reload: no eeprom".into(),
        },
        "telemetry" => format!("telemetry: {}", s.link.word()),
        "ota update" => {
            s.ota_request = true;
            "ota: update requested".into()
        }
        "ota status" => s.ota_status(),
        other => format!("unknown command: {other}"),
    })
}
