//! What instruments on an RS-485 line answer, through the RTU framing of rigor's Modbus driver
//! (tokio-modbus's RTU client) and its typing of answers: exceptions, CRC errors, stray units,
//! short and overlong frames.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rigor_drivers::modbus::fuzz_rtu_answers(data);
});
