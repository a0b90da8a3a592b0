//! A throwaway PostgreSQL cluster for tests: real PostgreSQL (Debian's `postgresql` package), in a
//! temporary directory, on a private socket directory and a free TCP port on 127.0.0.1, stopped
//! and removed when the [`Cluster`] is dropped.
//!
//! ```no_run
//! let cluster = rigor_pg_cluster::Cluster::start()?;
//! // postgres://rigor:…@127.0.0.1:PORT/rigor, a password login that owns database `rigor`
//! let url = cluster.url();
//! # let _ = url;
//! # Ok::<(), rigor_pg_cluster::ClusterError>(())
//! ```
//!
//! `initdb` refuses to run as root, so when the tests run as root the server's commands run as
//! the `postgres` user (`runuser -u postgres --`) and the directory is handed to it. Connections
//! over TCP need a password (SCRAM), so tests can check what a wrong password does; the socket
//! directory trusts local connections and is only reachable by whoever can read the directory.
//! `--no-sync` and `fsync=off` make a cluster start in about a second: the data lives no longer
//! than the test.

use std::fs;
use std::io;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use nix::unistd::{Uid, User};
use tempfile::TempDir;

/// Why a cluster could not be started, restarted or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries (`initdb`, `pg_ctl`) were found.
    #[error(
        "no PostgreSQL server binaries found (looked in $RIGOR_PG_BIN, /usr/lib/postgresql/*/bin \
         and PATH); install Debian's `postgresql` package"
    )]
    BinariesMissing,
    /// Running as root, but there is no `postgres` user to run the server as.
    #[error("running as root and there is no `postgres` user to run PostgreSQL as")]
    NoPostgresUser,
    /// A file-system step failed.
    #[error("cannot {action}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The `postgres` user could not be looked up or given the directory.
    #[error("cannot {action}")]
    Os {
        /// What was being done.
        action: &'static str,
        /// The operating system's reason.
        #[source]
        source: nix::Error,
    },
    /// A PostgreSQL command exited with an error.
    #[error("{program} failed ({status}): {output}")]
    Command {
        /// The program (`initdb`, `pg_ctl`, `psql`).
        program: &'static str,
        /// How it exited.
        status: ExitStatus,
        /// Its standard error and output, and the server log's tail where there is one.
        output: String,
    },
}

/// A running throwaway cluster. Dropping it stops the server (immediate shutdown) and removes its
/// directory.
#[derive(Debug)]
pub struct Cluster {
    dir: TempDir,
    bin: PathBuf,
    /// `Some("postgres")` when commands run through `runuser`.
    run_as: Option<String>,
    port: u16,
    superuser_password: String,
    running: bool,
}

/// The login role and database [`Cluster::url`] points at.
const USER: &str = "rigor";

impl Cluster {
    /// Creates a cluster in a new temporary directory and starts it. It has a superuser
    /// `postgres` and a login role `rigor` owning database `rigor`, both with one random password.
    pub fn start() -> Result<Self, ClusterError> {
        let bin = find_binaries()?;
        let run_as = if Uid::effective().is_root() {
            Some("postgres".to_owned())
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("rigor-pg-")
            .tempdir()
            .map_err(io_err("create the cluster directory"))?;
        // The server user must reach its data and socket directories inside ours.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_err("open the cluster directory to the postgres user"))?;
        let superuser_password = random_password()?;
        let mut cluster = Cluster {
            dir,
            bin,
            run_as,
            port: 0,
            superuser_password,
            running: false,
        };
        cluster.init()?;
        // The port is free when chosen but may be taken before the server binds it: try again.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            match cluster.pg_ctl(&["start"]) {
                Ok(()) => {
                    cluster.running = true;
                    last = None;
                    break;
                }
                Err(err) => last = Some(err),
            }
        }
        if let Some(err) = last {
            return Err(err);
        }
        let password = cluster.superuser_password.clone();
        // CREATE DATABASE cannot share psql's implicit transaction with another statement.
        cluster.psql_on(
            "postgres",
            &format!("CREATE ROLE {USER} LOGIN PASSWORD '{password}'"),
        )?;
        cluster.psql_on("postgres", &format!("CREATE DATABASE {USER} OWNER {USER}"))?;
        Ok(cluster)
    }

    /// A URL for the `rigor` login role (not a superuser) and its database `rigor`, over TCP
    /// with a password.
    pub fn url(&self) -> String {
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/{USER}",
            self.superuser_password, self.port
        )
    }

    /// A URL for the superuser `postgres` and database `rigor`, over TCP with a password.
    pub fn superuser_url(&self) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{USER}",
            self.superuser_password, self.port
        )
    }

    /// The TCP port the server listens on (127.0.0.1); it stays the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server if it runs (fast shutdown: open sessions are ended, work in flight is
    /// rolled back) and starts it again on the same port, waiting until it accepts connections.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        self.pg_ctl(&["restart", "-m", "fast"])?;
        self.running = true;
        Ok(())
    }

    /// Stops the server (fast shutdown) and waits for it to exit; [`Cluster::restart`] starts it
    /// again. The directory stays until the cluster is dropped.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if self.running {
            self.pg_ctl(&["stop", "-m", "fast"])?;
            self.running = false;
        }
        Ok(())
    }

    /// Runs SQL as the superuser on database `rigor` through `psql` (stopping at the first
    /// error); for setting up roles and databases in tests.
    /// Several statements run in one transaction. Returns the output, unaligned.
    pub fn psql(&self, sql: &str) -> Result<String, ClusterError> {
        self.psql_on(USER, sql)
    }

    fn psql_on(&self, database: &str, sql: &str) -> Result<String, ClusterError> {
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args(["-U", "postgres", "-d", database, "-At", "-c", sql])
            .env("PGPASSWORD", &self.superuser_password)
            .output()
            .map_err(io_err("run psql"))?;
        if !output.status.success() {
            return Err(ClusterError::Command {
                program: "psql",
                status: output.status,
                output: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("pgdata").join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn init(&self) -> Result<(), ClusterError> {
        let pwfile = self.dir.path().join("pwfile");
        fs::write(&pwfile, &self.superuser_password).map_err(io_err("write the password file"))?;
        fs::create_dir(self.socket_dir()).map_err(io_err("create the socket directory"))?;
        fs::write(self.log(), "").map_err(io_err("create the server log"))?;
        // initdb creates `data` itself, which needs a parent it may write.
        let parent = self.dir.path().join("pgdata");
        fs::create_dir(&parent).map_err(io_err("create the data directory"))?;
        if let Some(user) = &self.run_as {
            let user = User::from_name(user)
                .map_err(|source| ClusterError::Os {
                    action: "look up the postgres user",
                    source,
                })?
                .ok_or(ClusterError::NoPostgresUser)?;
            for path in [pwfile.as_path(), &self.socket_dir(), &self.log(), &parent] {
                nix::unistd::chown(path, Some(user.uid), Some(user.gid)).map_err(|source| {
                    ClusterError::Os {
                        action: "give the cluster directory to the postgres user",
                        source,
                    }
                })?;
            }
        }
        let mut initdb = self.command("initdb");
        initdb
            .arg("-D")
            .arg(self.data())
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "--no-instructions",
                "--encoding=UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()));
        run(initdb, "initdb", None)
    }

    fn pg_ctl(&self, action: &[&str]) -> Result<(), ClusterError> {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.log())
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-k {} -p {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.socket_dir().display(),
                self.port
            ))
            .args(action);
        run(cmd, "pg_ctl", Some(&self.log()))
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.run_as {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.running {
            // Nothing to keep: the immediate mode does not wait for a checkpoint.
            let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
        }
    }
}

fn run(mut cmd: Command, program: &'static str, log: Option<&Path>) -> Result<(), ClusterError> {
    let output = cmd.output().map_err(io_err("run a PostgreSQL command"))?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    if let Some(log) = log.and_then(|path| fs::read_to_string(path).ok()) {
        let tail: Vec<&str> = log.lines().rev().take(10).collect();
        text.push_str("\nserver log:\n");
        text.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    }
    Err(ClusterError::Command {
        program,
        status: output.status,
        output: text,
    })
}

/// `$RIGOR_PG_BIN`, else the newest `/usr/lib/postgresql/<major>/bin` (Debian keeps server
/// binaries off PATH), else the directory of an `initdb` on PATH.
fn find_binaries() -> Result<PathBuf, ClusterError> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("RIGOR_PG_BIN").map(PathBuf::from) {
        return has_server(&dir)
            .then_some(dir)
            .ok_or(ClusterError::BinariesMissing);
    }
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.pop() {
        return Ok(dir);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .find(|dir| has_server(dir))
        .ok_or(ClusterError::BinariesMissing)
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_err("find a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("find a free port"))?
        .port();
    Ok(port)
}

/// 32 hex digits from the kernel's random source; hex needs no quoting in URLs or SQL.
fn random_password() -> Result<String, ClusterError> {
    use std::io::Read;
    let mut bytes = [0_u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io_err("read random bytes for a password"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn io_err(action: &'static str) -> impl Fn(io::Error) -> ClusterError {
    move |source| ClusterError::Io { action, source }
}
