//! Accumulator tests through the worker on the in-memory fake: synthetic segment sequences.

use crate::packet;
use crate::record::SessionRecord;
use crate::testing::VecIo;
use crate::worker::tests::{seg, worker_with};
use crate::worker::Worker;
use crossbeam::queue::ArrayQueue;
use std::sync::Arc;
use trafficgen::frame as gf;
use trafficgen::hello::{build as build_hello, HelloSpec};

const ISN_C: u32 = 1000;
const ISN_S: u32 = 5000;

fn hello(size: usize, sni: &str) -> Vec<u8> {
    let mut spec = HelloSpec::new(sni);
    spec.target_size = Some(size);
    spec.pq = size >= 1600;
    build_hello(&spec).unwrap().bytes
}

struct T {
    w: Worker<VecIo>,
    log: Arc<ArrayQueue<SessionRecord>>,
    now: u64,
}

impl T {
    fn new(cfg: &str) -> T {
        let (w, _c, log) = worker_with(
            &format!("[flow.timeouts]\ntime_wait = 1\n{cfg}"),
            VecIo::default(),
        );
        let mut t = T { w, log, now: 0 };
        t.client(gf::SYN, ISN_C, 0, b"");
        t.server(gf::SYN | gf::ACK, ISN_S, ISN_C + 1, b"");
        t.client(gf::ACK, ISN_C + 1, ISN_S + 1, b"");
        t.w.io.sent = Default::default();
        t
    }
    fn client(&mut self, flags: u8, seq: u32, ack: u32, payload: &[u8]) {
        let f = seg(true, false, flags, seq, ack, &[], payload);
        self.w.io.rx[0].push_back(f);
        self.w.poll(self.now);
    }
    fn server(&mut self, flags: u8, seq: u32, ack: u32, payload: &[u8]) {
        let f = seg(false, false, flags, seq, ack, &[], payload);
        self.w.io.rx[1].push_back(f);
        self.w.poll(self.now);
    }
    /// Send `data` as client segments: (offset, len) pairs in the given order.
    fn send(&mut self, data: &[u8], parts: &[(usize, usize)]) {
        for &(o, l) in parts {
            self.client(
                gf::ACK | gf::PSH,
                ISN_C + 1 + o as u32,
                ISN_S + 1,
                &data[o..o + l],
            );
        }
    }
    /// The client stream bytes the server received, reassembled by sequence number.
    fn server_stream(&self) -> Vec<u8> {
        let mut segs: Vec<(u32, Vec<u8>)> = self.w.io.sent[1]
            .iter()
            .filter_map(|f| {
                let h = packet::parse(f).ok()?;
                let t = h.tcp()?;
                (t.payload_len > 0).then(|| (t.seq, h.tcp_payload(f).unwrap().to_vec()))
            })
            .collect();
        segs.sort_by_key(|s| s.0);
        let mut out = Vec::new();
        for (seq, p) in segs {
            let off = (seq - ISN_C - 1) as usize;
            if off + p.len() > out.len() {
                out.resize(off + p.len(), 0);
            }
            out[off..off + p.len()].copy_from_slice(&p);
        }
        out
    }
    /// Flags and seq/ack of what the appliance sent to the client (its own ACKs and RSTs).
    fn to_client(&self) -> Vec<(u16, u32, u32)> {
        self.w.io.sent[0]
            .iter()
            .map(|f| {
                let h = packet::parse(f).unwrap();
                assert!(
                    packet::verify_tcp_checksum(f, &h),
                    "bad checksum on crafted segment"
                );
                let t = h.tcp().unwrap();
                (t.flags.0, t.seq, t.ack)
            })
            .collect()
    }
    fn rsts_to_server(&self) -> usize {
        self.w.io.sent[1]
            .iter()
            .filter(|f| packet::parse(f).unwrap().tcp().unwrap().flags.rst())
            .count()
    }
    /// End the session and return its record.
    fn record(&mut self) -> serde_json::Value {
        self.w.shutdown(self.now);
        let r: Vec<_> = std::iter::from_fn(|| self.log.pop()).collect();
        assert_eq!(r.len(), 1);
        r[0].to_json()
    }
    fn counter(&self, name: &str) -> u64 {
        self.w
            .counters()
            .snapshot()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no counter {name}"))
            .1
    }
    fn assert_idle(&self) {
        assert_eq!(self.w.accumulating(), 0);
        assert_eq!(self.w.capacity().slots_in_use(), 0, "capacity slots leaked");
        assert_eq!(self.w.capacity().active_sessions(), 0);
    }
}

fn chunks(len: usize, size: usize) -> Vec<(usize, usize)> {
    (0..len)
        .step_by(size)
        .map(|o| (o, size.min(len - o)))
        .collect()
}

#[test]
fn in_order_segments_are_held_acked_and_released_in_order() {
    let h = hello(3000, "in-order.test");
    let mut t = T::new("");
    let parts = chunks(h.len(), 536);
    t.send(&h, &parts[..parts.len() - 1]);
    assert!(
        t.server_stream().is_empty(),
        "nothing released before the hello is complete"
    );
    // One ACK per in-order segment, on the server's behalf.
    let acks = t.to_client();
    assert_eq!(acks.len(), parts.len() - 1);
    assert_eq!(
        acks.last().unwrap(),
        &(0x10, ISN_S + 1, ISN_C + 1 + 536 * (parts.len() as u32 - 1))
    );
    t.send(&h, &parts[parts.len() - 1..]);
    assert_eq!(t.server_stream(), h);
    // The server acknowledges everything: the accumulator lets go.
    t.server(gf::ACK, ISN_S + 1, ISN_C + 1 + h.len() as u32, b"");
    t.assert_idle();
    assert_eq!(t.w.io.live(), 0, "every mbuf returned");
    let r = t.record();
    assert_eq!(r["sni"], "in-order.test");
    assert_eq!(r["tcp_segments"], parts.len());
    assert_eq!(r["client_hello_wire_bytes"], h.len());
    assert_eq!(r["verdict"], "allow");
    assert_eq!(r["post_quantum"], true);
    assert!(r["ja4"].as_str().unwrap().starts_with("t13d"));
}

#[test]
fn a_session_is_accumulated_once() {
    let h = hello(2000, "once.test");
    let mut t = T::new("[accumulation]\nretransmit_timeout_ms = 100\n");
    t.send(&h, &chunks(h.len(), 1000));
    t.server(gf::ACK, ISN_S + 1, ISN_C + 1 + h.len() as u32, b"");
    // The client's next records (Finished, application data) pass straight through.
    let app = [0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5];
    let before = t.w.io.sent[1].len();
    t.client(
        gf::ACK | gf::PSH,
        ISN_C + 1 + h.len() as u32,
        ISN_S + 1,
        &app,
    );
    assert_eq!(t.w.io.sent[1].len(), before + 1, "forwarded at once");
    assert_eq!(t.counter("acc_started"), 1);
    assert_eq!(t.counter("acc_non_tls"), 0);
    // No spurious retransmission after the release (the server acknowledged everything).
    t.now = 1000;
    t.w.poll(t.now);
    assert_eq!(t.counter("acc_retransmits"), 0);
    t.assert_idle();
}

#[test]
fn released_data_is_not_retransmitted_before_its_timeout() {
    let h = hello(2000, "rto.test");
    let mut t = T::new("[accumulation]\nretransmit_timeout_ms = 300\n");
    // The first segment at 0 s, the last (which releases the hello) at 10 s: the timer runs
    // from the release, not from an earlier packet's time.
    t.send(&h, &[(0, 1000)]);
    t.now = 10_000;
    t.send(&h, &[(1000, h.len() - 1000)]);
    t.now = 10_150;
    t.w.poll(t.now);
    assert_eq!(t.counter("acc_retransmits"), 0, "fired before its 300 ms");
    t.now = 10_500;
    t.w.poll(t.now);
    assert_eq!(t.counter("acc_retransmits"), 1);
}

#[test]
fn a_single_segment_hello_is_released_without_acks() {
    let h = hello(600, "one.test");
    let mut t = T::new("");
    t.send(&h, &[(0, h.len())]);
    assert_eq!(t.server_stream(), h);
    assert!(t.to_client().is_empty(), "no ACK needed, no delivery duty");
    t.assert_idle();
}

#[test]
fn reversed_duplicated_and_overlapping_segments_complete() {
    let h = hello(4000, "mixed.test");
    // Reversed.
    let mut t = T::new("");
    let mut parts = chunks(h.len(), 500);
    parts.reverse();
    t.send(&h, &parts);
    assert_eq!(t.server_stream(), h);
    // Duplicates: each segment twice; overlaps: 500-byte segments every 300 bytes.
    let mut t = T::new("");
    let mut parts = Vec::new();
    for p in chunks(h.len(), 500) {
        parts.push(p);
        parts.push(p);
    }
    t.send(&h, &parts);
    assert_eq!(t.server_stream(), h);
    assert!(t.counter("acc_duplicates_freed") >= 7);
    let mut t = T::new("[accumulation]\npacketlimit = 24\n");
    let parts: Vec<_> = (0..h.len())
        .step_by(300)
        .map(|o| (o, 500.min(h.len() - o)))
        .collect();
    t.send(&h, &parts);
    assert_eq!(t.server_stream(), h);
    t.server(gf::ACK, ISN_S + 1, ISN_C + 1 + h.len() as u32, b"");
    t.assert_idle();
    assert_eq!(t.w.io.live(), 0);
}

#[test]
fn overlapping_segments_with_different_bytes_are_dropped() {
    let h = hello(2000, "evade.test");
    let mut t = T::new("");
    t.send(&h, &[(0, 1000)]);
    // Same range, different bytes: dropped; the server gets the first copy only.
    let mut evil = h.clone();
    for b in &mut evil[500..1000] {
        *b ^= 0xff;
    }
    t.send(&evil, &[(500, 1000)]);
    assert_eq!(t.counter("acc_overlap_mismatch"), 1);
    t.send(&h, &[(1000, h.len() - 1000)]);
    assert_eq!(t.server_stream(), h);
    assert_eq!(t.counter("acc_completed"), 1);
}

#[test]
fn split_at_every_header_byte() {
    let h = hello(1500, "split.test");
    for k in 1..12 {
        let mut t = T::new("");
        t.send(&h, &[(0, k), (k, h.len() - k)]);
        assert_eq!(t.server_stream(), h, "split at {k}");
        assert_eq!(t.counter("acc_completed"), 1, "split at {k}");
    }
}

#[test]
fn a_hello_over_many_records_completes() {
    // OpenSSL's 9 KB hello fragmented into 18 records of 512 bytes.
    let rec = include_bytes!("../tls/testdata/openssl3-large-alpn-frag512.bin");
    let mut t = T::new("[accumulation]\npacketlimit = 24\n");
    t.send(rec, &chunks(rec.len(), 1400));
    assert_eq!(t.server_stream(), rec.to_vec());
    let r = t.record();
    assert_eq!(r["tls_records"], 18);
    assert_eq!(r["verdict"], "allow");
}

#[test]
fn too_many_packets_resets_both_ways_with_a_diagnostic() {
    let h = hello(7000, "big.test");
    let mut t = T::new("");
    t.send(&h, &chunks(h.len(), 536)); // 14 segments > 12
    assert!(t.server_stream().is_empty(), "nothing reached the server");
    let to_client = t.to_client();
    let rst = to_client.last().unwrap();
    assert_eq!(rst.0 & 0x04, 0x04, "RST to the client");
    assert_eq!(rst.1, ISN_S + 1, "at the server's next sequence number");
    assert_eq!(t.rsts_to_server(), 1);
    t.assert_idle();
    assert_eq!(t.counter("acc_limit_packets"), 1);
    // Later client data of the reset session is dropped, not passed.
    t.send(&h, &[(0, 100)]);
    assert!(t.server_stream().is_empty());
    // The record is written once the closed session's time-wait (1 s) has passed.
    t.now += 1000;
    t.w.poll(t.now);
    let r: Vec<_> = std::iter::from_fn(|| t.log.pop()).collect();
    assert_eq!(
        r.len(),
        1,
        "record written after time-wait, not at shutdown"
    );
    let r = r[0].to_json();
    assert_eq!(r["end_reason"], "accumulation-limit");
    assert_eq!(r["diag"], "accumulating too many packets 13 max 12");
    assert_eq!(t.w.io.live(), 0);
    // What it would have needed is in the histogram for `advise`.
    assert_eq!(t.w.counters().hist.segments[14].get(), 1);
}

#[test]
#[allow(clippy::arc_with_non_send_sync)] // the fake's buffers are Rc-based: one thread
fn sessions_ended_by_the_appliance_are_captured() {
    let h = hello(7000, "big.test");
    let mut t = T::new("");
    let q = Arc::new(ArrayQueue::new(4));
    t.w.set_captures(q.clone(), "/tmp/caps".into());
    t.send(&h, &chunks(h.len(), 536));
    let job = q.pop().expect("a capture job");
    let n = job.packets.iter().flatten().count();
    assert_eq!(n, 13, "the 12 held segments and the 13th");
    assert_eq!(job.reason, "accumulation-limit");
    drop(job);
    let r = t.record();
    assert_eq!(
        r["capture"],
        format!("/tmp/caps/session-{}.pcap", r["session_id"])
    );
    assert_eq!(t.w.io.live(), 0, "references released");
}

#[test]
fn on_limit_release_forwards_what_is_held_uninspected() {
    let h = hello(7000, "big.test");
    let mut t = T::new("[accumulation]\non_limit = \"release\"\n");
    t.send(&h, &chunks(h.len(), 536));
    assert_eq!(t.server_stream(), h);
    t.server(gf::ACK, ISN_S + 1, ISN_C + 1 + h.len() as u32, b"");
    t.assert_idle();
    let r = t.record();
    assert_eq!(r["accumulation"], "limit");
    assert_eq!(t.counter("acc_released_uninspected"), 1);
}

#[test]
fn too_many_bytes_and_malformed_lengths() {
    // A handshake length beyond max_bytes is over budget as soon as the header is seen.
    let mut bad = hello(1200, "x.test");
    bad[6..9].copy_from_slice(&[0x01, 0x00, 0x00]); // 65536-byte ClientHello
    let mut t = T::new("");
    t.send(&bad, &[(0, 600)]);
    assert_eq!(t.counter("acc_limit_bytes"), 1);
    assert_eq!(t.record()["end_reason"], "accumulation-limit");
    // An empty record (skipped) then content type 1: malformed, released uninspected (no
    // deny rule, so on_unparsable is release).
    let mut t = T::new("");
    t.send(&[0x16, 0x03, 0x01, 0x00, 0x00, 0x01], &[(0, 6)]);
    assert_eq!(t.counter("acc_parse_errors"), 1);
    assert_eq!(t.server_stream(), vec![0x16, 0x03, 0x01, 0x00, 0x00, 0x01]);
    t.assert_idle();
}

#[test]
fn non_tls_and_sslv2_pass_uninspected() {
    let mut t = T::new("");
    t.send(b"GET / HTTP/1.1\r\n\r\n", &[(0, 18)]);
    assert_eq!(t.server_stream(), b"GET / HTTP/1.1\r\n\r\n".to_vec());
    assert_eq!(t.counter("acc_non_tls"), 1);
    let mut t = T::new("");
    let v2 = [0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15];
    t.send(&v2, &[(0, v2.len())]);
    assert_eq!(t.server_stream(), v2.to_vec());
    assert_eq!(t.record()["accumulation"], "sslv2");
}

#[test]
fn policy_deny_resets_both_ways() {
    let cfg = "[[policy.rule]]\nsni_suffix = \".blocked.test\"\naction = \"deny\"\n";
    let h = hello(2000, "www.blocked.test");
    let mut t = T::new(cfg);
    t.send(&h, &chunks(h.len(), 1000));
    assert!(t.server_stream().is_empty());
    assert_eq!(t.rsts_to_server(), 1);
    t.assert_idle();
    let r = t.record();
    assert_eq!(r["end_reason"], "policy-deny");
    assert_eq!(r["verdict"], "deny");
}

#[test]
fn capacity_exhausted_bypasses_or_resets() {
    // pool 64 with packetlimit 64: one session at a time.
    let cfg = "[accumulation]\npool_packets = 64\npacketlimit = 64\n";
    let h = hello(2000, "cap.test");
    let mut t = T::new(cfg);
    t.send(&h, &[(0, 1000)]); // first session holds
                              // A second session on another port cannot reserve.
    let other = |t: &mut T, flags, seq, ack, p: &[u8], client: bool| {
        let mut f = seg(client, false, flags, seq, ack, &[], p);
        let hh = packet::parse(&f).unwrap();
        let l4 = hh.l4_offset as usize;
        let (sp, dp) = if client {
            (40001u16, 443u16)
        } else {
            (443, 40001)
        };
        f[l4..l4 + 2].copy_from_slice(&sp.to_be_bytes());
        f[l4 + 2..l4 + 4].copy_from_slice(&dp.to_be_bytes());
        let hh = packet::parse(&f).unwrap();
        let c = packet::tcp_checksum(&f, &hh).unwrap();
        f[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        t.w.io.rx[if client { 0 } else { 1 }].push_back(f);
        t.w.poll(t.now);
    };
    other(&mut t, gf::SYN, 1, 0, b"", true);
    other(&mut t, gf::SYN | gf::ACK, 9, 2, b"", false);
    other(&mut t, gf::ACK, 2, 10, b"", true);
    let before = t.w.io.sent[1].len();
    other(&mut t, gf::ACK, 2, 10, &h[..1000], true);
    assert_eq!(
        t.w.io.sent[1].len(),
        before + 1,
        "bypassed: forwarded at once"
    );
    assert_eq!(t.counter("acc_capacity_bypassed"), 1);
    let mut t = T::new(&format!("{cfg}on_capacity = \"reset\"\n"));
    t.send(&h, &[(0, 1000)]);
    other(&mut t, gf::SYN, 1, 0, b"", true);
    other(&mut t, gf::SYN | gf::ACK, 9, 2, b"", false);
    other(&mut t, gf::ACK, 2, 10, b"", true);
    other(&mut t, gf::ACK, 2, 10, &h[..1000], true);
    assert_eq!(t.counter("acc_capacity_reset"), 1);
    assert_eq!(
        t.counter("ended_accumulation_capacity"),
        0,
        "counted when the flow ends"
    );
    t.w.shutdown(0);
    assert_eq!(t.counter("ended_accumulation_capacity"), 1);
    t.assert_idle();
    assert_eq!(t.w.io.live(), 0);
}

#[test]
fn released_data_is_retransmitted_until_acked_then_reset() {
    let h = hello(2000, "rtx.test");
    let mut t = T::new("[accumulation]\nretransmit_timeout_ms = 100\nretransmit_tries = 2\n");
    t.send(&h, &chunks(h.len(), 1000));
    assert_eq!(t.server_stream(), h);
    let sent = t.w.io.sent[1].len();
    // Three duplicate ACKs for the start: fast retransmit of the first segment.
    for _ in 0..4 {
        t.server(gf::ACK, ISN_S + 1, ISN_C + 1, b"");
    }
    assert_eq!(t.w.io.sent[1].len(), sent + 1);
    assert_eq!(t.counter("acc_retransmits"), 1);
    // Timeouts with backoff: 100 ms, 200 ms, then give up.
    for now in [200, 500, 1000, 2000] {
        t.now = now;
        t.w.poll(now);
    }
    assert_eq!(t.counter("acc_retransmits"), 3);
    assert_eq!(t.counter("acc_release_timeouts"), 1);
    assert_eq!(t.rsts_to_server(), 1);
    t.assert_idle();
    assert_eq!(t.record()["end_reason"], "release-timeout");
    assert_eq!(t.w.io.live(), 0);
}

#[test]
fn a_stalled_hello_times_out_per_on_limit() {
    let h = hello(2000, "slow.test");
    let mut t = T::new("[accumulation]\nhold_timeout_secs = 1\n");
    t.send(&h, &[(0, 1000)]);
    t.now = 1100;
    t.w.poll(t.now);
    assert_eq!(t.counter("acc_hold_timeouts"), 1);
    t.assert_idle();
    assert_eq!(t.record()["end_reason"], "accumulation-limit");
}

#[test]
fn shutdown_resets_or_releases_accumulating_sessions() {
    let h = hello(2000, "bye.test");
    let mut t = T::new("");
    t.send(&h, &[(0, 1000)]);
    let r = t.record();
    assert_eq!(r["end_reason"], "shutdown");
    assert_eq!(t.rsts_to_server(), 1);
    t.assert_idle();
    let mut t = T::new("[accumulation]\non_limit = \"release\"\n");
    t.send(&h, &[(0, 1000)]);
    let r = t.record();
    assert_eq!(r["end_reason"], "shutdown");
    assert_eq!(t.server_stream(), h[..1000].to_vec());
    t.assert_idle();
    assert_eq!(t.w.io.live(), 0);
}

#[test]
fn one_sided_flows_are_never_accumulated() {
    let (mut w, _c, _log) = worker_with("", VecIo::default());
    // No SYN seen: picked up mid-stream.
    let h = hello(2000, "mid.test");
    w.io.rx[0].push_back(seg(true, false, gf::ACK, 7, 9, &[], &h[..1000]));
    w.poll(0);
    assert_eq!(w.io.sent[1].len(), 1, "passed at once");
    assert_eq!(w.accumulating(), 0);
}

/// Recycling hands a summary's parsed hello to the spare pool, and the next ClientHello is
/// parsed into it (`complete`): the record shows the new hello only, none of the old one's
/// SNI or ALPN names.
#[test]
fn a_recycled_hello_is_parsed_into_and_shows_nothing_old() {
    use crate::record::hello_summary;
    use crate::tls::parse_client_hello;
    let mut old_spec = HelloSpec::new("old.example");
    old_spec.alpn = vec!["x-1".into(), "x-2".into(), "x-3".into()];
    let old = build_hello(&old_spec).unwrap().bytes;
    // One TLS record: the handshake message follows its 5-byte header.
    let old_info = parse_client_hello(&old[5..]).unwrap();
    assert_eq!(old_info.alpn.len(), 3);

    let mut t = T::new("");
    let acc = t.w.acc_mut();
    acc.recycle(Some(Box::new(hello_summary(Box::new(old_info), 1, 1, 600))));
    assert_eq!((acc.spare_summaries.len(), acc.spare_hellos.len()), (1, 1));
    let h = hello(2000, "new.test");
    t.send(&h, &chunks(h.len(), 1000));
    assert!(
        t.w.acc_mut().spare_hellos.is_empty(),
        "the recycled hello was used"
    );
    let r = t.record();
    assert_eq!(r["sni"], "new.test");
    assert_eq!(r["alpn"], serde_json::json!(["h2", "http/1.1"]));
}

/// A ClientHello that frames correctly but does not parse is released uninspected, and the
/// record says why.
#[test]
fn an_unparsable_hello_is_released_with_the_reason() {
    let mut h = hello(900, "bad.test");
    // Cipher suites length (after record header 5, handshake header 4, version 2, random 32,
    // session id 1 + 32): runs past the body.
    assert_eq!(h[5], 1, "a ClientHello");
    h[76..78].copy_from_slice(&[0xff, 0xfe]);
    let mut t = T::new("");
    t.send(&h, &chunks(h.len(), 500));
    assert_eq!(t.counter("acc_parse_errors"), 1);
    assert_eq!(t.server_stream(), h);
    let r = t.record();
    assert_eq!(r["accumulation"], "parse-error");
    let diag = r["diag"].as_str().unwrap_or_default().to_string();
    assert!(diag.starts_with("ClientHello: "), "{r}");
}

/// `wants` says exactly what the worker's own conditions say today: `process_lite` forwards
/// without the accumulator when it is false, and `process_tcp` calls `on_client` (client data)
/// or `on_server` (server segments of a session) only when it is true.
#[test]
fn wants_matches_the_workers_conditions() {
    use crate::flow::{flag, Dir, Flow};
    let mut t = T::new("");
    let acc = t.w.acc_mut();
    for flags in [
        0,
        flag::ACC_DONE,
        flag::ACCUMULATING,
        flag::ACC_DONE | flag::ACCUMULATING,
    ] {
        let mut f = Flow::default();
        f.flags = flags;
        for dir in [Dir::FromClient, Dir::FromServer] {
            for len in [0u16, 1, 1460] {
                let lite_skips = !f.has(flag::ACCUMULATING)
                    && (f.has(flag::ACC_DONE) || dir == Dir::FromServer || len == 0);
                assert_eq!(
                    acc.wants(&f, dir, len),
                    !lite_skips,
                    "{flags:#x} {dir:?} {len}"
                );
                let tcp_calls = match dir {
                    Dir::FromClient => {
                        len > 0 && (f.has(flag::ACCUMULATING) || !f.has(flag::ACC_DONE))
                    }
                    Dir::FromServer => f.has(flag::ACCUMULATING),
                };
                // A client segment without payload of a session: `on_client` forwards it.
                let client_ack = dir == Dir::FromClient && len == 0;
                if !client_ack {
                    assert_eq!(
                        acc.wants(&f, dir, len),
                        tcp_calls,
                        "{flags:#x} {dir:?} {len}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile clients (issue 20): each attack tries to get a hello with a denied SNI to the
// server. The server must receive none of it, and the session must end as policy-deny.
// ---------------------------------------------------------------------------------------------

const DENY: &str = "[[policy.rule]]\nsni_suffix = \".blocked.test\"\naction = \"deny\"\n";

/// A client data segment at `seq` (ACK of the SYN-ACK), as the frame bytes.
fn data_seg(seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    seg(true, false, flags, seq, ack, &[], payload)
}

/// Recompute the TCP checksum of a frame edited by a test.
fn fix_tcp_checksum(f: &mut [u8]) {
    let h = packet::parse(f).unwrap();
    let c = packet::tcp_checksum(f, &h).unwrap();
    let at = h.l4_offset as usize + 16;
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

impl T {
    fn client_frame(&mut self, f: Vec<u8>) {
        self.w.io.rx[0].push_back(f);
        self.w.poll(self.now);
    }
    /// The denied hello in two segments after whatever the attack sent; then the checks.
    fn denied_hello_is_not_delivered(&mut self) {
        let h = hello(1200, "x.blocked.test");
        self.send(&h, &[(0, 600), (600, h.len() - 600)]);
        let stream = self.server_stream();
        assert!(
            !stream.windows(14).any(|w| w == b"x.blocked.test"),
            "the denied hello reached the server ({} bytes)",
            stream.len()
        );
        assert_eq!(self.rsts_to_server(), 1, "reset as policy-deny");
        let r = self.record();
        assert_eq!(r["end_reason"], "policy-deny", "{r}");
    }
}

#[test]
fn attack_bare_ack_far_ahead_does_not_move_the_stream_start() {
    let mut t = T::new(DENY);
    t.client(gf::ACK, ISN_C + 100_001, ISN_S + 1, b"");
    t.denied_hello_is_not_delivered();
}

#[test]
fn attack_decoys_the_server_would_drop_are_not_judged() {
    let allowed = hello(1200, "x.allowed.test");
    type Tamper = fn(&mut Vec<u8>);
    let decoys: [(&str, Tamper, u8); 6] = [
        ("bad_checksum", |f| f[50] ^= 0x55, gf::ACK | gf::PSH),
        (
            "tcp_md5_option",
            |f| {
                // The timestamps option (kind 8, length 10) becomes kind 19 (MD5).
                let at = 54 + f[54..].windows(2).position(|w| w == [8, 10]).unwrap();
                f[at] = 19;
                fix_tcp_checksum(f);
            },
            gf::ACK | gf::PSH,
        ),
        ("no_ack_flag", |_| {}, gf::PSH),
        ("syn_with_data", |_| {}, gf::SYN | gf::PSH),
        (
            "bad_ack",
            |f| {
                f[42..46].copy_from_slice(&(ISN_S + 1_000_000).to_be_bytes());
                fix_tcp_checksum(f);
            },
            gf::ACK | gf::PSH,
        ),
        ("ip_header_checksum", |f| f[24] ^= 0x01, gf::ACK | gf::PSH),
    ];
    for (name, tamper, flags) in decoys {
        let mut t = T::new(DENY);
        let opts = [gf::TcpOption::Timestamps { val: 7, ecr: 1 }];
        let mut f = seg(true, false, flags, ISN_C + 1, ISN_S + 1, &opts, &allowed);
        tamper(&mut f);
        t.client_frame(f);
        assert!(t.server_stream().is_empty(), "{name}: decoy forwarded");
        let counter = match name {
            "ip_header_checksum" => "dropped_bad_checksum".to_string(),
            n => format!("dropped_{n}"),
        };
        assert_eq!(t.counter(&counter), 1, "{name}");
        t.denied_hello_is_not_delivered();
    }
}

#[test]
fn attack_teardown_and_desync_segments_change_nothing() {
    let allowed = hello(1200, "x.allowed.test");
    let cases: [(&str, Vec<u8>); 5] = [
        (
            "rst_not_exact",
            data_seg(ISN_C + 50, ISN_S + 1, gf::RST | gf::ACK, b""),
        ),
        (
            "fin_out_of_order",
            data_seg(ISN_C + 5000, ISN_S + 1, gf::FIN | gf::ACK, b""),
        ),
        ("syn_in_session", data_seg(ISN_C + 77_777, 0, gf::SYN, b"")),
        (
            "synack_from_client",
            data_seg(ISN_C + 900_000, ISN_S + 1, gf::SYN | gf::ACK, b""),
        ),
        (
            "out_of_window",
            data_seg(
                ISN_C + 1 + 10_000_000,
                ISN_S + 1,
                gf::ACK | gf::PSH,
                &allowed,
            ),
        ),
    ];
    for (name, f) in cases {
        let mut t = T::new(DENY);
        t.client_frame(f);
        assert_eq!(t.counter(&format!("dropped_{name}")), 1, "{name}");
        t.denied_hello_is_not_delivered();
    }
}

#[test]
fn honest_segments_pass_the_guard() {
    // In-window out-of-order data, a retransmission, an in-order FIN after the hello: the
    // allowed hello still completes and nothing is refused.
    let h = hello(1200, "ok.allowed.test");
    let mut t = T::new(DENY);
    t.send(&h, &[(600, h.len() - 600), (0, 600), (0, 600)]);
    assert_eq!(t.server_stream(), h);
    let end = ISN_C + 1 + h.len() as u32;
    t.client(gf::FIN | gf::ACK, end, ISN_S + 1, b"");
    let refused: u64 = crate::flow::Refusal::ALL
        .iter()
        .map(|r| t.counter(&format!("dropped_{}", r.name())))
        .sum();
    assert_eq!(refused, 0);
}

/// Under a policy that can deny, a hello that cannot be parsed is reset, not released: what
/// cannot be judged does not reach the server. `on_unparsable = "release"` is the named
/// fail-open, counted as released uninspected.
#[test]
fn an_unparsable_hello_is_reset_when_the_policy_can_deny() {
    let mut h = hello(900, "x.blocked.test");
    h[76..78].copy_from_slice(&[0xff, 0xfe]);
    for (cfg, reset) in [
        (DENY.to_string(), true),
        ("[policy]\ndefault = \"deny\"\n".to_string(), true),
        (
            format!("[accumulation]\non_unparsable = \"release\"\n{DENY}"),
            false,
        ),
        (
            "[accumulation]\non_unparsable = \"reset\"\n".to_string(),
            true,
        ),
    ] {
        let mut t = T::new(&cfg);
        t.send(&h, &chunks(h.len(), 500));
        assert_eq!(t.counter("acc_parse_errors"), 1, "{cfg}");
        if reset {
            assert!(t.server_stream().is_empty(), "{cfg}");
            assert_eq!(t.rsts_to_server(), 1, "{cfg}");
            assert_eq!(t.counter("acc_unparsable_reset"), 1, "{cfg}");
            t.assert_idle();
            assert_eq!(t.record()["end_reason"], "unparsable", "{cfg}");
        } else {
            assert_eq!(t.server_stream(), h, "{cfg}");
            assert_eq!(t.counter("acc_released_uninspected"), 1, "{cfg}");
        }
    }
}

/// The ACKs sent on the server's behalf advertise a window the client reads correctly: with
/// window scaling (shift 7 both ways) the field, shifted, never exceeds the bytes the session
/// will still accept (the SYN-ACK's field, unscaled, would read as 8 MB).
#[test]
fn acks_on_the_servers_behalf_advertise_a_scaled_bounded_window() {
    let (mut w, _c, _log) =
        crate::worker::tests::worker_with("[accumulation]\nmax_bytes = 4096\n", VecIo::default());
    let ws = [gf::TcpOption::WindowScale(7)];
    let frames = [
        (true, seg(true, false, gf::SYN, ISN_C, 0, &ws, b"")),
        (
            false,
            seg(false, false, gf::SYN | gf::ACK, ISN_S, ISN_C + 1, &ws, b""),
        ),
        (
            true,
            seg(true, false, gf::ACK, ISN_C + 1, ISN_S + 1, &[], b""),
        ),
    ];
    for (client, f) in frames {
        w.io.rx[if client { 0 } else { 1 }].push_back(f);
        w.poll(0);
    }
    w.io.sent = Default::default();
    let h = hello(3000, "ok.test");
    w.io.rx[0].push_back(seg(
        true,
        false,
        gf::ACK | gf::PSH,
        ISN_C + 1,
        ISN_S + 1,
        &[],
        &h[..1000],
    ));
    w.poll(0);
    let acks: Vec<_> = w.io.sent[0]
        .iter()
        .map(|f| *packet::parse(f).unwrap().tcp().unwrap())
        .collect();
    assert_eq!(acks.len(), 1, "one ACK of the first segment");
    let t = acks[0];
    assert_eq!(t.ack, ISN_C + 1 + 1000);
    let read_by_client = u32::from(t.window) << 7;
    let room = 4096 + 1024 - 1000;
    assert!(read_by_client <= room, "window {read_by_client} > {room}");
    assert!(
        read_by_client >= room - 127,
        "window {read_by_client} too small"
    );
}

/// A hello sent with a low TTL is released with `min_ttl` (64 by default), checksums valid, so
/// a copy judged here cannot be one that would have expired before the server (issue 20).
#[test]
fn released_segments_leave_with_at_least_min_ttl() {
    for (cfg, want) in [("", 64u8), ("[accumulation]\nmin_ttl = 200\n", 200)] {
        let h = hello(1200, "ok.test");
        let mut t = T::new(cfg);
        for (o, l) in [(0usize, 600usize), (600, h.len() - 600)] {
            let mut f = data_seg(
                ISN_C + 1 + o as u32,
                ISN_S + 1,
                gf::ACK | gf::PSH,
                &h[o..o + l],
            );
            let hh = packet::parse(&f).unwrap();
            let at = hh.l3_offset as usize;
            f[at + 8] = 3; // TTL 3
            f[at + 10..at + 12].copy_from_slice(&[0, 0]);
            let c = packet::checksum::ipv4_header_checksum(&f[at..at + 20]);
            f[at + 10..at + 12].copy_from_slice(&c.to_be_bytes());
            t.client_frame(f);
        }
        assert_eq!(t.server_stream(), h, "{cfg}");
        for f in &t.w.io.sent[1] {
            let hh = packet::parse(f).unwrap();
            assert_eq!(hh.ttl, want, "{cfg}");
            assert!(packet::verify_ip_header(f, &hh) && packet::verify_tcp_checksum(f, &hh));
        }
        assert_eq!(t.counter("acc_ttl_raised"), 2, "{cfg}");
    }
}

/// One client address may hold at most `per_source` sessions accumulating at once; its next
/// one is reset (not bypassed), other addresses are unaffected, and the count goes down as
/// sessions end (issue 20, attack 8: a slowloris on the hold slots).
#[test]
fn per_source_cap_resets_the_extra_sessions_of_one_client() {
    let h = hello(1200, "ok.test");
    let mut t = T::new("[accumulation]\nper_source = 2\n");
    // Frames of the test session with another client port (and optionally address).
    let on = |f: Vec<u8>, port: u16, client: bool, addr: Option<u8>| {
        let mut f = f;
        let hh = packet::parse(&f).unwrap();
        let l4 = hh.l4_offset as usize;
        let at = if client { l4 } else { l4 + 2 };
        f[at..at + 2].copy_from_slice(&port.to_be_bytes());
        if let Some(a) = addr {
            let ip = hh.l3_offset as usize + if client { 15 } else { 19 };
            f[ip] = a;
            let c = {
                f[hh.l3_offset as usize + 10..hh.l3_offset as usize + 12].copy_from_slice(&[0, 0]);
                packet::checksum::ipv4_header_checksum(&f[hh.l3_offset as usize..l4])
            };
            f[hh.l3_offset as usize + 10..hh.l3_offset as usize + 12]
                .copy_from_slice(&c.to_be_bytes());
        }
        let hh = packet::parse(&f).unwrap();
        let c = packet::tcp_checksum(&f, &hh).unwrap();
        f[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        f
    };
    let start = |t: &mut T, port: u16, addr: Option<u8>| {
        let c =
            |fl, seq, ack, p: &[u8]| on(seg(true, false, fl, seq, ack, &[], p), port, true, addr);
        let s = |fl, seq, ack| on(seg(false, false, fl, seq, ack, &[], b""), port, false, addr);
        t.client_frame(c(gf::SYN, ISN_C, 0, b""));
        t.w.io.rx[1].push_back(s(gf::SYN | gf::ACK, ISN_S, ISN_C + 1));
        t.w.poll(t.now);
        t.client_frame(c(gf::ACK, ISN_C + 1, ISN_S + 1, b""));
        t.client_frame(c(gf::ACK | gf::PSH, ISN_C + 1, ISN_S + 1, &h[..600]));
    };
    // The first session (T's own) and a second hold; the third is reset.
    t.send(&h, &[(0, 600)]);
    start(&mut t, 40001, None);
    assert_eq!(t.w.accumulating(), 2);
    start(&mut t, 40002, None);
    assert_eq!(
        t.w.accumulating(),
        2,
        "the third session of one address is not held"
    );
    assert_eq!(t.counter("acc_per_source_refused"), 1);
    assert_eq!(t.rsts_to_server(), 1, "it was reset, not bypassed");
    // Another address still accumulates.
    start(&mut t, 40003, Some(9));
    assert_eq!(t.w.accumulating(), 3);
    // T's session completes and the server acknowledges it: its address may start another.
    t.send(&h, &[(600, h.len() - 600)]);
    t.server(gf::ACK, ISN_S + 1, ISN_C + 1 + h.len() as u32, b"");
    assert_eq!(t.w.accumulating(), 2);
    start(&mut t, 40004, None);
    assert_eq!(t.w.accumulating(), 3);
    assert_eq!(t.counter("acc_per_source_refused"), 1);
}
