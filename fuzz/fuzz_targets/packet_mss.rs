//! Header views and MSS fixup on arbitrary frames: see testkit::packet_mss.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    testkit::packet_mss(data);
});
