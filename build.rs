//! Stamps the git revision into the binary as `MOAT_GIT_REVISION` (what `moat --version` prints
//! beside Cargo.toml's version): the short commit id from `git`, else the `MOAT_GIT_REVISION`
//! environment variable (container builds without `.git` pass it as a build argument), else
//! `unknown`. Cargo reruns this when HEAD moves or the variable changes, not on every edit.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo::rerun-if-env-changed=MOAT_GIT_REVISION");
    let from_env = std::env::var("MOAT_GIT_REVISION").ok().filter(|s| !s.trim().is_empty());
    let from_git = git(&["rev-parse", "--short=12", "HEAD"]);
    if from_git.is_some() {
        // HEAD (a worktree's own) and the branch it points to move on commit: the loose ref in the
        // common dir, or packed-refs when the ref is packed. Only existing files are watched (a
        // missing one would rerun this on every build), and never all of refs/ (other worktrees'
        // commits would rebuild this one).
        let git_dir = git(&["rev-parse", "--git-dir"]).map(PathBuf::from);
        let common = git(&["rev-parse", "--git-common-dir"]).map(PathBuf::from);
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        let loose = common.as_ref().zip(branch.as_ref()).map(|(c, b)| c.join(b));
        let packed = common.as_ref().map(|c| c.join("packed-refs"));
        let head = git_dir.map(|d| d.join("HEAD"));
        let branch_file = loose.filter(|l| l.is_file()).or(packed);
        for file in [head, branch_file].into_iter().flatten().filter(|f| f.is_file()) {
            println!("cargo::rerun-if-changed={}", file.display());
        }
    } else {
        // Not a git checkout (a source tarball, a container build): nothing to watch but the env.
        println!("cargo::rerun-if-changed=build.rs");
    }
    let revision = from_git.or(from_env).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=MOAT_GIT_REVISION={revision}");
}
