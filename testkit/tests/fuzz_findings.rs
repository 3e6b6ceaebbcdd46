//! Bugs found by the fuzz targets and property tests (issue 7), as small scenarios through
//! the real worker (`testkit::run_scenario`, which also checks the general
//! invariants: no leak, slots conserved, server bytes = client bytes). Each test states the
//! expected behaviour; it failed when written, and stays as the regression test of its fix.
//! (Finding 1 was fixed by 006c6b2, "Accumulate a session once", while these were written.)

use appliance_core::config::OnCapacity;
use testkit::{client_hello, run_scenario, Knobs, Op, Report, Scenario, SessionSpec};

const PSH: u8 = 0x08;

fn session(stream: Vec<u8>) -> SessionSpec {
    SessionSpec {
        stream,
        isn_client: 1000,
        isn_server: 5000,
        server_port: 443,
        handshake: true,
        server_mss: true,
    }
}

fn client(session: u8, off: u32, len: u32) -> Op {
    Op::Client {
        session,
        off,
        len: len as u16,
        flags: PSH,
        batch: false,
    }
}

fn server_ack(session: u8, ack_off: u32) -> Op {
    Op::Server {
        session,
        ack_off,
        len: 100,
        flags: 0,
        batch: false,
    }
}

/// The `accumulation` field of the log records of session `s` (client port 40000 + s).
fn accumulation_of(r: &Report, s: u16) -> Vec<String> {
    r.records
        .iter()
        .filter(|rec| rec.client_port == 40000 + s)
        .map(|rec| {
            rec.to_json()["accumulation"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

/// A 1200-byte ClientHello followed by the client's second flight (TLS 1.3 ChangeCipherSpec
/// and an application data record), and the hello's length.
fn hello_and_second_flight(sni: &str) -> (Vec<u8>, u32) {
    let mut s = client_hello(sni, Some(1200), false, 0, 1).unwrap();
    let hello = s.len() as u32;
    s.extend_from_slice(&[20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 5, 1, 2, 3, 4, 5]);
    (s, hello)
}

/// Finding 1: after a ClientHello was inspected and allowed, the client's next data segment
/// starts a second accumulation on the same flow (worker.rs `process`: any client payload on
/// a flow without UNINSPECTED goes to `Accumulator::on_client`, whose "no session" branch
/// starts a new one). The second flight is not a ClientHello, so that session ends `non-tls`
/// (or `malformed` for a TLS 1.2 ClientKeyExchange): the flow is marked uninspected, the
/// record's `accumulation` field says "non-tls" instead of "inspected", `acc_started` and
/// `acc_non_tls` count every inspected session twice, and a pool reservation is made again.
#[test]
fn second_flight_of_an_inspected_session_is_not_accumulated_again() {
    for split in [false, true] {
        let (stream, hello) = hello_and_second_flight("a.test");
        let ops = if split {
            vec![client(0, 0, 536), client(0, 536, hello - 536)]
        } else {
            vec![client(0, 0, hello)]
        };
        let mut ops = ops;
        ops.push(server_ack(0, hello));
        ops.push(client(0, hello, 16));
        let r = run_scenario(&Scenario {
            knobs: Knobs::default(),
            sessions: vec![session(stream)],
            ops,
        });
        assert_eq!(r.completed, 1);
        assert_eq!(
            r.started, 1,
            "split={split}: the second flight started another accumulation"
        );
        assert_eq!(
            accumulation_of(&r, 0),
            ["inspected"],
            "split={split}: the log record lost the inspection result"
        );
    }
}

/// Finding 1, worse: with `on_capacity = "reset"` and the pool full (another session is
/// accumulating), the second flight of an already inspected and allowed session cannot
/// reserve slots, and the appliance resets that healthy session (end reason
/// `accumulation-capacity`).
#[test]
fn inspected_session_is_not_reset_when_the_pool_is_full() {
    let (a, hello_a) = hello_and_second_flight("a.test");
    let b = client_hello("b.test", Some(5000), true, 0, 2).unwrap();
    let knobs = Knobs {
        packetlimit: 64,
        pool_packets: 64,
        on_capacity: OnCapacity::Reset,
        ..Knobs::default()
    };
    let ops = vec![
        client(0, 0, hello_a),  // session 0: complete hello, allowed, released
        server_ack(0, hello_a), // the server answers
        client(1, 0, 536),      // session 1 starts accumulating: the pool is now full
        client(0, hello_a, 16), // session 0's second flight
    ];
    let r = run_scenario(&Scenario {
        knobs,
        sessions: vec![session(a), session(b)],
        ops,
    });
    assert!(
        !r.reset[0],
        "an inspected, allowed session was reset: records {:?}",
        r.records
            .iter()
            .map(|x| x.to_json()["end_reason"].to_string())
            .collect::<Vec<_>>()
    );
}

/// Finding 2: a flow that ages out while the accumulator holds data for it (possible when a
/// flow timeout is shorter than `hold_timeout_secs`, which the config accepts: here
/// `established = 0.1` s and the default 10 s hold timeout) is removed with its held
/// segments freed (worker.rs `expire` -> `Accumulator::on_flow_removed` -> `free_session`):
/// bytes the appliance already acknowledged to the client on the server's behalf are lost,
/// and neither side is reset. Expected: the held data is released (or the session reset, per
/// `on_limit`) before the flow goes, or the configuration refuses flow timeouts shorter than
/// the hold timeout.
#[test]
fn aging_does_not_drop_acknowledged_data() {
    let h = client_hello("a.test", Some(3000), true, 0, 1).unwrap();
    let knobs = Knobs {
        established_ms: 100,
        ..Knobs::default()
    };
    let ops = vec![client(0, 0, 536), Op::Advance { ms: 1_000 }];
    let r = run_scenario(&Scenario {
        knobs,
        sessions: vec![session(h)],
        ops,
    });
    let delivered = r.server_bytes[0][..536].iter().all(Option::is_some);
    assert!(
        delivered || r.resets > 0,
        "536 bytes acknowledged to the client were dropped when the flow aged out, without a reset"
    );
}

/// Finding 3: `Accumulator::on_client` compares a new segment with the held bytes it overlaps
/// using `buf.data()[payload_offset..]`, which includes the Ethernet padding of a short
/// frame (accumulate/mod.rs, the `overlap_mismatch` call). A 1..=5-byte segment of an IPv4
/// session without TCP options is padded to 60 bytes; the padding "overlaps" the held segment
/// that follows it and differs from it, so the segment is taken for an evasion attempt and
/// dropped (every retransmission too): the ClientHello never completes and the session ends
/// at the hold timeout (here: reset). Expected: compare `h.tcp_payload(frame)` only.
#[test]
fn short_padded_segment_before_a_held_one_is_not_dropped() {
    let h = client_hello("a.test", Some(1000), false, 0, 1).unwrap();
    let ops = vec![
        client(0, 2, 536),          // held, out of order
        client(0, 0, 2),            // 2 bytes + 4 bytes of Ethernet padding
        client(0, 538, 1000 - 538), // completes the hello
    ];
    let r = run_scenario(&Scenario {
        knobs: Knobs::default(),
        sessions: vec![session(h.clone())],
        ops,
    });
    assert_eq!(r.completed, 1, "the ClientHello never completed");
    let got: Vec<u8> = r.server_bytes[0].iter().map(|b| b.unwrap_or(0)).collect();
    assert!(!r.reset[0]);
    assert_eq!(got, h, "the server did not get the ClientHello");
}

/// Finding 4 (a panic): `Accumulator::on_server` counts duplicate ACKs of released data in a
/// `u8` with `sess.dupacks += 1` (accumulate/mod.rs, the `else if t.ack == sess.last_ack`
/// branch). The 256th duplicate ACK from the server overflows it: a panic with overflow checks
/// (debug and test builds, `cargo fuzz -a`), a silent wrap in release. Found by the
/// `accumulator` fuzz target (`tests/data/fuzz-regressions/accumulator/dupack-counter-overflow`).
/// Expected: saturate (`saturating_add`), still retransmitting once at the third.
#[test]
fn many_duplicate_acks_of_released_data_do_not_overflow() {
    let h = client_hello("a.test", Some(3000), true, 0, 1).unwrap();
    let n = h.len() as u32;
    // Two segments held and acknowledged on the server's behalf, then the rest: released, and
    // kept until the server acknowledges them (the release phase).
    let mut ops = vec![
        client(0, 0, 536),
        client(0, 536, 536),
        client(0, 1072, n - 1072),
    ];
    // The server acknowledges the first segment, then repeats that ACK 300 times.
    for _ in 0..301 {
        ops.push(Op::Server {
            session: 0,
            ack_off: 536,
            len: 0,
            flags: 0,
            batch: false,
        });
    }
    ops.push(server_ack(0, n));
    let r = run_scenario(&Scenario {
        knobs: Knobs::default(),
        sessions: vec![session(h)],
        ops,
    });
    assert_eq!(r.completed, 1);
}

/// Finding 5 (minor): the control parser's out-of-range errors echo the number as typed,
/// whole (control/request/parse.rs `parse_number`: `"{name} {word} is out of range…"`, and
/// the same in `parse_u32`, `parse_mss` and `parse_percentile`), while every other error
/// quotes the word with `quote()` (at most 40 characters). A request of 4 KB of digits gets a 4 KB error
/// line back. Found by the `control_request` fuzz target
/// (`tests/data/fuzz-regressions/control_request/long-number-echoed-in-error`).
/// Expected: quote the word like the other errors.
#[test]
fn out_of_range_errors_quote_the_number() {
    use appliance_core::control::parse_request;
    for line in [
        format!("set packetlimit {}", "9".repeat(3000)),
        format!("set mss clamp 1{}", "0".repeat(3000)),
        format!(
            "advise packetlimit --target-percentile 1{}",
            "0".repeat(3000)
        ),
    ] {
        let e = parse_request(&line).unwrap_err();
        assert!(e.len() < 300, "{} bytes of error for {line:.40}…", e.len());
    }
}
