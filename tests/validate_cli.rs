//! The `moat validate` binary end to end: samples are clean, a bad manifest fails with its
//! finding, malformed YAML is reported with file and line, JSON output parses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn moat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat")).args(args).current_dir(root()).output().expect("run moat")
}

fn fixture(name: &str) -> String {
    Path::new("tests/fixtures/constraints").join(name).display().to_string()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_samples_are_clean() {
    let out = moat(&["validate", "-f", "config/samples"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{}", text(&out.stderr));
    assert!(stdout.contains("0 errors, 0 warnings, 0 info: 4 objects in 6 documents from 6 files"), "{stdout}");
    assert!(stdout.contains("skipped v1 Namespace ml-platform"), "{stdout}");
    assert!(stdout.contains("skipped moat.dev/v1alpha1 AzureScopePolicy ml-platform (a tenancy policy"), "{stdout}");
}

#[test]
fn a_bad_manifest_exits_1_and_the_table_lists_the_finding() {
    let out = moat(&["validate", "-f", "config/samples/secureworkspace.yaml", "-f", &fixture("bad-subnet.yaml")]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("SEVERITY"), "{stdout}");
    let row = stdout.lines().find(|l| l.contains("NET-008")).expect("a NET-008 row");
    assert!(row.contains("Error") && row.contains("ComputeSubnet ml-platform/training") && row.contains("bad-subnet.yaml:11"), "{row}");
    assert!(stdout.contains("subnet /28 has 11 usable addresses, 20 nodes expected"), "{stdout}");
    assert!(stdout.contains("fix: use a /27 or larger"), "{stdout}");
}

#[test]
fn malformed_yaml_exits_2_with_file_and_line() {
    let out = moat(&["validate", "-f", &fixture("malformed.yaml")]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("malformed.yaml:7: malformed YAML"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_file_exits_2() {
    let out = moat(&["validate", "-f", "no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no/such/file.yaml: cannot read"), "{}", text(&out.stderr));
}

#[test]
fn json_output_parses_and_carries_the_findings() {
    let out = moat(&["validate", "-o", "json", "-f", "config/samples/secureworkspace.yaml", "-f", &fixture("bad-subnet.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["exitCode"], 1);
    let f = &v["findings"][0];
    assert_eq!(f["ruleId"], "NET-008");
    assert_eq!(f["severity"], "Error");
    assert_eq!(f["concerns"], "Network");
    assert_eq!(f["location"]["line"], 11);
    assert!(f["source"]["quote"].as_str().unwrap().contains("enough unassigned IP addresses"));
}

#[test]
fn stdin_and_observed_facts() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["validate", "-f", "-", "--observed", &fixture("observed.yaml")])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let sample = std::fs::read(root().join("config/samples/secureworkspace.yaml")).unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &sample).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("NET-002") && stdout.contains("VNet vnet-ml-prod is in northeurope, the workspace in westeurope"), "{stdout}");
    assert!(stdout.contains("<stdin>:"), "{stdout}");
}

#[test]
fn the_catalog_flag_prints_the_docs() {
    let out = moat(&["validate", "--catalog"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), moat::constraints::catalog_markdown());
}
