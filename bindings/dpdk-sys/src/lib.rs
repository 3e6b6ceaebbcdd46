//! Raw FFI bindings to the system DPDK (22.11, found with pkg-config at build time), plus
//! `shim_*` wrappers for the `static inline` fast-path functions (see `src/shim.c`).
//!
//! Everything here is `unsafe` and mirrors the C API one to one; the appliance's port layer
//! (`appliance::port`) is the safe interface.
#![allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code
)]
#![allow(clippy::all)]
#![allow(rustdoc::all)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_22_11() {
        // SAFETY: rte_version returns a pointer to a static NUL-terminated string; no EAL needed.
        let v = unsafe { std::ffi::CStr::from_ptr(rte_version()) };
        let v = v.to_str().unwrap();
        assert!(v.starts_with("DPDK 22.11"), "unexpected DPDK version {v}");
    }

    #[test]
    fn mbuf_layout_matches_c() {
        // The port layer reads rte_mbuf fields directly; a layout mismatch would corrupt packets.
        assert_eq!(std::mem::size_of::<rte_mbuf>(), 128);
    }
}
