//! `flow-bytes [CAPACITY...]`: flow-table memory per session slot (`FlowTable::memory_bytes()
//! / capacity`) for the given capacities (default: 65536 and 1200000, the datapath
//! benchmark's tables). The last line is `flow_bytes_per_session=N` for the last capacity.

fn main() {
    let mut caps: Vec<u32> = Vec::new();
    for a in std::env::args().skip(1) {
        match a.parse::<u32>() {
            Ok(c) if c > 0 => caps.push(c),
            _ => {
                eprintln!("usage: flow-bytes [CAPACITY...]   (capacities > 0)");
                std::process::exit(2);
            }
        }
    }
    if caps.is_empty() {
        caps = vec![65_536, 1_200_000];
    }
    println!(
        "size_of::<Flow>() = {} bytes",
        std::mem::size_of::<appliance_core::flow::Flow>()
    );
    let mut last = 0.0;
    for c in caps {
        last = appliance_benches::flow_bytes_per_session(c);
        println!("capacity {c}: {last:.1} bytes per session");
    }
    println!("flow_bytes_per_session={last:.1}");
}
