//! Header views and MSS fixup on arbitrary frames: see appliance::fuzzing::packet_mss.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    appliance::fuzzing::packet_mss(data);
});
