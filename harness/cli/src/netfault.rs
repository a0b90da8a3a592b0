//! `rigor netfault`: packet-level network faults; `serve` answers toxiproxy's HTTP API so
//! toxiproxy clients and scripts drive rigor's TCP proxies. The work is rigor-netfault's.

use std::net::SocketAddr;

use crate::exit_code;

/// What `rigor netfault` was asked.
#[derive(Debug, clap::Subcommand)]
pub enum NetfaultCommand {
    /// Serve a toxiproxy-compatible API until Ctrl-C or SIGTERM.
    Serve {
        /// Where the API listens (toxiproxy's default port is 8474).
        #[arg(long, default_value = "127.0.0.1:8474")]
        listen: SocketAddr,
    },
}

/// Runs the subcommand; returns the exit code.
pub async fn run(command: NetfaultCommand) -> i32 {
    match command {
        NetfaultCommand::Serve { listen } => {
            let server = match rigor_netfault::toxiproxy::serve(listen).await {
                Ok(server) => server,
                Err(e) => {
                    eprintln!("error: {}", exit_code::chain(&e));
                    return exit_code::INFRASTRUCTURE;
                }
            };
            println!("toxiproxy API on http://{}", server.local_addr());
            rigor_station::interrupted().await;
            exit_code::SUCCESS
        }
    }
}
