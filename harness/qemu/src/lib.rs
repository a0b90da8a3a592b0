//! rigor's QEMU rig: real firmware on an emulated board, reached through QEMU's own interfaces.
//!
//! [`QemuMachine`] spawns `qemu-system-arm` halted, with QMP and qtest sockets that QEMU connects
//! to at startup and the board's UART on a pseudo-terminal. Through them:
//! - [`Qmp`] runs machine commands (reset, run, quit, properties of devices);
//! - [`Qtest`] drives the board's GPIO input lines and observes its output lines, which
//!   [`QemuGpio`] offers as [`rigor_hal::DigitalLine`]s;
//! - [`Tmp105`] sets the temperature the emulated sensor reports to the firmware;
//! - the console is rigor's ordinary serial console on the pty ([`QemuMachine::open_console`]);
//! - the board's Ethernet controller gets a tap device ([`BoardNetwork`]), moved into the device
//!   namespace of a packet-level link once QEMU holds it.
//!
//! An abort of QEMU (exit code 134: the guest CPU locked up) is the device's death, blamed on the
//! device ([`QemuError::DeviceDead`]), never a failure of the harness.
//!
//! Written against, and tested with, Debian's QEMU 7.2 (`qemu-system-arm` 7.2.22). The command
//! line ([`QemuConfig::args`]) is, for the fridge fixture:
//!
//! ```text
//! qemu-system-arm -M lm3s6965evb -nographic -monitor none -S -accel tcg -serial pty
//!   -chardev socket,id=rigor-qmp,path=DIR/qmp.sock -mon chardev=rigor-qmp,mode=control
//!   -qtest unix:DIR/qtest.sock -qtest-log none [-gdb tcp:127.0.0.1:PORT]
//!   -kernel FIRMWARE.elf -device tmp105,bus=i2c,address=0x48,id=temp0
//! ```

mod board;
mod error;
mod exit;
pub mod firmware;
mod gpio;
mod machine;
mod network;
mod qmp;
mod qtest;
mod sensor;

pub use board::{
    GpioPort, I2C0_BUS, MACHINE, NIC_MODEL, gpio_port_path, stellaris_tap_nic, tmp105_device,
};
pub use error::{Channel, QemuError};
pub use exit::MachineExit;
pub use gpio::QemuGpio;
pub use machine::{QemuConfig, QemuMachine};
pub use network::BoardNetwork;
pub use qmp::{ChardevInfo, QemuVersion, Qmp, QmpEvent, QomProperty, RunState, VersionTriple};
pub use qtest::{IrqChange, Qtest};
pub use sensor::{Environment, Tmp105};
