//! `appliance`: the datapath (`run`), config checking, and the traffic generator.

use appliance_core::config::Config;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "appliance",
    version,
    about = "Accumulation proxy: DPDK bump-in-the-wire with MSS fixup and TLS ClientHello accumulation"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the datapath until SIGINT/SIGTERM.
    Run {
        /// Configuration file (TOML).
        #[arg(long, short)]
        config: PathBuf,
        /// EAL arguments replacing the config's `[eal] args` (one string, split on whitespace).
        #[arg(long, allow_hyphen_values = true)]
        eal: Option<String>,
    },
    /// Write a pcap of realistic TLS sessions (and background UDP) for load tests and replay.
    Gen(Box<trafficgen::GenArgs>),
    /// Parse and validate a configuration file, then exit.
    CheckConfig {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Run { config, eal } => {
            Config::load(&config)
                .map_err(|e| e.to_string())
                .and_then(|cfg| {
                    let eal = eal.map(|s| s.split_whitespace().map(String::from).collect());
                    appliance::runtime::run(cfg, Some(config.clone()), eal)
                })
        }
        Cmd::Gen(args) => trafficgen::run(&args).map(|summary| println!("{summary}")),
        Cmd::CheckConfig { config } => Config::load(&config)
            .map(|_| println!("{}: ok", config.display()))
            .map_err(|e| e.to_string()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("appliance: {e}");
            ExitCode::FAILURE
        }
    }
}
