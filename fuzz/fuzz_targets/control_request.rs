//! The control request parser: see appliance::fuzzing::control_request.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    appliance::fuzzing::control_request(data);
});
