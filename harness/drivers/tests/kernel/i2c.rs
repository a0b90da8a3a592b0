//! The i2c-dev backend against i2c-stub, an SMBus-only adapter with chips at 0x48, 0x49 and
//! 0x50 (the profiles' sensors and EEPROM; `.ci/kernel-guest/guest-init.sh` loads it so).

use std::path::PathBuf;

use i2cdev::core::{I2CMessage, I2CTransfer};
use i2cdev::linux::{LinuxI2CBus, LinuxI2CError, LinuxI2CMessage};
use rigor_drivers::i2c_dev::{Funcs, I2cDevBus};
use rigor_hal::{HalError, I2cBus};

use crate::rig;

/// The `/dev/i2c-N` of i2c-stub's adapter, found by its name in sysfs.
fn stub_bus() -> PathBuf {
    // Adapters are `i2c-N` on the i2c bus (their clients are `N-00AA`).
    for entry in std::fs::read_dir("/sys/bus/i2c/devices").unwrap() {
        let entry = entry.unwrap();
        if !entry.file_name().to_string_lossy().starts_with("i2c-") {
            continue;
        }
        let name = std::fs::read_to_string(entry.path().join("name")).unwrap();
        if name.trim() == "SMBus stub driver" {
            return PathBuf::from("/dev").join(entry.file_name());
        }
    }
    panic!("no i2c-stub adapter (is i2c_stub loaded?)");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_smbus_only_adapter_is_recognised_and_plain_i2c_would_have_failed() {
    let path = stub_bus();
    let bus = I2cDevBus::open(&path).unwrap();
    assert!(bus.uses_smbus());
    assert!(!bus.funcs().has(Funcs::I2C), "{:#x}", bus.funcs().0);
    assert!(
        bus.funcs()
            .has(Funcs::READ_I2C_BLOCK | Funcs::WRITE_WORD_DATA)
    );

    // What the backend did before it asked: a plain I²C transaction, refused with EOPNOTSUPP.
    let mut raw = LinuxI2CBus::new(&path).unwrap();
    let mut read = [0u8; 2];
    let mut messages = [
        LinuxI2CMessage::write(&[0x00]).with_address(0x48),
        LinuxI2CMessage::read(&mut read).with_address(0x48),
    ];
    match raw.transfer(&mut messages) {
        Err(LinuxI2CError::Errno(95)) => {}
        Err(LinuxI2CError::Io(e)) if e.raw_os_error() == Some(95) => {}
        other => panic!("I2C_RDWR on i2c-stub: {other:?}"),
    }

    // A transaction SMBus cannot carry says so, rather than sending something else.
    let err = bus.write_read(0x50, &[0x00, 0x10], 4).await.unwrap_err();
    assert!(matches!(err, HalError::Unsupported { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "writing 2 and reading 4 bytes at 0x50 in one transaction is not supported by \
             SMBus-only i²c bus {} (a write of 2 bytes before a read needs plain I²C transfers)",
            path.display()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_profiles_registers_are_written_and_read_back_through_the_kernel() {
    let root = rig::workspace();
    let (catalog, diags) = rigor_model::load_paths(&[root.join("device-profiles")]);
    assert!(diags.is_empty(), "{diags}");
    let profile = &catalog.profiles["fridge-ctl-gen2"].value;
    let bus = I2cDevBus::open(stub_bus()).unwrap();
    let mut checked = Vec::new();
    for (part, device) in &profile.i2c {
        for (name, register) in &device.registers {
            let len = usize::from(register.bytes);
            // A pattern that differs per part, register and byte.
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    device.address
                        ^ register
                            .address
                            .wrapping_add((i as u8).wrapping_mul(0x31) ^ 7)
                })
                .collect();
            let mut write = vec![register.address];
            write.extend(&data);
            bus.write(device.address, &write).await.unwrap();
            let read = bus
                .write_read(device.address, &[register.address], len)
                .await
                .unwrap();
            assert_eq!(read, data, "{part}.{name}");
            // The bytes sit at consecutive register addresses of the part, first byte first: read
            // back one by one, with another kind of SMBus transfer.
            for (i, byte) in data.iter().enumerate() {
                let one = bus
                    .write_read(device.address, &[register.address + i as u8], 1)
                    .await
                    .unwrap();
                assert_eq!(one, [*byte], "{part}.{name} byte {i}");
            }
            checked.push(format!("{part}.{name}/{len}"));
        }
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "eeprom.calibration/2",
            "eeprom.serial/16",
            "temp_sensor.config/2",
            "temp_sensor.temperature/2"
        ]
    );

    // An EEPROM serial number as a station would provision and read it.
    let eeprom = profile.i2c["eeprom"].address;
    let mut write = vec![0x00];
    write.extend(b"FC2-0001234\0\0\0\0\0");
    bus.write(eeprom, &write).await.unwrap();
    let serial = bus.write_read(eeprom, &[0x00], 16).await.unwrap();
    assert_eq!(&serial[..11], b"FC2-0001234");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_address_nobody_answers_is_a_nack_naming_bus_and_address() {
    let path = stub_bus();
    let bus = I2cDevBus::open(&path).unwrap();
    for result in [
        bus.write_read(0x51, &[0x00], 2).await.map(drop),
        bus.write(0x51, &[0x00, 0x12]).await,
        bus.read(0x51, 1).await.map(drop),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, HalError::Nack { address: 0x51, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("i²c address 0x51 on {} did not acknowledge", path.display())
        );
        assert_eq!(err.blame(), rigor_hal::Blame::Device);
    }
    // The chips that are there still answer on the same handle.
    bus.write_read(0x48, &[0x00], 2).await.unwrap();
}
