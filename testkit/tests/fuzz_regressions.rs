//! Replays every input under `tests/data/fuzz-regressions/<target>/` through the entry point
//! its fuzz target calls (`testkit::<target>`). A crash a fuzzer finds is saved
//! there (see `fuzz/README.md`), so it stays fixed.
//!
//! `FUZZ_DEBUG=1` prints the decoded accumulator scenarios.

use std::path::Path;
use testkit as fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz-regressions")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (every target has a directory)", dir.display()));
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            p.is_file() && !name.starts_with('.') && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        if std::env::var_os("FUZZ_DEBUG").is_some() && target == "accumulator" {
            eprintln!(
                "{}:\n{}",
                f.display(),
                fuzzing::describe_scenario(&fuzzing::decode_scenario(&data))
            );
        }
        if let Err(e) = std::panic::catch_unwind(|| run(&data)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{}: {msg}", f.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} input(s) failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

#[test]
fn packet_mss_regressions() {
    replay("packet_mss", fuzzing::packet_mss);
}

#[test]
fn accumulator_regressions() {
    replay("accumulator", fuzzing::accumulator);
}

#[test]
fn tls_hello_regressions() {
    replay("tls_hello", fuzzing::tls_hello);
}

#[test]
fn control_request_regressions() {
    replay("control_request", fuzzing::control_request);
}

/// The seed inputs in `fuzz/seeds/<target>/` are the ones `fuzzing::seeds()` makes. With
/// `FUZZ_SEED_WRITE=1` (and optionally `FUZZ_SEED_DIR`) it writes them instead of checking.
#[test]
fn fuzz_seeds_are_current() {
    let root = std::env::var_os("FUZZ_SEED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds"),
        std::path::PathBuf::from,
    );
    let write = std::env::var_os("FUZZ_SEED_WRITE").is_some();
    for (target, name, bytes) in fuzzing::seeds() {
        let dir = root.join(target);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&name), bytes).unwrap();
        } else {
            let have = std::fs::read(dir.join(&name)).unwrap_or_else(|e| {
                panic!("seed {target}/{name}: {e} (FUZZ_SEED_WRITE=1 to write)")
            });
            assert_eq!(
                have, bytes,
                "seed {target}/{name} is stale (FUZZ_SEED_WRITE=1 to rewrite)"
            );
        }
    }
}

/// The seeds themselves pass every target's checks.
#[test]
fn seeds_pass() {
    for (target, name, bytes) in fuzzing::seeds() {
        let run: fn(&[u8]) = match target {
            "packet_mss" => fuzzing::packet_mss,
            "tls_hello" => fuzzing::tls_hello,
            "control_request" => fuzzing::control_request,
            _ => fuzzing::accumulator,
        };
        if std::panic::catch_unwind(|| run(&bytes)).is_err() {
            panic!("seed {target}/{name} fails");
        }
    }
}
