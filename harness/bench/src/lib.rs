//! The virtual bench: simulated fridge-ctl units and their instruments, so every scenario runs
//! with no hardware. Each unit's console is a pseudo-terminal, its supply and digital I/O are
//! Modbus TCP servers on loopback; rigor opens them with the same serial and Modbus backends it
//! uses on a rack; units with an uplink report to a cloud server on loopback through rigor's
//! impairment proxy, and a gateway unit prints the readings they report. Only I²C and the firmware slot are in-process (this kernel has no I²C).

pub mod bench;
mod boot;
pub mod firmware;
pub mod gateway;
mod ota;
pub mod parts;
pub mod servers;
pub mod telemetry;
mod uart;
pub mod unit;

pub use bench::{
    Bench, BenchError, CarriedFirmware, InstrumentEndpoint, SlotEndpoints, UnitSpec, UpdateRoute,
    serial_number,
};
pub use unit::Fault;
