//! The control request parser: see testkit::control_request.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    testkit::control_request(data);
});
