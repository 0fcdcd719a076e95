// Command testenv runs a throwaway Kubernetes control plane (etcd and
// kube-apiserver, RBAC on) on loopback for integration tests.
//
// Once /readyz answers it prints one line of JSON to stdout:
//
//	{"kubeconfig": "...", "server": "https://127.0.0.1:PORT", "kubectl": "...", "helm": "...", "dir": "..."}
//
// and keeps running until its standard input reaches EOF or it gets SIGTERM or
// SIGINT; then it stops both servers and removes its temporary directory. The
// servers also die with it if it is killed (Pdeathsig).
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// Pdeathsig fires when the thread that started a child exits, not the process.
// Children are started from the main goroutine, locked here to the main thread,
// which lives exactly as long as the process.
func init() { runtime.LockOSThread() }

type options struct {
	binDir     string
	helm       string
	timeout    time.Duration
	watchStdin bool
}

// ready is the line printed to stdout once the control plane is up.
type ready struct {
	Kubeconfig string `json:"kubeconfig"`
	Server     string `json:"server"`
	Kubectl    string `json:"kubectl"`
	Helm       string `json:"helm"`
	Dir        string `json:"dir"`
}

func main() {
	var o options
	flag.StringVar(&o.binDir, "bin-dir", executableDir(), "directory holding etcd, kube-apiserver and kubectl")
	flag.StringVar(&o.helm, "helm", "", "helm binary to report (default: helm in --bin-dir, if there)")
	flag.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for the control plane to be ready")
	flag.BoolVar(&o.watchStdin, "watch-stdin", true, "exit when standard input reaches EOF")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "testenv: unexpected arguments %q\n", flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	// A parent that died leaves broken pipes behind; writing to them must not
	// kill the launcher before it has cleaned up.
	signal.Ignore(syscall.SIGPIPE)

	binDir, err := filepath.Abs(o.binDir)
	if err != nil {
		return err
	}
	for _, name := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if err := checkExecutable(filepath.Join(binDir, name)); err != nil {
			return fmt.Errorf("--bin-dir: %w", err)
		}
	}
	helm, err := findHelm(o.helm, binDir)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if o.watchStdin {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}

	dir, err := os.MkdirTemp("", "moat-testenv-")
	if err != nil {
		return fmt.Errorf("create a temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)

	creds, err := newPKI(filepath.Join(dir, "pki"))
	if err != nil {
		return fmt.Errorf("create credentials: %w", err)
	}
	cp, err := startControlPlane(ctx, binDir, dir, creds, o.timeout)
	if err != nil {
		return err
	}
	defer cp.stop()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigYAML(cp.server, creds), 0o600); err != nil {
		return err
	}
	line, err := json.Marshal(ready{
		Kubeconfig: kubeconfig,
		Server:     cp.server,
		Kubectl:    filepath.Join(binDir, "kubectl"),
		Helm:       helm,
		Dir:        dir,
	})
	if err != nil {
		return err
	}
	if _, err := fmt.Printf("%s\n", line); err != nil {
		return fmt.Errorf("write to stdout: %w", err)
	}

	select {
	case <-ctx.Done():
		return nil
	case <-cp.etcd.done:
		return cp.etcd.exitError()
	case <-cp.apiserver.done:
		return cp.apiserver.exitError()
	}
}

func executableDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// findHelm returns the helm binary to report: the flag's, else bin-dir/helm if
// it exists, else "".
func findHelm(flagValue, binDir string) (string, error) {
	if flagValue != "" {
		path, err := filepath.Abs(flagValue)
		if err != nil {
			return "", err
		}
		if err := checkExecutable(path); err != nil {
			return "", fmt.Errorf("--helm: %w", err)
		}
		return path, nil
	}
	path := filepath.Join(binDir, "helm")
	if err := checkExecutable(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	return path, nil
}

func kubeconfigYAML(server string, p *pki) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: testenv
  context:
    cluster: testenv
    user: admin
    namespace: default
current-context: testenv
`, server, b64(p.caPEM), b64(p.adminCertPEM), b64(p.adminKeyPEM))
}
