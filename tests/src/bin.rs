//! The real `portcullis` binary, for tests of the CLI and of separate server processes.
//! A served process is ready when it prints its ready line (it binds before printing), so
//! tests read that line instead of sleeping.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use anyhow::Context as _;

/// Path of the `portcullis` binary built next to this test binary (`cargo nextest run
/// --workspace` builds it; `target/<profile>/portcullis`).
pub fn portcullis_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/portcullis
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .context("locating the target directory")?;
    let bin = profile_dir.join(format!("portcullis{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        bin.is_file(),
        "{} is missing: build it with `cargo build -p portcullis-server` (make test does)",
        bin.display()
    );
    Ok(bin)
}

/// A `portcullis` command with a clean `PORTCULLIS_*` environment plus `env`.
pub fn portcullis(env: &[(&str, &str)]) -> anyhow::Result<Command> {
    let mut cmd = Command::new(portcullis_path()?);
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    Ok(cmd)
}

/// Runs `portcullis args…` to completion with `stdin` as its input.
pub fn run_portcullis(env: &[(&str, &str)], args: &[&str], stdin: &str) -> anyhow::Result<Output> {
    use std::io::Write;
    let mut child = portcullis(env)?
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}

/// A `portcullis serve` process.
pub struct ServerProcess {
    /// The child process.
    pub child: Child,
    /// `http://<addr>` it listens on.
    pub base_url: String,
    /// Every stderr line read up to readiness.
    pub startup_log: Vec<String>,
}

/// The marker the server prints once it is bound and ready.
const READY_MARKER: &str = "portcullis is ready";

/// Starts `portcullis serve` and blocks until it prints its ready line (or exits).
pub fn spawn_server(env: &[(&str, &str)]) -> anyhow::Result<ServerProcess> {
    let mut child = portcullis(env)?
        .arg("serve")
        .env("PORTCULLIS_LOG__FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("child stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut startup_log = Vec::new();
    for line in lines.by_ref() {
        let line = line?;
        startup_log.push(line.clone());
        if line.contains(READY_MARKER) {
            let event: serde_json::Value = serde_json::from_str(&line)
                .with_context(|| format!("ready line is not JSON: {line}"))?;
            let addr = event["addr"]
                .as_str()
                .context("ready line without addr")?
                .to_owned();
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Ok(ServerProcess {
                child,
                base_url: format!("http://{addr}"),
                startup_log,
            });
        }
    }
    let status = child.wait()?;
    anyhow::bail!(
        "portcullis exited ({status}) before becoming ready:\n{}",
        startup_log.join("\n")
    )
}

impl ServerProcess {
    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> anyhow::Result<std::process::ExitStatus> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        Ok(self.child.wait()?)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data directory of its own (embedded SQLite) for running CLI commands, with quiet logs.
pub struct CliSandbox {
    dir: tempfile::TempDir,
}

impl CliSandbox {
    /// A fresh, empty sandbox.
    #[expect(
        clippy::expect_used,
        reason = "test harness: no temp dir is a failed test"
    )]
    pub fn new() -> CliSandbox {
        CliSandbox {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    /// The sandbox's root (the data directory lives inside it).
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The data directory the CLI is pointed at.
    pub fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// Runs `portcullis args…` on this sandbox's store with `stdin` as input.
    #[expect(
        clippy::expect_used,
        reason = "test harness: a CLI that cannot start is a failed test"
    )]
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let data = self.data_dir();
        run_portcullis(
            &[
                ("PORTCULLIS_DATA_DIR", &data),
                ("PORTCULLIS_LOG__LEVEL", "error"),
            ],
            args,
            stdin,
        )
        .expect("running the portcullis binary")
    }
}

impl Default for CliSandbox {
    fn default() -> Self {
        CliSandbox::new()
    }
}

/// A command's stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
