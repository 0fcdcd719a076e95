//! `moat run` logs: on stderr, text without colour codes when stderr is not a terminal, JSON one
//! object per line, `--log-level` filtering, `RUST_LOG` winning over it. Each run stops at once
//! on a kubeconfig that does not exist, after logging its start and its failure.

use std::process::{Command, Output};

fn run(extra: &[&str], rust_log: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_moat"));
    cmd.args(["run", "--leader-elect=false", "--credential", "static", "--arm-token", "t", "--metrics-addr", "127.0.0.1:0"])
        .args(["--kubeconfig", "/nonexistent/moat-kubeconfig"])
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR");
    if let Some(v) = rust_log {
        cmd.env("RUST_LOG", v);
    }
    cmd.output().expect("run moat")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn text_logs_piped_carry_no_escape_codes() {
    let out = run(&["--log-format", "text"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("starting moat") && err.contains("moat failed") && err.contains("/nonexistent/moat-kubeconfig"), "{err}");
    assert!(!err.contains('\u{1b}'), "escape codes in piped logs:\n{err:?}");
    assert!(out.stdout.is_empty(), "logs go to stderr, stdout stays clean: {:?}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn json_logs_are_one_object_per_line() {
    let out = run(&["--log-format", "json"], None);
    let err = stderr(&out);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {l:?}")))
        .collect();
    assert!(lines.len() >= 2, "{err}");
    for l in &lines {
        assert!(l.is_object() && l["timestamp"].is_string() && l["level"].is_string() && l["target"].is_string(), "{l}");
    }
    let start = lines.iter().find(|l| l["message"] == "starting moat").expect("the start line");
    assert_eq!(start["level"], "INFO");
    assert_eq!(start["leader_elect"], false, "fields are flattened beside the message: {start}");
    assert!(lines.iter().any(|l| l["level"] == "ERROR" && l["message"] == "moat failed"));
    assert!(!err.contains('\u{1b}'));
}

#[test]
fn log_level_filters_and_rust_log_wins() {
    let quiet = stderr(&run(&["--log-level", "error"], None));
    assert!(!quiet.contains("starting moat") && quiet.contains("moat failed"), "--log-level error:\n{quiet}");
    let env_wins = stderr(&run(&["--log-level", "error"], Some("info")));
    assert!(env_wins.contains("starting moat"), "RUST_LOG=info over --log-level error:\n{env_wins}");
    let bad = run(&["--log-level", "moat=loud"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("--log-level=\"moat=loud\" is not a valid log filter"), "{}", stderr(&bad));
}
