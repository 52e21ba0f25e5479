//! The policy on the running binary: `presignd serve` reloads on file change and on
//! SIGHUP, keeps the running policy when a new version is invalid, refuses to start on
//! an invalid file; `presignd policy check|validate` exit statuses and output; and every
//! example in docs/policy.md, loaded and run.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ISSUER, SECRET, config_toml};

const BINARY: &str = env!("CARGO_BIN_EXE_presignd");
/// Long enough for a debug build on a busy 2-core machine; reached only on failure.
const DEADLINE: Duration = Duration::from_secs(30);

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Read","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::uploads/${jwt:sub}/*"}]}"#;
const READ_WRITE: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"ReadWrite","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::uploads/${jwt:sub}/*"}]}"#;
const BROKEN: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Broken","Effect":"Allow","Action":"s3:GetObjcet","Resource":"*"}]}"#;

/// `presignd serve` as a child process, with its stderr collected.
struct Server {
    child: Child,
    base: String,
    policy: PathBuf,
    log: Arc<Mutex<String>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Writes a configuration for `policy` into a fresh directory and spawns `serve`.
fn spawn_serve(policy: &str, watch: bool) -> (Child, tempfile::TempDir, PathBuf, u16) {
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("policy.json");
    std::fs::write(&policy_file, policy).unwrap();
    // A free port: bind :0, read it, release it for the child.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let database_url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let config = config_toml(
        &format!("127.0.0.1:{port}"),
        &policy_file,
        "http://127.0.0.1:9",
        &database_url,
    ) + "[log]\nformat = \"json\"\nlevel = \"info\"\n";
    let config_file = dir.path().join("presignd.toml");
    std::fs::write(&config_file, config).unwrap();
    let child = Command::new(BINARY)
        .arg("serve")
        .env("PRESIGND_CONFIG", &config_file)
        .env("PRESIGND_POLICY__WATCH", watch.to_string())
        .env_remove("RUST_LOG")
        // Presigning is offline: any key pair signs. Set on the child only.
        .env("AWS_ACCESS_KEY_ID", "AKIDPRESIGNDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "presignd-test-secret-key")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir, policy_file, port)
}

/// Copies the child's stderr into a shared string, line by line, as it comes.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    log
}

impl Server {
    /// Starts `serve` and waits (bounded) until /readyz answers 200.
    async fn start(policy: &str, watch: bool) -> Server {
        let (mut child, dir, policy, port) = spawn_serve(policy, watch);
        let log = collect_stderr(&mut child);
        let mut server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            policy,
            log,
            http: reqwest::Client::new(),
            _dir: dir,
        };
        let deadline = Instant::now() + DEADLINE;
        loop {
            server.assert_running();
            let ready = server
                .http
                .get(format!("{}/readyz", server.base))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return server;
            }
            assert!(Instant::now() < deadline, "not ready:\n{}", server.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("presignd exited ({status}):\n{}", self.log());
        }
    }

    /// POST /presign for a PUT or GET of `uploads/alice/a.txt`; the status.
    async fn presign(&self, method: &str) -> u16 {
        let response = self
            .http
            .post(format!("{}/presign", self.base))
            .bearer_auth(token("alice"))
            .json(&json!({"bucket": "uploads", "key": "alice/a.txt", "method": method}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 403 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "access_denied", "{body}");
        }
        status
    }

    /// Polls `presign(method)` until it answers `want`, within the deadline.
    async fn wait_for_presign(&mut self, method: &str, want: u16) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if self.presign(method).await == want {
                return;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{method} never answered {want}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a log line holds every one of `needles`; returns it parsed.
    async fn wait_for_log(&mut self, needles: &[&str]) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let log = self.log();
            if let Some(line) = log
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return serde_json::from_str(line).unwrap();
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "no log line with {needles:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Replaces the policy the way editors save: a sibling file renamed over it.
    fn replace_policy(&self, text: &str) {
        let tmp = self.policy.with_extension("json.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &self.policy).unwrap();
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal}");
    }

    /// SIGTERM, then the exit status (bounded wait).
    async fn terminate(mut self) -> (ExitStatus, String) {
        self.signal("-TERM");
        let status = wait_exit(&mut self.child).await;
        (status, self.log())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("presignd did not exit");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An HS256 token from the test issuer.
fn token(sub: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims =
        json!({"iss": ISSUER, "sub": sub, "aud": "presignd", "iat": now, "exp": now + 600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn file_edits_reload_without_restart_and_invalid_edits_keep_the_policy() {
    let mut server = Server::start(READ_ONLY, true).await;
    assert_eq!(server.presign("PUT").await, 403);
    assert_eq!(server.presign("GET").await, 200);

    server.replace_policy(READ_WRITE);
    server.wait_for_presign("PUT", 200).await;
    let reloaded = server
        .wait_for_log(&["policy reloaded", "file change"])
        .await;
    assert_eq!(reloaded["level"], "INFO");

    // An invalid edit, in place this time: logged with file, statement and reason.
    std::fs::write(&server.policy, BROKEN).unwrap();
    let failed = server.wait_for_log(&["policy reload failed"]).await;
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["file"], server.policy.display().to_string());
    assert_eq!(failed["statement"], "Broken");
    assert!(
        failed["reason"].as_str().unwrap().contains("s3:GetObjcet"),
        "{failed}"
    );
    // The previous policy stays in force and the process keeps running.
    assert_eq!(server.presign("PUT").await, 200);
    server.assert_running();

    // A later valid edit is picked up again.
    server.replace_policy(READ_ONLY);
    server.wait_for_presign("PUT", 403).await;

    // SIGTERM stops the reloader with everything else: a clean exit.
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("presignd stopped"), "{log}");
}

#[tokio::test]
async fn sighup_reloads_and_an_invalid_file_keeps_the_policy() {
    // No watcher: only SIGHUP can make the edit take effect.
    let mut server = Server::start(READ_ONLY, false).await;
    server.replace_policy(READ_WRITE);
    assert_eq!(server.presign("PUT").await, 403);
    server.signal("-HUP");
    server.wait_for_presign("PUT", 200).await;
    server.wait_for_log(&["policy reloaded", "SIGHUP"]).await;

    server.replace_policy("{ not json");
    server.signal("-HUP");
    let failed = server
        .wait_for_log(&["policy reload failed", "SIGHUP"])
        .await;
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("invalid policy JSON"),
        "{failed}"
    );
    assert_eq!(server.presign("PUT").await, 200);
    server.assert_running();

    // A missing file is a failed reload too, not a crash.
    std::fs::remove_file(&server.policy).unwrap();
    server.signal("-HUP");
    server
        .wait_for_log(&["policy reload failed", "cannot read"])
        .await;
    assert_eq!(server.presign("PUT").await, 200);
    server.assert_running();
}

#[tokio::test]
async fn startup_refuses_an_invalid_policy_naming_file_statement_and_reason() {
    let cases = [
        (
            BROKEN,
            "statement Broken: action `s3:GetObjcet` matches no action",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
              {"Effect":"Deny","Action":"s3:PutObject","Resource":"arn:aws:s3:::photos"}]}"#,
            "statement #1: resource `arn:aws:s3:::photos` names a bucket",
        ),
        ("{ not json", "invalid policy JSON"),
    ];
    for (policy, want) in cases {
        let (mut child, _dir, file, _) = spawn_serve(policy, true);
        let log = collect_stderr(&mut child);
        let status = wait_exit(&mut child).await;
        // The reader thread may still be copying the last line.
        let deadline = Instant::now() + DEADLINE;
        while !log.lock().unwrap().contains("presignd: ") && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stderr = log.lock().unwrap().clone();
        assert_eq!(status.code(), Some(2), "{stderr}");
        let expected = format!("presignd: policy {}: {want}", file.display());
        assert!(
            stderr.contains(&expected),
            "want {expected:?} in:\n{stderr}"
        );
    }
}

/// Runs `presignd ARGS` to completion: (exit code, stdout, stderr).
fn presignd(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(BINARY)
        .args(args)
        .env_remove("PRESIGND_CONFIG")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn policy_file(dir: &Path, text: &str) -> String {
    let file = dir.join("policy.json");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

#[test]
fn policy_check_exit_statuses_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = policy_file(
        dir.path(),
        r#"{"Version":"2012-10-17","Statement":[
          {"Sid":"Own","Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::uploads/${jwt:sub}/*",
           "Condition":{"NumericLessThanEquals":{"presign:ExpiresIn":900}}},
          {"Sid":"Ops","Effect":"Allow","Action":"presign:QueryAudit","Resource":"*",
           "Condition":{"ForAnyValue:StringEquals":{"jwt:groups":"ops"}}},
          {"Sid":"NoSecrets","Effect":"Deny","Action":"s3:*","Resource":"arn:aws:s3:::*/secrets/*"}]}"#,
    );
    let check = |extra: &[&str]| {
        let mut args = vec!["policy", "check", "--policy", &file, "--sub", "alice"];
        args.extend_from_slice(extra);
        presignd(&args)
    };

    let (code, out, _) = check(&["--action", "s3:PutObject", "--resource", "uploads/alice/a"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("Allow\n  statement: Own\n"), "{out}");
    assert!(out.contains("presign:Method=PUT"), "{out}");
    assert!(out.contains("presign:ExpiresIn=900"), "{out}");

    let (code, out, _) = check(&[
        "--action",
        "s3:GetObject",
        "--resource",
        "uploads/alice/secrets/k",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("Deny\n  statement: NoSecrets\n  reason:    explicit deny"),
        "{out}"
    );

    let (code, out, _) = check(&[
        "--action",
        "s3:GetObject",
        "--resource",
        "uploads/alice/k",
        "--context",
        "presign:ExpiresIn=3600",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "implicit deny: no statement allows s3:GetObject on arn:aws:s3:::uploads/alice/k"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "tried:     Own: condition `NumericLessThanEquals` on `presign:ExpiresIn` is false"
        ),
        "{out}"
    );

    // Claims parse as JSON when they can: a group list.
    let (code, out, _) = check(&[
        "--claim",
        r#"groups=["dev","ops"]"#,
        "--action",
        "presign:QueryAudit",
        "--resource",
        "*",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(r#"claims:    {"groups":["dev","ops"],"sub":"alice"}"#),
        "{out}"
    );
    let (code, _, _) = check(&[
        "--claim",
        "groups=ops-team",
        "--action",
        "presign:QueryAudit",
        "--resource",
        "*",
    ]);
    assert_eq!(code, 1);

    // Errors: exit 2, a message on stderr, nothing on stdout.
    for (extra, message) in [
        (
            &["--action", "s3:DeleteObject", "--resource", "uploads/a/b"][..],
            "presignd asks only about",
        ),
        (
            &["--action", "s3:GetObject", "--resource", "uploads/a/../b"],
            "'.' or '..' path segments",
        ),
        (
            &[
                "--action",
                "s3:GetObject",
                "--resource",
                "uploads/a",
                "--context",
                "aws:SourceIp=nowhere",
            ],
            "not an IP address",
        ),
        (
            &[
                "--action",
                "s3:GetObject",
                "--resource",
                "uploads/a",
                "--claim",
                "=x",
            ],
            "empty claim name",
        ),
    ] {
        let (code, out, err) = check(extra);
        assert_eq!(code, 2, "{extra:?}: {out}{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains(message), "{extra:?}: {err}");
    }
    let (code, _, err) = presignd(&[
        "policy",
        "check",
        "--policy",
        "/nonexistent/p.json",
        "--sub",
        "a",
        "--action",
        "s3:GetObject",
        "--resource",
        "b1c/k",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/p.json: cannot read"), "{err}");
}

#[test]
fn policy_validate_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let good = policy_file(dir.path(), READ_WRITE);
    let (code, out, _) = presignd(&["policy", "validate", &good]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("{good}: valid (1 statement)\n"));
    let bad = policy_file(dir.path(), BROKEN);
    let (code, out, err) = presignd(&["policy", "validate", &bad]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!(
            "presignd: policy {bad}: statement Broken: action `s3:GetObjcet`"
        )),
        "{err}"
    );
}

/// A fenced block of a Markdown file: its info string, text and first line number.
struct Fenced {
    info: String,
    text: String,
    line: usize,
}

fn fenced_blocks(markdown: &str) -> Vec<Fenced> {
    let mut blocks = Vec::new();
    let mut open: Option<Fenced> = None;
    for (index, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Fenced {
                    info: info.trim().to_owned(),
                    text: String::new(),
                    line: index + 1,
                })
            }
            (Some(_), Some("")) => blocks.extend(open.take()),
            (Some(block), _) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "unterminated code block");
    blocks
}

/// Splits a command line as a POSIX shell would for the quoting the docs use: single
/// and double quotes, no expansions.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    assert!(quote.is_none(), "unbalanced quotes in {line:?}");
    words.extend(word);
    words
}

/// docs/policy.md: every ```json policy loads (```json invalid ones must not), and every
/// `$ presignd …` line in a ```console block, run against the policy above it, prints
/// exactly what the page shows, with the exit status its first word implies.
#[test]
fn every_example_in_the_policy_guide_is_true() {
    let guide = include_str!("../../docs/policy.md");
    let dir = tempfile::tempdir().unwrap();
    let mut policy: Option<(usize, bool)> = None;
    let (mut policies, mut commands) = (0, 0);
    let mut failures = Vec::new();
    for block in fenced_blocks(guide) {
        match block.info.as_str() {
            "json" | "json invalid" => {
                let valid = block.info == "json";
                let loaded = presignd::policy::Policy::from_json(&block.text);
                if loaded.is_ok() != valid {
                    failures.push(format!("line {}: loads: {loaded:?}", block.line));
                }
                std::fs::write(dir.path().join("policy.json"), &block.text).unwrap();
                policy = Some((block.line, valid));
                policies += 1;
            }
            "console" => {
                let mut lines = block.text.lines().peekable();
                while let Some(line) = lines.next() {
                    let Some(command) = line.strip_prefix("$ presignd ") else {
                        failures.push(format!("line {}: not a command: {line}", block.line));
                        break;
                    };
                    assert!(policy.is_some(), "line {}: no policy above", block.line);
                    let mut expected = String::new();
                    while let Some(output) = lines.next_if(|l| !l.starts_with("$ ")) {
                        expected.push_str(output);
                        expected.push('\n');
                    }
                    let mut child = Command::new(BINARY);
                    child.args(shell_words(command)).current_dir(dir.path());
                    for (name, _) in std::env::vars_os() {
                        if name.to_string_lossy().starts_with("PRESIGND_") {
                            child.env_remove(name);
                        }
                    }
                    let output = child.output().unwrap();
                    let printed = format!(
                        "{}{}",
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    );
                    let want_code = if expected.starts_with("Allow\n") {
                        0
                    } else if expected.starts_with("Deny\n") {
                        1
                    } else if expected.starts_with("presignd: ") {
                        2
                    } else {
                        0
                    };
                    if printed != expected || output.status.code() != Some(want_code) {
                        failures.push(format!(
                            "line {} (policy at line {}): $ presignd {command}\n\
                             exit {:?}, want {want_code}\n--- printed:\n{printed}--- the guide:\n{expected}",
                            block.line,
                            policy.unwrap().0,
                            output.status.code(),
                        ));
                    }
                    commands += 1;
                }
            }
            _ => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} example(s) are wrong:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // Guards against a parser that silently finds nothing.
    assert!(
        policies >= 12 && commands >= 25,
        "{policies} policies, {commands} commands"
    );
}
