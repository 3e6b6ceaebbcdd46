//! The accumulator, through the real worker, fed arbitrary segment sequences: see
//! appliance::fuzzing::accumulator.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    appliance::fuzzing::accumulator(data);
});
