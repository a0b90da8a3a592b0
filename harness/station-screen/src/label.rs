//! The label after a pass: the route's template, filled in, sent to a printer's TCP port (a ZPL
//! printer takes a raw job on port 9100, and this is all it needs).

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::app::App;

/// How long a printer may take to accept a job.
const PRINT_TIMEOUT: Duration = Duration::from_secs(5);

/// Prints `serial`'s label if the route has one; says what happened, for the tile.
pub async fn print(app: &App, serial: &str) -> Option<String> {
    let label = app.route.label.as_ref()?;
    let profile = app.route.profile_of(serial).unwrap_or_default();
    let generation = app
        .catalog
        .profiles
        .get(profile)
        .map_or("", |p| p.generation());
    let job = label.render(&[
        ("serial", serial),
        ("generation", generation),
        ("profile", profile),
        ("route", &app.route.route),
    ]);
    let send = async {
        let mut stream = tokio::net::TcpStream::connect(&label.tcp).await?;
        stream.write_all(job.as_bytes()).await?;
        stream.shutdown().await
    };
    Some(match tokio::time::timeout(PRINT_TIMEOUT, send).await {
        Ok(Ok(())) => format!("label printed on {}", label.tcp),
        Ok(Err(e)) => format!("label NOT printed: printer {} said: {e}", label.tcp),
        Err(_) => format!("label NOT printed: printer {} did not answer", label.tcp),
    })
}
