//! No moat command panics when its reader goes away (`moat validate -f dir/ | head`): stdout is a
//! pipe whose read end is closed before moat writes, so every write fails with EPIPE; moat exits
//! with the code it would have had, quietly.

use std::process::{Command, ExitStatus};

use moat::emulator::EmulatorConfig;

const SUB: &str = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn samples() -> String {
    format!("{}/config/samples", env!("CARGO_MANIFEST_DIR"))
}

/// Runs moat with stdout on a pipe nobody reads; its exit status and stderr.
fn with_closed_stdout(args: &[&str]) -> (ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_moat")).args(args).stdout(writer).output().expect("run moat");
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn with_open_stdout(args: &[&str]) -> ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_moat")).args(args).output().expect("run moat").status
}

fn assert_quiet(args: &[&str]) {
    let (status, stderr) = with_closed_stdout(args);
    assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "moat {args:?} on a closed pipe:\n{stderr}");
    assert_eq!(status.code(), with_open_stdout(args).code(), "moat {args:?}: a closed pipe changes the exit code ({stderr})");
}

#[test]
fn offline_commands_exit_quietly_on_a_closed_pipe() {
    let bad = format!("{}/tests/fixtures/constraints/bad-subnet.yaml", env!("CARGO_MANIFEST_DIR"));
    for args in [
        vec!["crds"],
        vec!["validate", "-f", &samples()],
        vec!["validate", "-f", &bad, "-o", "json"],
        vec!["validate", "--catalog"],
        vec!["graph", "-f", &samples()],
        vec!["graph", "-f", &samples(), "--format", "dot"],
        vec!["--help"],
    ] {
        assert_quiet(&args);
    }
    // The validation result survives the closed pipe: 1 for an Error finding.
    assert_eq!(with_closed_stdout(&["validate", "-f", &bad]).0.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_exits_quietly_on_a_closed_pipe() {
    let emu = moat::emulator::start(EmulatorConfig::for_tests().with_resource_group(SUB, "rg-ml-prod")).await.expect("emulator");
    let ws = format!("{}/secureworkspace.yaml", samples());
    let ca = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-pipes-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &emu.ca_pem).expect("write the emulator's CA");
    let ca = ca.to_str().expect("utf-8 path");
    for output in ["table", "json"] {
        let args: Vec<String> = ["plan", "-f", &ws, "-o", output, "--arm-endpoint", &emu.base_url, "--arm-ca-file", ca, "--arm-token", "t", "--tenant-id", "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // The emulator runs on this runtime: wait for moat off it.
        let (status, stderr) = tokio::task::spawn_blocking(move || with_closed_stdout(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.expect("join");
        assert!(!stderr.contains("panicked"), "moat plan -o {output} on a closed pipe:\n{stderr}");
        assert_eq!(status.code(), Some(0), "{stderr}");
    }
}
