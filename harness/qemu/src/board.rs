//! How QEMU 7.2 builds its `lm3s6965evb` board (TI Stellaris LM3S6965 evaluation board), as far
//! as the rig needs it: where the GPIO ports are in QOM, what the I2C bus is called.
//!
//! Seen with `info qtree` and `qom-list` on Debian's QEMU 7.2: the board's devices have no ids,
//! so QOM lists them under `/machine/unattached` as `device[N]` in the order the board creates
//! them; its seven GPIO ports (`pl061_luminary`) are created in order A to G. Several pins are
//! wired to board peripherals: PC7 and PD0 to the OLED display, PE0-PE3 and PF1 to the gamepad
//! (keyboard arrows and Ctrl).

use crate::error::QemuError;
use crate::qmp::Qmp;

/// The QEMU machine type.
pub const MACHINE: &str = "lm3s6965evb";

/// The bus of the I2C0 controller (`stellaris-i2c` at 0x4002_0000), for `-device ...,bus=`.
pub const I2C0_BUS: &str = "i2c";

/// The QOM type of the board's GPIO ports.
const GPIO_TYPE: &str = "child<pl061_luminary>";

/// A GPIO port of the LM3S6965.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpioPort {
    /// Port A.
    A,
    /// Port B.
    B,
    /// Port C.
    C,
    /// Port D.
    D,
    /// Port E.
    E,
    /// Port F.
    F,
    /// Port G.
    G,
}

impl GpioPort {
    /// All ports, in the order the board creates them.
    pub const ALL: [GpioPort; 7] = [
        GpioPort::A,
        GpioPort::B,
        GpioPort::C,
        GpioPort::D,
        GpioPort::E,
        GpioPort::F,
        GpioPort::G,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The port's register block in the memory map.
    pub fn mmio_base(self) -> u64 {
        match self {
            GpioPort::A => 0x4000_4000,
            GpioPort::B => 0x4000_5000,
            GpioPort::C => 0x4000_6000,
            GpioPort::D => 0x4000_7000,
            GpioPort::E => 0x4002_4000,
            GpioPort::F => 0x4002_5000,
            GpioPort::G => 0x4002_6000,
        }
    }
}

/// The QOM path of a GPIO port (`/machine/unattached/device[14]` for port G on QEMU 7.2), found
/// by listing the board's GPIO devices in creation order.
pub async fn gpio_port_path(qmp: &Qmp, port: GpioPort) -> Result<String, QemuError> {
    const PARENT: &str = "/machine/unattached";
    let mut ports: Vec<(u32, String)> = qmp
        .qom_list(PARENT)
        .await?
        .into_iter()
        .filter(|p| p.kind == GPIO_TYPE)
        .filter_map(|p| {
            let n = p
                .name
                .strip_prefix("device[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            Some((n, p.name))
        })
        .collect();
    ports.sort();
    if ports.len() != GpioPort::ALL.len() {
        return Err(QemuError::NotFound {
            what: format!("GPIO port {port:?}"),
            detail: format!(
                "expected {} {GPIO_TYPE} devices under {PARENT} (QEMU 7.2's {MACHINE}), found {}",
                GpioPort::ALL.len(),
                ports.len()
            ),
        });
    }
    let (_, name) = &ports[port.index()];
    Ok(format!("{PARENT}/{name}"))
}

/// A `-device` argument for a TMP105 temperature sensor on I2C0.
pub fn tmp105_device(id: &str, address: u8) -> String {
    format!("tmp105,bus={I2C0_BUS},address={address:#04x},id={id}")
}

/// QEMU's name for the model of the board's Ethernet controller (`-nic ...,model=`): the
/// LM3S6965's MAC at 0x4004_8000 (`stellaris_enet`), the only one this machine offers.
pub const NIC_MODEL: &str = "stellaris";

/// A `-nic` argument giving the board's Ethernet controller the existing tap device `tap` (no
/// scripts: rigor configures the tap itself) and the MAC address `mac`.
pub fn stellaris_tap_nic(tap: &str, mac: [u8; 6]) -> String {
    let mac = mac.map(|b| format!("{b:02x}")).join(":");
    format!("tap,ifname={tap},script=no,downscript=no,model={NIC_MODEL},mac={mac}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tmp105_goes_on_i2c0_by_id() {
        assert_eq!(
            tmp105_device("temp0", 0x48),
            "tmp105,bus=i2c,address=0x48,id=temp0"
        );
    }
}
