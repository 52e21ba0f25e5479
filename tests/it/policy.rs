//! The policy on the running binary: `presignd serve` reloads on file change and on
//! SIGHUP, keeps the running policy when a new version is invalid, refuses to start on
//! an invalid file; `presignd policy check|validate` exit statuses and output; and every
//! example in docs/policy.md, loaded and run.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::{self, DEADLINE, Server, ServerBuilder, eventually, token};

const READ_ONLY: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Read","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::uploads/${jwt:sub}/*"}]}"#;
const READ_WRITE: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"ReadWrite","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::uploads/${jwt:sub}/*"}]}"#;
const BROKEN: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Sid":"Broken","Effect":"Allow","Action":"s3:GetObjcet","Resource":"*"}]}"#;

/// `serve` on `policy`, reloading on file change when `watch`.
fn serve(policy: &str, watch: bool) -> ServerBuilder {
    Server::builder(policy)
        .config("[log]\nlevel = \"info\"\n")
        .env("PRESIGND_POLICY__WATCH", &watch.to_string())
}

/// Starts `serve` and waits (bounded) until /readyz answers 200.
async fn start(policy: &str, watch: bool) -> Server {
    let server = serve(policy, watch).spawn().await;
    let readyz = format!("{}/readyz", server.base());
    eventually("/readyz to answer 200", DEADLINE, || async {
        match server.http.get(&readyz).send().await {
            Ok(response) if response.status() == 200 => Ok(()),
            other => Err(other.map(|response| response.status())),
        }
    })
    .await;
    server
}

/// POST /presign for a PUT or GET of `uploads/alice/a.txt`; the status.
async fn presign(server: &Server, method: &str) -> u16 {
    let response = server
        .http
        .post(format!("{}/presign", server.base()))
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
async fn wait_for_presign(server: &mut Server, method: &str, want: u16) {
    let what = format!("{method} to answer {want}");
    eventually(&what, DEADLINE, || async {
        let status = presign(server, method).await;
        if status == want { Ok(()) } else { Err(status) }
    })
    .await;
    server.assert_running();
}

/// Replaces the policy the way editors save: a sibling file renamed over it.
fn replace_policy(server: &Server, text: &str) {
    let tmp = server.policy_file.with_extension("json.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, &server.policy_file).unwrap();
}

#[tokio::test]
async fn file_edits_reload_without_restart_and_invalid_edits_keep_the_policy() {
    let mut server = start(READ_ONLY, true).await;
    assert_eq!(presign(&server, "PUT").await, 403);
    assert_eq!(presign(&server, "GET").await, 200);

    replace_policy(&server, READ_WRITE);
    wait_for_presign(&mut server, "PUT", 200).await;
    let reloaded = server
        .wait_for_log(&["policy reloaded", "file change"])
        .await;
    assert_eq!(reloaded["level"], "INFO");

    // An invalid edit, in place this time: logged with file, statement and reason.
    std::fs::write(&server.policy_file, BROKEN).unwrap();
    let failed = server.wait_for_log(&["policy reload failed"]).await;
    assert_eq!(failed["level"], "ERROR");
    assert_eq!(failed["file"], server.policy_file.display().to_string());
    assert_eq!(failed["statement"], "Broken");
    assert!(
        failed["reason"].as_str().unwrap().contains("s3:GetObjcet"),
        "{failed}"
    );
    // The previous policy stays in force and the process keeps running.
    assert_eq!(presign(&server, "PUT").await, 200);
    server.assert_running();

    // A later valid edit is picked up again.
    replace_policy(&server, READ_ONLY);
    wait_for_presign(&mut server, "PUT", 403).await;

    // SIGTERM stops the reloader with everything else: a clean exit.
    let (status, log) = server.terminate().await;
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("presignd stopped"), "{log}");
}

#[tokio::test]
async fn sighup_reloads_and_an_invalid_file_keeps_the_policy() {
    // No watcher: only SIGHUP can make the edit take effect.
    let mut server = start(READ_ONLY, false).await;
    replace_policy(&server, READ_WRITE);
    assert_eq!(presign(&server, "PUT").await, 403);
    server.signal("-HUP").await;
    wait_for_presign(&mut server, "PUT", 200).await;
    server.wait_for_log(&["policy reloaded", "SIGHUP"]).await;

    replace_policy(&server, "{ not json");
    server.signal("-HUP").await;
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
    assert_eq!(presign(&server, "PUT").await, 200);
    server.assert_running();

    // A missing file is a failed reload too, not a crash.
    std::fs::remove_file(&server.policy_file).unwrap();
    server.signal("-HUP").await;
    server
        .wait_for_log(&["policy reload failed", "cannot read"])
        .await;
    assert_eq!(presign(&server, "PUT").await, 200);
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
        let builder = serve(policy, true);
        let file = builder.policy_file().to_owned();
        let (status, stderr) = builder.run_to_exit().await;
        assert_eq!(status.code(), Some(2), "{stderr}");
        let expected = format!("presignd: policy {}: {want}", file.display());
        assert!(
            stderr.contains(&expected),
            "want {expected:?} in:\n{stderr}"
        );
    }
}

/// Runs `presignd ARGS` to completion: (exit code, stdout, stderr).
async fn presignd(args: &[&str]) -> (i32, String, String) {
    let output = harness::presignd(args, &[]).await;
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

#[tokio::test]
async fn policy_check_exit_statuses_and_reports() {
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
    let check = async |extra: &[&str]| {
        let mut args = vec!["policy", "check", "--policy", &file, "--sub", "alice"];
        args.extend_from_slice(extra);
        presignd(&args).await
    };

    let (code, out, _) =
        check(&["--action", "s3:PutObject", "--resource", "uploads/alice/a"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("Allow\n  statement: Own\n"), "{out}");
    assert!(out.contains("presign:Method=PUT"), "{out}");
    assert!(out.contains("presign:ExpiresIn=900"), "{out}");

    let (code, out, _) = check(&[
        "--action",
        "s3:GetObject",
        "--resource",
        "uploads/alice/secrets/k",
    ])
    .await;
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
    ])
    .await;
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
    ])
    .await;
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
    ])
    .await;
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
        let (code, out, err) = check(extra).await;
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
    ])
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/p.json: cannot read"), "{err}");
}

#[tokio::test]
async fn policy_validate_exit_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let good = policy_file(dir.path(), READ_WRITE);
    let (code, out, _) = presignd(&["policy", "validate", &good]).await;
    assert_eq!(code, 0);
    assert_eq!(out, format!("{good}: valid (1 statement)\n"));
    let bad = policy_file(dir.path(), BROKEN);
    let (code, out, err) = presignd(&["policy", "validate", &bad]).await;
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
#[tokio::test]
async fn every_example_in_the_policy_guide_is_true() {
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
                    let Some(command_line) = line.strip_prefix("$ presignd ") else {
                        failures.push(format!("line {}: not a command: {line}", block.line));
                        break;
                    };
                    assert!(policy.is_some(), "line {}: no policy above", block.line);
                    let mut expected = String::new();
                    while let Some(output) = lines.next_if(|l| !l.starts_with("$ ")) {
                        expected.push_str(output);
                        expected.push('\n');
                    }
                    let mut child = harness::command(&[]);
                    child
                        .args(shell_words(command_line))
                        .current_dir(dir.path());
                    let output = harness::output(&mut child).await;
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
                            "line {} (policy at line {}): $ presignd {command_line}\n\
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
