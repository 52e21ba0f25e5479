//! The `presignd` binary as a child process: `serve` through [`Server`], which binds
//! `127.0.0.1:0` and reads the bound address from the JSON log (no port is picked, released
//! and bound again); the one-shot commands through [`presignd`]. Every wait has a deadline,
//! every child dies with its handle, and a failure shows the child's stderr.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::config_toml;
use super::wait::{DEADLINE, eventually};

const BINARY: &str = env!("CARGO_BIN_EXE_presignd");

/// `presignd ARGS`, with none of the test process's `PRESIGND_*` or `RUST_LOG`, and
/// killed when dropped.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(BINARY);
    command
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("PRESIGND_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` to completion within [`DEADLINE`], collecting stdout and stderr.
pub async fn output(command: &mut Command) -> Output {
    let described = format!("{command:?}");
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    match tokio::time::timeout(DEADLINE, command.output()).await {
        Ok(output) => output.unwrap(),
        Err(_) => panic!("{described} did not finish within {DEADLINE:?}"),
    }
}

/// `presignd ARGS` with `env` on top, run to completion.
pub async fn presignd(args: &[&str], env: &[(&str, &str)]) -> Output {
    output(command(args).envs(env.iter().copied())).await
}

/// How to start `presignd serve`: a fresh directory with a policy file, a SQLite audit
/// store and a configuration for the test issuer (see [`config_toml`]).
pub struct ServerBuilder {
    dir: tempfile::TempDir,
    policy_file: PathBuf,
    database_url: String,
    config: String,
    env: Vec<(String, String)>,
}

impl ServerBuilder {
    /// Appends TOML to the configuration file: whole tables the base configuration does
    /// not have (it has `server`, `auth.issuers`, `policy`, `s3` and `audit`; change their
    /// keys with [`ServerBuilder::env`], e.g. `PRESIGND_POLICY__WATCH`).
    pub fn config(mut self, toml: &str) -> Self {
        self.config.push_str(toml);
        self
    }

    /// Sets an environment variable on the child.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    pub fn policy_file(&self) -> &Path {
        &self.policy_file
    }

    fn start(&self) -> (Child, Log) {
        let config_file = self.dir.path().join("presignd.toml");
        std::fs::write(&config_file, &self.config).unwrap();
        let mut child = command(&["serve"])
            .env("PRESIGND_CONFIG", &config_file)
            // The launcher reads the log; the environment overrides any file.
            .env("PRESIGND_LOG__FORMAT", "json")
            // Presigning is offline: any key pair signs. Set on the child only.
            .env("AWS_ACCESS_KEY_ID", "AKIDPRESIGNDTEST")
            .env("AWS_SECRET_ACCESS_KEY", "presignd-test-secret-key")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Log::collect(&mut child);
        (child, log)
    }

    /// Starts `serve` and waits until it logs the address it listens on.
    pub async fn spawn(self) -> Server {
        let (mut child, log) = self.start();
        let pid = child.id().unwrap();
        let addr = eventually("presignd to log `presignd listening`", DEADLINE, || {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "presignd exited ({status}) before listening:\n{}",
                    log.text()
                );
            }
            std::future::ready(log.listening_address())
        })
        .await;
        Server {
            addr,
            http: super::http_client(),
            policy_file: self.policy_file,
            database_url: self.database_url,
            _dir: self.dir,
            pid,
            child,
            log,
        }
    }

    /// Starts `serve` expecting it to stop by itself (a refused start): its exit status
    /// and its whole stderr.
    pub async fn run_to_exit(self) -> (ExitStatus, String) {
        let (mut child, mut log) = self.start();
        let status = wait_exit(&mut child, &log).await;
        log.finish().await;
        (status, log.text())
    }
}

/// `presignd serve` running as a child process; killed when dropped.
pub struct Server {
    /// The address it bound (`127.0.0.1:0` picked it).
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    /// The policy file it loaded; tests may edit it.
    pub policy_file: PathBuf,
    /// Its SQLite audit store, kept until the `Server` is dropped.
    pub database_url: String,
    _dir: tempfile::TempDir,
    pid: u32,
    child: Child,
    log: Log,
}

impl Server {
    /// `serve` with `policy` (e.g. [`super::POLICY`]); `.spawn().await` starts it.
    pub fn builder(policy: &str) -> ServerBuilder {
        let dir = tempfile::tempdir().unwrap();
        let policy_file = dir.path().join("policy.json");
        std::fs::write(&policy_file, policy).unwrap();
        let database_url = format!("sqlite://{}", dir.path().join("audit.db").display());
        // Nothing here talks to S3: presigning needs no connection.
        let config = config_toml(
            "127.0.0.1:0",
            &policy_file,
            "http://127.0.0.1:9",
            &database_url,
        );
        ServerBuilder {
            dir,
            policy_file,
            database_url,
            config,
            env: Vec::new(),
        }
    }

    /// `http://ADDR`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything it wrote on stderr so far.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Panics, with the log, if it has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("presignd exited ({status}):\n{}", self.log());
        }
    }

    /// Sends `signal` (`-TERM`, `-HUP`, …) with kill(1).
    pub async fn signal(&self, signal: &str) {
        let kill = output(Command::new("kill").args([signal, &self.pid.to_string()])).await;
        assert!(kill.status.success(), "kill {signal}: {kill:?}");
    }

    /// Waits until one log line holds every one of `needles`; returns it parsed.
    pub async fn wait_for_log(&mut self, needles: &[&str]) -> Value {
        let what = format!("a log line with {needles:?}");
        eventually(&what, DEADLINE, || {
            let found = self.log.find(needles);
            if found.is_none() {
                self.assert_running();
            }
            std::future::ready(found)
        })
        .await
    }

    /// SIGTERM, then the exit status and the whole log. The directory (and its audit
    /// store) stays until the `Server` is dropped.
    pub async fn terminate(&mut self) -> (ExitStatus, String) {
        self.signal("-TERM").await;
        let status = wait_exit(&mut self.child, &self.log).await;
        self.log.finish().await;
        (status, self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // `kill_on_drop` ends the child; a failed test also shows what it said.
        if std::thread::panicking() {
            eprintln!("--- presignd's stderr:\n{}", self.log());
        }
    }
}

async fn wait_exit(child: &mut Child, log: &Log) -> ExitStatus {
    match tokio::time::timeout(DEADLINE, child.wait()).await {
        Ok(status) => status.unwrap(),
        Err(_) => panic!("presignd did not exit within {DEADLINE:?}:\n{}", log.text()),
    }
}

/// The child's stderr, copied line by line as it comes (which also keeps the pipe from
/// filling up and blocking the child).
struct Log {
    text: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Log {
    fn collect(child: &mut Child) -> Log {
        let text = Arc::new(Mutex::new(String::new()));
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = text.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Log {
            text,
            reader: Some(reader),
        }
    }

    fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// Waits for the end of stderr (the child has exited), so `text` is complete.
    async fn finish(&mut self) {
        if let Some(reader) = self.reader.take() {
            match tokio::time::timeout(DEADLINE, reader).await {
                Ok(done) => done.unwrap(),
                Err(_) => panic!("presignd's stderr stayed open after it exited"),
            }
        }
    }

    /// The first JSON line holding every one of `needles`.
    fn find(&self, needles: &[&str]) -> Option<Value> {
        let text = self.text.lock().unwrap();
        let line = text
            .lines()
            .find(|line| needles.iter().all(|needle| line.contains(needle)))?;
        Some(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
    }

    /// The `address` of the `presignd listening` event, once logged.
    fn listening_address(&self) -> Option<SocketAddr> {
        let text = self.text.lock().unwrap();
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|event| event["message"] == "presignd listening")
            .map(|event| event["address"].as_str().unwrap().parse().unwrap())
    }
}
