package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// errPortTaken marks a start that failed because another process bound one of
// the ports between the launcher picking it and the child listening on it.
var errPortTaken = errors.New("a port was taken before the server could bind it")

const startAttempts = 3

type controlPlane struct {
	etcd, apiserver *proc
	server          string
}

// stop terminates the apiserver, then etcd.
func (cp *controlPlane) stop() {
	cp.apiserver.stop(5 * time.Second)
	cp.etcd.stop(5 * time.Second)
}

// startControlPlane starts etcd and kube-apiserver on free loopback ports and
// waits until the apiserver's /readyz is ok, picking new ports when one was taken.
func startControlPlane(ctx context.Context, binDir, dir string, creds *pki, timeout time.Duration) (*controlPlane, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("not ready after %v (--timeout)", timeout))
	defer cancel()
	for attempt := 1; ; attempt++ {
		cp, err := tryStart(ctx, binDir, dir, creds)
		if err == nil {
			return cp, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "testenv: %v; retrying with new ports\n", err)
	}
}

func tryStart(ctx context.Context, binDir, dir string, creds *pki) (*controlPlane, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	server := fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	// A unique member name lets the health check tell our etcd from another
	// process that may hold the port.
	member := fmt.Sprintf("testenv-%d-%d", os.Getpid(), ports[0])
	dataDir := filepath.Join(dir, "etcd")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	etcd, err := startProc("etcd", filepath.Join(binDir, "etcd"), filepath.Join(dir, "etcd.log"),
		"--name="+member,
		"--data-dir="+dataDir,
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster="+member+"="+peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync", // the data is thrown away; fsync only slows tests down
	)
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, etcd, func(ctx context.Context) error { return etcdHasMember(ctx, etcdURL, member) }); err != nil {
		etcd.stop(time.Second)
		return nil, err
	}

	apiserver, err := startProc("kube-apiserver", filepath.Join(binDir, "kube-apiserver"), filepath.Join(dir, "kube-apiserver.log"),
		"--etcd-servers="+etcdURL,
		"--cert-dir="+filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file="+creds.servingCert,
		"--tls-private-key-file="+creds.servingKey,
		"--client-ca-file="+creds.caCert,
		fmt.Sprintf("--secure-port=%d", ports[2]),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+creds.saPub,
		"--service-account-signing-key-file="+creds.saKey,
		// No controller-manager creates the default ServiceAccount, so the
		// admission plugin that requires it would reject every Pod.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
	)
	if err != nil {
		etcd.stop(time.Second)
		return nil, err
	}
	readyz, err := readyzCheck(server, creds)
	if err == nil {
		err = waitFor(ctx, apiserver, readyz)
	}
	if err != nil {
		if !apiserver.exited() { // timed out: etcd may be why
			err = fmt.Errorf("%w\n%s", err, etcd.tail(10))
		}
		apiserver.stop(time.Second)
		etcd.stop(time.Second)
		return nil, err
	}
	return &controlPlane{etcd: etcd, apiserver: apiserver, server: server}, nil
}

// freePorts asks the kernel for n distinct free loopback ports. They are free
// when this returns; a child may still lose one to another process, which
// tryStart detects.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitFor runs check every 100 ms until it succeeds, p exits or ctx ends.
func waitFor(ctx context.Context, p *proc, check func(context.Context) error) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := check(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %v (last check: %v)\n%s", p.name, context.Cause(ctx), err, p.tail(40))
		case <-p.done:
			if p.bindFailed() {
				return fmt.Errorf("%s: %w", p.name, errPortTaken)
			}
			return p.exitError()
		case <-tick.C:
		}
	}
}

// etcdHasMember checks that the etcd at url is up and is ours.
func etcdHasMember(ctx context.Context, url, member string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v3/cluster/member/list", strings.NewReader("{}"))
	if err != nil {
		return err
	}
	body, err := do(http.DefaultClient, req)
	if err != nil {
		return err
	}
	var list struct {
		Members []struct {
			Name string `json:"name"`
		} `json:"members"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("member list: %w", err)
	}
	for _, m := range list.Members {
		if m.Name == member {
			return nil
		}
	}
	return fmt.Errorf("etcd at %s is not member %s", url, member)
}

// readyzCheck returns a check of server's /readyz made as the admin user.
// Trusting only our CA also tells our apiserver from anything else on the port.
func readyzCheck(server string, creds *pki) (func(context.Context) error, error) {
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(creds.caPEM) {
		return nil, errors.New("bad CA certificate")
	}
	cert, err := tls.X509KeyPair(creds.adminCertPEM, creds.adminKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}},
	}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		if err != nil {
			return err
		}
		body, err := do(client, req)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(body)); got != "ok" {
			return fmt.Errorf("/readyz said %q", got)
		}
		return nil
	}, nil
}

// do sends req and returns the body of a 200 response.
func do(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %.300s", req.URL.Path, resp.StatusCode, body)
	}
	return body, nil
}
