//! Flashing over the GDB remote serial protocol, the protocol of OpenOCD, Black Magic Probe, the
//! J-Link GDB server, pyOCD and QEMU's stub: a client of the requests flashing needs (memory
//! reads and writes sized to the stub's `PacketSize`, `qCRC`, monitor commands, detach) and a
//! [`rigor_hal::Flasher`] on it.

mod client;
mod error;
mod flasher;
mod image;
mod packet;

pub use client::GdbRemote;
pub use error::GdbError;
pub use flasher::{GdbFlasher, ResetMethod};
pub use image::{Segment, segments};

/// The packet reader as the client runs it on bytes from a stub, for the fuzz targets (`fuzz/`):
/// every whole packet in `bytes`, checked and expanded. Not an API.
#[doc(hidden)]
pub fn fuzz_read_packets(bytes: &[u8]) -> Vec<(bool, Vec<u8>)> {
    let mut inbox = bytes.to_vec();
    let mut out = Vec::new();
    while let Some((payload, checksum)) = packet::take_packet(&mut inbox) {
        let ok = packet::checksum_ok(&payload, &checksum);
        let expanded = packet::expand_rle(&payload);
        // What the client does next with a reply: hex-decode memory reads.
        let _ = packet::unhex(&expanded);
        out.push((ok, expanded));
    }
    out
}
