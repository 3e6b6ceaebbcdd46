//! ClientHello framing, copying, parsing and JA4: see appliance::fuzzing::tls_hello.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    appliance::fuzzing::tls_hello(data);
});
