//! What a GDB stub sends, through the client's packet reader: framing, checksums, run-length
//! expansion, hex decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rigor_gdb_remote::fuzz_read_packets(data);
});
