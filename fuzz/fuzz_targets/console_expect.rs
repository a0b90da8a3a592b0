//! What a device says on its console, through the expect engine's input path: reads of any size,
//! broken UTF-8, floods past the buffer, patterns searched incrementally and checked against a
//! fresh search.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rigor_console::fuzz_expect(data);
});
