//! Runs `Worker::poll` on established flows a fixed number of times, for an instruction
//! counter: `valgrind --tool=cachegrind target/release/worker-count FLOWS POLLS` (or `perf
//! stat -e instructions` where the machine has counters). Instruction counts do not depend on
//! what else the machine runs, so they compare two builds where timings on a shared machine
//! cannot (see benches/RESULTS.md). Subtract a run with POLLS = 0 (the setup) and divide by
//! 32 × POLLS for instructions per frame.

use appliance::io::BURST;
use appliance_benches::{established_frames, replay_worker};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("usage: worker-count FLOWS POLLS"))
        .collect();
    let [flows, polls] = args[..] else {
        eprintln!("usage: worker-count FLOWS POLLS");
        std::process::exit(2);
    };
    let flows = u32::try_from(flows).expect("FLOWS fits u32");
    let capacity = (flows + flows / 5).next_power_of_two().max(1024);
    let mut w = replay_worker(established_frames(flows), capacity);
    // The first pass creates the flows (mid-stream pick-ups); it is part of the setup.
    for _ in 0..flows as usize / BURST + 2 {
        w.poll(1_000);
    }
    let mut frames = 0;
    for i in 0..polls {
        frames += w.poll(1_000 + i / 1000);
    }
    println!("flows={flows} polls={polls} frames={frames}");
}
