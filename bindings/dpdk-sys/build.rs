//! Build script for `dpdk-sys`: finds the system DPDK with pkg-config, generates bindings with
//! bindgen from `src/bindings.h`, and compiles `src/shim.c` (one-line wrappers for DPDK's
//! `static inline` fast-path functions, which have no symbol to link against).

use std::env;
use std::path::PathBuf;

const MISSING: &str = "\
dpdk-sys: the system DPDK was not found by pkg-config (`pkg-config --exists libdpdk` failed).

Install DPDK 22.11 and its development files, then rebuild:

    apt-get install dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config

(bindgen also needs libclang: package libclang-dev.)";

fn main() {
    println!("cargo:rerun-if-changed=src/bindings.h");
    println!("cargo:rerun-if-changed=src/shim.c");
    println!("cargo:rerun-if-changed=src/shim.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => {
            eprintln!("{MISSING}\n\npkg-config said: {e}");
            panic!("{MISSING}");
        }
    };

    // Everything pkg-config says about compiling against DPDK (include paths, `-include
    // rte_config.h`, the machine flags DPDK was built for) goes to both clang and cc, so the
    // shim and the generated layouts agree with the library.
    let mut clang_args: Vec<String> = dpdk
        .include_paths
        .iter()
        .map(|p| format!("-I{}", p.display()))
        .collect();
    // `-include rte_config.h` and `-march=...` are not part of `include_paths`: read them from
    // pkg-config's own output instead of hard-coding any.
    let raw = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("running pkg-config --cflags libdpdk");
    let flags = String::from_utf8_lossy(&raw.stdout).to_string();
    let mut words = flags.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if w == "-include" {
            if let Some(h) = words.next() {
                clang_args.push("-include".into());
                clang_args.push(h.into());
            }
        } else if w.starts_with("-m") || w.starts_with("-D") {
            clang_args.push(w.into());
        }
    }

    let mut build = cc::Build::new();
    build.file("src/shim.c").warnings(true).opt_level(3);
    for a in &clang_args {
        build.flag(a);
    }
    build.compile("dpdk_shim");

    let bindings = bindgen::Builder::default()
        .header("src/bindings.h")
        .clang_args(&clang_args)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .allowlist_function("shim_.*")
        .allowlist_function("rte_eal_.*")
        .allowlist_function("rte_eth_.*")
        .allowlist_function("rte_pktmbuf_pool_create.*")
        .allowlist_function("rte_mempool_(avail|in_use)_count|rte_mempool_free|rte_mempool_lookup")
        .allowlist_function("rte_lcore_count|rte_socket_id|rte_get_main_lcore")
        .allowlist_function("rte_thread_(register|unregister)")
        .allowlist_function("rte_strerror|rte_get_tsc_hz|rte_version")
        .allowlist_function("rte_pdump_(init|uninit)")
        .allowlist_function("rte_tel_.*|rte_telemetry_register_cmd")
        .allowlist_function("rte_pktmbuf_free_bulk|rte_pktmbuf_clone")
        .allowlist_type("rte_mbuf|rte_eth_.*|rte_mempool")
        .allowlist_var("RTE_ETH_.*|RTE_MBUF_.*|RTE_MAX_ETHPORTS|RTE_PKTMBUF_HEADROOM|RTE_MAX_LCORE|SOCKET_ID_ANY|RTE_TEL_.*|RTE_PDUMP_.*")
        // Packed-and-aligned or bitfield-heavy structs bindgen cannot lay out faithfully; we
        // never touch their fields from Rust.
        .opaque_type("rte_arp_ipv4|rte_arp_hdr|rte_l2tpv2_combined_msg_hdr|rte_gtp_psc_.*")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .generate()
        .expect("bindgen failed on DPDK headers (is libclang-dev installed?)");

    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing bindings.rs");
}
