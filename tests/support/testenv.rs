//! A real Kubernetes control plane for integration tests: etcd and
//! kube-apiserver v1.36 with RBAC on, on loopback, plus kubectl (and helm when
//! it was built).
//!
//! Each test binary starts one on first use and its tests share it; each test
//! works in a namespace of its own:
//!
//! ```ignore
//! mod support;
//!
//! #[tokio::test]
//! async fn creates_things() {
//!     let env = support::testenv::shared().await;
//!     let ns = env.namespace("things").await.expect("create namespace");
//!     let client = env.client(); // a fresh client for this test's runtime
//!     // ...
//! }
//! ```
//!
//! The binaries come from `scripts/testenv-build.sh` (cached after the first
//! build); the Go launcher `testenv` runs the servers. It stops them and removes
//! its temporary directory when the pipe to its stdin closes, which happens
//! when this process exits in any way, panics and signals included.
//!
//! There is no controller-manager and no scheduler: namespaces get no default
//! ServiceAccount, deleted namespaces stay Terminating, nothing garbage-collects
//! and Deployments get no Pods.

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Deserialize;
use tokio::sync::OnceCell;

/// How long the launcher may take to report a ready control plane (the build before it is not counted).
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// Label put on the namespaces made by [`TestEnv::namespace`].
pub const NAMESPACE_LABEL: &str = "moat.dev/testenv";

/// A running control plane. Get it with [`shared`].
pub struct TestEnv {
    /// Kubeconfig of the admin user (group `system:masters`), certificates embedded.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`
    pub server: String,
    pub kubectl: PathBuf,
    pub helm: Option<PathBuf>,
    /// The launcher's temporary directory: kubeconfig, credentials and server logs.
    pub dir: PathBuf,
    config: kube::Config,
    /// Kept open for the life of the process: the launcher exits when it closes.
    _launcher: Mutex<(Child, ChildStdin)>,
}

static SHARED: OnceCell<Result<TestEnv, String>> = OnceCell::const_new();

/// The control plane of this test binary, started on first use. Panics with
/// the reason (build output or launcher stderr) if it cannot be started.
pub async fn shared() -> &'static TestEnv {
    match try_shared().await {
        Ok(env) => env,
        Err(e) => panic!("the test control plane is not available: {e}"),
    }
}

/// Like [`shared`], but returns the failure. A failed start is not retried.
pub async fn try_shared() -> Result<&'static TestEnv, String> {
    SHARED
        .get_or_init(start)
        .await
        .as_ref()
        .map_err(Clone::clone)
}

impl TestEnv {
    /// A new admin client. Build one per test: a client is bound to the tokio
    /// runtime it was made in, and `#[tokio::test]` makes one runtime per test.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config.clone())
            .expect("the client configuration was checked at start")
    }

    /// A client that impersonates `user` (and `groups`), to check RBAC, e.g.
    /// `client_as("system:serviceaccount:NS:NAME", &[])`; for a ServiceAccount
    /// the apiserver adds its groups itself.
    pub fn client_as(&self, user: &str, groups: &[&str]) -> kube::Client {
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups =
            (!groups.is_empty()).then(|| groups.iter().map(|g| (*g).to_owned()).collect());
        kube::Client::try_from(config).expect("the client configuration was checked at start")
    }

    /// Creates a namespace named `<prefix>-<n>`, unique in this control plane,
    /// labelled [`NAMESPACE_LABEL`], and returns its name.
    pub async fn namespace(&self, prefix: &str) -> Result<String, kube::Error> {
        let name = unique_name(prefix);
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([(NAMESPACE_LABEL.to_owned(), "true".to_owned())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok(name)
    }

    /// Runs kubectl as the admin user. It runs asynchronously, so servers in
    /// the test's own runtime (a webhook, say) keep answering meanwhile.
    pub async fn kubectl<I, S>(&self, args: I) -> io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(self.command(&self.kubectl, args), None).await
    }

    /// Runs kubectl with `input` on its stdin (`apply -f -`).
    pub async fn kubectl_with_stdin<I, S>(&self, args: I, input: &[u8]) -> io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        run(self.command(&self.kubectl, args), Some(input)).await
    }

    /// Runs helm against this control plane, with its config, cache and data
    /// homes in [`TestEnv::dir`]; fails with `NotFound` if helm was not built.
    pub async fn helm<I, S>(&self, args: I) -> io::Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let helm = self.helm.as_ref().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "helm was not built (see scripts/testenv-build.sh)",
            )
        })?;
        let home = self.dir.join("helm");
        let mut command = self.command(helm, args);
        command
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"));
        run(command, None).await
    }

    /// `program --kubeconfig <ours> args...`
    fn command<I, S>(&self, program: &Path, args: I) -> tokio::process::Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = tokio::process::Command::new(program);
        command.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        command
    }
}

/// Runs `command` to completion with `input` (if any) on its stdin, capturing its output.
async fn run(mut command: tokio::process::Command, input: Option<&[u8]>) -> io::Result<Output> {
    use tokio::io::AsyncWriteExt;

    let stdin = if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    };
    let mut child = command
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child.stdin.take();
    // Write and read at once: a child may answer before it has read all its input.
    let write = async move {
        if let (Some(input), Some(mut stdin)) = (input, stdin) {
            stdin.write_all(input).await?;
        } // stdin dropped here: EOF
        io::Result::Ok(())
    };
    let (written, output) = tokio::join!(write, child.wait_with_output());
    match written {
        // It exited without reading everything; its output says why.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => output,
        Err(e) => Err(e),
        Ok(()) => output,
    }
}

fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    // A DNS-1123 label: lower-case alphanumerics and '-', at most 63 characters.
    let prefix: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    let prefix = prefix.trim_matches('-');
    let prefix = if prefix.is_empty() { "test" } else { prefix };
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The launcher's line on stdout.
#[derive(Deserialize)]
struct Ready {
    kubeconfig: PathBuf,
    server: String,
    kubectl: PathBuf,
    helm: String,
    dir: PathBuf,
}

async fn start() -> Result<TestEnv, String> {
    let (ready, launcher) = tokio::task::spawn_blocking(launch)
        .await
        .map_err(|e| format!("starting the control plane panicked: {e}"))??;
    let kubeconfig = Kubeconfig::read_from(&ready.kubeconfig)
        .map_err(|e| format!("read {}: {e}", ready.kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| format!("load {}: {e}", ready.kubeconfig.display()))?;
    kube::Client::try_from(config.clone())
        .map_err(|e| format!("build a client from {}: {e}", ready.kubeconfig.display()))?;
    Ok(TestEnv {
        kubeconfig: ready.kubeconfig,
        server: ready.server,
        kubectl: ready.kubectl,
        helm: (!ready.helm.is_empty()).then(|| PathBuf::from(ready.helm)),
        dir: ready.dir,
        config,
        _launcher: Mutex::new(launcher),
    })
}

/// Builds (or finds) the binaries, starts the launcher and waits for its ready line.
fn launch() -> Result<(Ready, (Child, ChildStdin)), String> {
    let bin_dir = build()?;
    let launcher = bin_dir.join("testenv");
    let mut child = Command::new(&launcher)
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg(format!("--timeout={}s", READY_TIMEOUT.as_secs() - 10))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("start {}: {e}", launcher.display()))?;
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err("the launcher's pipes were not set up".to_owned());
    };

    // Keep draining the launcher's stderr so it never blocks on it.
    let log = Arc::new(Mutex::new(String::new()));
    let stderr_thread = drain(stderr, log.clone());
    let (line_tx, line_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let _ = line_tx.send(stdout.read_line(&mut line).map(|_| line));
        let _ = io::copy(&mut stdout, &mut io::sink());
    });

    let failure = match line_rx.recv_timeout(READY_TIMEOUT) {
        Ok(Ok(line)) if !line.trim().is_empty() => match serde_json::from_str::<Ready>(&line) {
            Ok(ready) => return Ok((ready, (child, stdin))),
            Err(e) => format!("the launcher printed {line:?}, not its ready line: {e}"),
        },
        Ok(Ok(_)) => "the launcher exited before the control plane was ready".to_owned(),
        Ok(Err(e)) => format!("read the launcher's stdout: {e}"),
        Err(_) => format!("the control plane was not ready after {READY_TIMEOUT:?}"),
    };
    let _ = child.kill();
    let status = child
        .wait()
        .map(|s| s.to_string())
        .unwrap_or_else(|e| e.to_string());
    let _ = stderr_thread.join();
    let log = log.lock().map(|l| l.clone()).unwrap_or_default();
    Err(format!(
        "{failure} (launcher: {status}); its stderr:\n{log}"
    ))
}

/// Runs scripts/testenv-build.sh, which prints the bin dir last. Its progress
/// goes straight to this process's stderr.
fn build() -> Result<PathBuf, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testenv-build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("run {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}); its messages are above",
            script.display(),
            output.status
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| PathBuf::from(l.trim()))
        .ok_or_else(|| format!("{} printed no bin dir", script.display()))
}

/// Reads the launcher's stderr to its end on a thread, passing it on to this
/// process's stderr (past the test harness's capture, so that a server that
/// dies mid-test is reported) and keeping its start in `into` for errors.
fn drain(from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    const KEEP: usize = 64 * 1024;
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut line = String::new();
        while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
            let _ = io::stderr().write_all(line.as_bytes());
            if let Ok(mut text) = into.lock()
                && text.len() < KEEP
            {
                text.push_str(&line);
            }
            line.clear();
        }
    })
}
