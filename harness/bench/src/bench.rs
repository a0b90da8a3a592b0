//! Starting the virtual bench for a rig: a simulated unit in each slot, with its console on a
//! pseudo-terminal, its supply and digital I/O as Modbus TCP servers, and its I²C bus and firmware
//! slot in-process. Rigor reaches them through its ordinary backends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rigor_model::fixture::Fixture;
use rigor_model::instrument::InstrumentModel;
use rigor_model::profile::Profile;
use rigor_model::rig::{ModbusLink, Rig, VirtualTransport};

use crate::gateway::{self, Gateways};
use crate::parts::{Bus, Slot};
use crate::servers::{DigitalIo, IO_UNIT, RtuLine, Supply, serve, serve_rtu};
use crate::telemetry::{serve_cloud, spawn_uplink};
use crate::uart::Uart;
use crate::unit::{Fault, State, spawn_firmware};
use rigor_drivers::net_proxy::ImpairmentProxy;

/// A unit to put in a slot.
#[derive(Debug, Clone)]
pub struct UnitSpec {
    /// The slot.
    pub slot: String,
    /// Its serial number.
    pub serial: String,
    /// Its generation's profile (merged).
    pub profile: Profile,
    /// The fixture holding it.
    pub fixture: Fixture,
    /// Its faults.
    pub faults: Vec<Fault>,
    /// The firmware version already in the unit (from an earlier station), if any; without it the
    /// unit is blank and does not boot until flashed.
    pub installed: Option<String>,
}

/// The serial number a simulated unit carries when it is put in `slot` without one given: the
/// family's `FC<generation number>-<six digits>`, the digits fixed by the slot and the bench seed,
/// so it is the same on every start of the same bench.
pub fn serial_number(generation: &str, slot: &str, seed: u64) -> String {
    let number: String = generation.chars().filter(char::is_ascii_digit).collect();
    let mut h = seed ^ 0x005E_71A1;
    for b in slot.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    // FNV alone barely moves the high bits for names that differ in their last byte (slot2,
    // slot4), so two slots got one serial: finish with MurmurHash3's mixer.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    format!("FC{number}-{:06}", h % 1_000_000)
}

#[cfg(test)]
mod serial_tests {
    #[test]
    fn every_slot_of_a_bench_gets_its_own_serial() {
        let serials: std::collections::BTreeSet<String> = ["slot1", "slot2", "slot3", "slot4"]
            .iter()
            .map(|slot| super::serial_number("gen2", slot, 7))
            .collect();
        assert_eq!(serials.len(), 4, "{serials:?}");
        assert!(
            serials
                .iter()
                .all(|s| s.len() == "FC2-000000".len() && s.starts_with("FC2-"))
        );
    }
}

/// Where a simulated instrument answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstrumentEndpoint {
    /// Modbus TCP at this address.
    Tcp(SocketAddr),
    /// Modbus RTU on this pseudo-terminal.
    Rtu(std::path::PathBuf),
}

/// Where a slot's simulated hardware can be reached.
#[derive(Clone)]
pub struct SlotEndpoints {
    /// The serial number printed on the unit's label (what an operator would scan).
    pub label: String,
    /// The console: a stable link to its pseudo-terminal.
    pub console: String,
    /// Where the slot's virtual rig instruments answer, by rig instrument name.
    pub instruments: BTreeMap<String, InstrumentEndpoint>,
    /// The digital I/O module.
    pub io: SocketAddr,
    /// The I/O module's register map (`CHANNEL.drive`, `CHANNEL.level`).
    pub io_model: Arc<InstrumentModel>,
    /// The I²C bus.
    pub i2c: Bus,
    /// The firmware slot.
    pub flasher: Slot,
    /// The impairment point between the unit's uplink and the cloud, on units with an uplink.
    pub uplink: Option<Arc<ImpairmentProxy>>,
    state: Arc<Mutex<State>>,
}

/// The firmware a unit carries: its version and its image's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedFirmware {
    /// The version its header declares.
    pub version: String,
    /// SHA-256 of the image, lowercase hex.
    pub sha256: String,
}

/// The way from a unit to an update server: while it lives, the unit's name for its update
/// server resolves to a listener on the slot's impairment point that forwards to the server.
pub struct UpdateRoute {
    _proxy: ImpairmentProxy,
}

impl SlotEndpoints {
    /// Points the unit's update client at `server` through the slot's impairment point (so
    /// `net.impair` on the uplink impairs downloads too). `None` for a unit without an uplink.
    pub async fn route_updates(
        &self,
        server: SocketAddr,
    ) -> Result<Option<UpdateRoute>, BenchError> {
        let Some(uplink) = &self.uplink else {
            return Ok(None);
        };
        let proxy = uplink.sibling(loopback(), server.to_string()).await?;
        crate::unit::lock(&self.state).update_server = Some(proxy.local_addr());
        Ok(Some(UpdateRoute { _proxy: proxy }))
    }

    /// Whether the unit's supply output is on, as its supply would show on its front panel.
    pub fn supply_on(&self) -> bool {
        crate::unit::lock(&self.state).output
    }

    /// The firmware the slot's unit carries now, or `None` while its flash is blank: what a run
    /// that flashes nothing records.
    pub fn firmware(&self) -> Option<CarriedFirmware> {
        use sha2::Digest;
        let s = crate::unit::lock(&self.state);
        let version = s.firmware.as_ref()?.version.clone();
        let image = &s.flash.slots[s.flash.running].bytes;
        let sha256 = sha2::Sha256::digest(image)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Some(CarriedFirmware { version, sha256 })
    }

    /// Sets the chamber temperature around the unit (°C).
    pub fn set_chamber(&self, celsius: f64) {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .chamber = celsius;
    }
}

/// Why the bench could not start.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A slot the rig does not have.
    #[error("rig `{rig}` has no slot `{slot}`")]
    NoSlot {
        /// The rig.
        rig: String,
        /// The slot.
        slot: String,
    },
    /// An instrument model the bench was not given.
    #[error("no instrument model `{0}`")]
    NoModel(String),
    /// The OS refused a pty or a socket.
    #[error("cannot start the bench: {0}")]
    Io(#[from] std::io::Error),
}

/// A running virtual bench; dropping it stops every unit and server.
pub struct Bench {
    slots: BTreeMap<String, SlotEndpoints>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Where the consoles' stable names live.
    links: tempfile::TempDir,
    /// The RTU lines' ptys, held open.
    rtu_lines: Vec<RtuLine>,
}

impl Bench {
    /// Starts a unit in each given slot of `rig`. Must run inside a tokio runtime.
    pub async fn start(
        rig: &Rig,
        models: &BTreeMap<String, Arc<InstrumentModel>>,
        units: Vec<UnitSpec>,
        seed: u64,
    ) -> Result<Bench, BenchError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut bench = Bench {
            slots: BTreeMap::new(),
            stop: stop.clone(),
            tasks: Vec::new(),
            links: tempfile::Builder::new().prefix("rigor-bench-").tempdir()?,
            rtu_lines: Vec::new(),
        };
        // One cloud for the whole bench, started when the first unit with an uplink needs it.
        let mut cloud: Option<SocketAddr> = None;
        let gateways = Gateways::default();
        for spec in units {
            let slot = rig
                .slots
                .get(&spec.slot)
                .ok_or_else(|| BenchError::NoSlot {
                    rig: rig.rig.clone(),
                    slot: spec.slot.clone(),
                })?;
            let channels: Vec<String> = slot.gpio.keys().cloned().collect();
            let state = Arc::new(Mutex::new(State::new(
                &spec.serial,
                &spec.profile,
                &spec.fixture,
                &channels,
                spec.faults.clone(),
                seed,
            )));
            if let Some(version) = &spec.installed {
                let mut s = state
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let header = crate::firmware::Header {
                    family: s.family.clone(),
                    generation: s.generation.clone(),
                    version: version.clone(),
                };
                let image = crate::firmware::build_image(&s.family, &s.generation, version);
                s.flash.write_by_probe(header.clone(), image);
                s.firmware = Some(header);
            }
            // The console is reached by a stable name, as a rack reaches a USB adapter through
            // /dev/serial/by-id, so it can vanish and come back under it.
            let link = bench.links.path().join(format!("{}.tty", spec.slot));
            let uart = Uart::plug_in(&link)?;
            let console = link.to_string_lossy().into_owned();
            spawn_firmware(state.clone(), uart, stop.clone());
            if spec
                .profile
                .capabilities
                .iter()
                .any(|c| c == gateway::CAPABILITY)
            {
                gateways.add(state.clone());
            }
            let mut instruments = BTreeMap::new();
            for name in slot.instruments.values() {
                let Some(conn) = rig.instruments.get(name) else {
                    continue;
                };
                let ModbusLink::Virtual(link) = &conn.modbus else {
                    continue;
                };
                let model = models
                    .get(&conn.model)
                    .ok_or_else(|| BenchError::NoModel(conn.model.clone()))?;
                let supply = Supply::new(state.clone(), model);
                let endpoint = match link.transport {
                    VirtualTransport::Tcp => {
                        let (addr, task) = serve(supply, link.unit).await?;
                        bench.tasks.push(task);
                        InstrumentEndpoint::Tcp(addr)
                    }
                    VirtualTransport::Rtu => {
                        let (line, task) = serve_rtu(supply, link.unit)?;
                        bench.tasks.push(task);
                        let path = line.path.clone();
                        bench.rtu_lines.push(line);
                        InstrumentEndpoint::Rtu(path)
                    }
                };
                instruments.insert(name.clone(), endpoint);
            }
            let (io, task) = serve(DigitalIo::new(state.clone(), channels.len()), IO_UNIT).await?;
            bench.tasks.push(task);
            let uplink = if spec.profile.network.is_empty() {
                None
            } else {
                let cloud = match cloud {
                    Some(addr) => addr,
                    None => {
                        let (addr, task) = serve_cloud(gateways.clone()).await?;
                        bench.tasks.push(task);
                        *cloud.insert(addr)
                    }
                };
                let proxy = ImpairmentProxy::start(loopback(), cloud.to_string()).await?;
                // The unit's name for its cloud resolves to the impairment point, as a rack's DNS
                // points a device at the netem box.
                spawn_uplink(state.clone(), proxy.local_addr(), stop.clone());
                bench.tasks.push(crate::ota::spawn_client(
                    state.clone(),
                    crate::ota::trust_policy(&spec.profile),
                    stop.clone(),
                ));
                Some(Arc::new(proxy))
            };
            let endpoints = SlotEndpoints {
                label: spec.serial.clone(),
                console,
                instruments,
                io,
                io_model: Arc::new(DigitalIo::model(&channels)),
                i2c: Bus(state.clone()),
                flasher: Slot(state.clone()),
                uplink,
                state,
            };
            bench.slots.insert(spec.slot.clone(), endpoints);
        }
        Ok(bench)
    }

    /// The endpoints of a slot with a unit.
    pub fn slot(&self, slot: &str) -> Option<&SlotEndpoints> {
        self.slots.get(slot)
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
