package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// proc is a child process whose output goes to a log file.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // the exit error; read only after done is closed
}

// startProc starts bin with args. The child gets SIGKILL when the thread that
// started it dies (Pdeathsig); main locks the main goroutine to the main
// thread, so that is when the launcher itself dies, however it dies.
func startProc(name, bin, logPath string, args ...string) (*proc, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own copy of the descriptor

	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Pdeathsig: syscall.SIGKILL,
		Setpgid:   true, // a terminal's Ctrl-C reaches the launcher only; it stops the children in order
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to terminate and kills it if it has not exited after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	// The child leads its own process group; signal the group.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// exitError describes an unexpected exit, with the end of the log.
func (p *proc) exitError() error {
	return fmt.Errorf("%s exited: %v\n%s", p.name, p.err, p.tail(40))
}

// bindFailed reports whether the log says a listen address was taken.
func (p *proc) bindFailed() bool {
	data, err := os.ReadFile(p.log)
	return err == nil && bytes.Contains(data, []byte("address already in use"))
}

// tail returns the last n lines of the log, indented, under a header.
func (p *proc) tail(n int) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("--- %s log: %v", p.name, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("--- last %d lines of %s\n    %s", len(lines), p.log, strings.Join(lines, "\n    "))
}
