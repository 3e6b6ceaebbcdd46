//! Runs `Worker::poll` a fixed number of times, for an instruction counter:
//!
//! ```text
//! valgrind --tool=cachegrind --cache-sim=no target/release/worker-count FLOWS POLLS
//! valgrind --tool=cachegrind --cache-sim=no target/release/worker-count sessions N POLLS
//! ```
//!
//! (or `perf stat -e instructions` where the machine has counters). The first form replays
//! one data segment on each of FLOWS established flows; the second, N whole TLS sessions
//! (handshake, 2-segment ClientHello held and released, server flight, data, FIN) over and
//! over, each replay of a session's SYN reusing its closed 4-tuple as a new session.
//! Instruction counts do not depend on what else the machine runs, so they compare two
//! builds where timings on a shared machine cannot (benches/RESULTS.md). Subtract a run
//! with POLLS = 0 (the setup) and divide by the frames or sessions printed. The printed
//! `ns_per_frame` times the counted polls alone (setup excluded): on a shared machine, compare
//! it only between builds run alternately.

use appliance_benches::{
    established_frames, replay_worker, replay_worker_on, session_rounds, Replay,
};
use appliance_core::io::BURST;

fn usage() -> ! {
    eprintln!("usage: worker-count FLOWS POLLS | worker-count sessions N POLLS");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |s: &String| s.parse::<u64>().unwrap_or_else(|_| usage());
    let (sessions, n, polls) = match &args[..] {
        [mode, n, polls] if mode == "sessions" => (true, num(n), num(polls)),
        [n, polls] => (false, num(n), num(polls)),
        _ => usage(),
    };
    let n = u32::try_from(n).unwrap_or_else(|_| usage());
    let capacity = (n + n / 5).next_power_of_two().max(1024);
    let (mut w, warmup) = if sessions {
        let rounds = session_rounds(n);
        let len = rounds.len();
        (replay_worker_on(Replay::rounds(rounds), capacity), len * 2)
    } else {
        // The first pass creates the flows (mid-stream pick-ups).
        (
            replay_worker(established_frames(n), capacity),
            n as usize / BURST + 2,
        )
    };
    // Setup: one pass over the traffic, so the counted polls see the steady state.
    let mut now = 1_000;
    for _ in 0..warmup {
        w.poll(now);
        now += 1;
    }
    let created = w.counters().base.flows_created.get();
    let mut frames = 0;
    let t = std::time::Instant::now();
    for _ in 0..polls {
        frames += w.poll(now);
        now += 1;
    }
    let sessions_started = w.counters().base.flows_created.get() - created;
    let ns = t.elapsed().as_nanos() as f64;
    // Wall time of the counted polls alone: a timing on a shared machine, for comparing two
    // builds run alternately, not a figure to quote on its own.
    let per_frame = if frames > 0 { ns / frames as f64 } else { 0.0 };
    println!(
        "polls={polls} frames={frames} sessions_started={sessions_started} ns_per_frame={per_frame:.1}"
    );
}
