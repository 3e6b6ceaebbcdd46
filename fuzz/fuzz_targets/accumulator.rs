//! The accumulator, through the real worker, fed arbitrary segment sequences: see
//! testkit::accumulator.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    testkit::accumulator(data);
});
