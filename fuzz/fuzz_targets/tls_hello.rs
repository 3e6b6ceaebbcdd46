//! ClientHello framing, copying, parsing and JA4: see testkit::tls_hello.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    testkit::tls_hello(data);
});
