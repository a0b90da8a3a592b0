//! Flash throughput into QEMU's lm3s6965evb over GDB remote: rigor's flasher against
//! `gdb-multiarch -batch -ex 'target remote …' -ex load` on the same 192 KiB ELF, into the same
//! stub (target: rigor at least 1.5× gdb's rate). Both verify nothing and leave the core halted
//! where gdb would; rigor's time includes its connection and detach, gdb's its start-up.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // a benchmark fails loudly

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rigor_gdb_remote::{GdbFlasher, ResetMethod};
use rigor_hal::{FirmwareImage, Flasher, ImageFormat};
use rigor_qemu::{QemuConfig, QemuMachine};

const SIZE: usize = 192 * 1024;

/// A minimal ELF32 for ARM: one PT_LOAD of `data` at address 0 (the board's flash). Written by
/// hand because `object`'s writer makes relocatable objects, not executables with segments.
fn elf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (ehsize, phsize) = (52u16, 32u16);
    let offset = u32::from(ehsize + phsize);
    out.extend_from_slice(b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0");
    for v in [2u16, 40] {
        out.extend_from_slice(&v.to_le_bytes()); // e_type EXEC, e_machine ARM
    }
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&9u32.to_le_bytes()); // e_entry: the loop at 8, in Thumb state
    out.extend_from_slice(&u32::from(ehsize).to_le_bytes()); // e_phoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    out.extend_from_slice(&0x0500_0200u32.to_le_bytes()); // e_flags: EABI5, soft float
    for v in [ehsize, phsize, 1, 40, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let len = u32::try_from(data.len()).unwrap();
    for v in [1u32, offset, 0, 0, len, len, 5, 4] {
        out.extend_from_slice(&v.to_le_bytes()); // PT_LOAD, offset, vaddr, paddr, sizes, R+X
    }
    out.extend_from_slice(data);
    out
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut data: Vec<u8> = (0..SIZE as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    // A vector table and an endless loop, so the core idles between loads instead of locking up.
    data[..4].copy_from_slice(&0x2001_0000u32.to_le_bytes());
    data[4..8].copy_from_slice(&9u32.to_le_bytes());
    data[8..10].copy_from_slice(&[0xfe, 0xe7]);
    let path = dir.path().join("image.elf");
    std::fs::write(&path, elf(&data)).unwrap();
    let gdb: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = QemuConfig::new(&path);
    config.gdb = Some(gdb);
    // Never let it run: the image is not a program.
    let _machine = rt.block_on(QemuMachine::start(&config)).unwrap();

    let image = FirmwareImage {
        name: "image.elf".into(),
        bytes: std::fs::read(&path).unwrap().into(),
        format: ImageFormat::Elf,
        base_address: None,
    };
    let mut g = c.benchmark_group("flash 192 KiB into QEMU over GDB remote");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Bytes(SIZE as u64));
    g.bench_function("rigor", |b| {
        let mut flasher = GdbFlasher::new(gdb.to_string(), ResetMethod::None);
        b.iter(|| rt.block_on(flasher.flash(&image, false)).unwrap());
    });
    g.bench_function("gdb-multiarch load", |b| {
        b.iter(|| gdb_load(&path, gdb));
    });
    g.finish();
}

fn gdb_load(path: &Path, stub: SocketAddr) {
    let out = Command::new("gdb-multiarch")
        .args(["-nx", "-batch", "-ex", "set architecture arm"])
        .args(["-ex", &format!("target remote {stub}")])
        .arg("-ex")
        .arg("load")
        .args(["-ex", "detach"])
        .arg(path)
        .output()
        .expect("gdb-multiarch (apt install gdb-multiarch)");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Transfer rate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
