package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobriver"
)

// proc is a child process of the demo.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and err is set
	err    error
}

// supervise creates the database, starts two workers and a watcher, kills
// the first job's worker midway, and checks the outcome.
func supervise(ctx context.Context, f flags) error {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	path, cleanup, err := dbPath(f)
	if err != nil {
		return err
	}
	defer cleanup()
	f.db = path
	// This client migrates the schema, then reads statuses to decide the kill.
	c, err := bgjobriver.OpenSQLite(ctx, path, bgjobriver.WithHeartbeat(heartbeat, rescueAfter))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	fmt.Printf("demo: database %s\n", path)

	workers := map[string]*proc{}
	for _, name := range []string{"worker-1", "worker-2"} {
		p, err := start(ctx, f, name, "-role", "worker", "-node", name)
		if err != nil {
			return err
		}
		defer p.stop()
		workers[name] = p
		fmt.Printf("demo: %s is process %d\n", name, p.cmd.Process.Pid)
	}
	watcher, err := start(ctx, f, "watcher", "-role", "watcher")
	if err != nil {
		return err
	}
	defer watcher.stop()

	killed, err := killMidway(ctx, c, f, workers)
	if err != nil {
		return err
	}
	select {
	case <-watcher.exited:
		if watcher.err != nil {
			return fmt.Errorf("watcher: %w", watcher.err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return verdict(ctx, c, killed)
}

// killMidway waits for the first job to pass -kill-at percent and kills its
// worker with SIGKILL. It returns the job and the worker killed.
func killMidway(ctx context.Context, c *bgjobriver.Client, f flags, workers map[string]*proc) ([2]string, error) {
	if f.killAt == 0 {
		return [2]string{}, nil
	}
	const firstJob = 1
	for {
		st, err := c.Status(ctx, firstJob)
		if err != nil && !errors.Is(err, bgjobriver.ErrNotFound) {
			return [2]string{}, err
		}
		if err == nil && st.State == bgjob.StateRunning && st.Percent >= f.killAt {
			p := workers[st.Node]
			if p == nil {
				return [2]string{}, fmt.Errorf("job runs on unknown node %q", st.Node)
			}
			fmt.Printf("demo: kill -9 %s (process %d) at %.0f%% of job %d\n", st.Node, p.cmd.Process.Pid, st.Percent, st.JobID)
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			return [2]string{fmt.Sprint(firstJob), st.Node}, nil
		}
		if err == nil && st.Finished() {
			return [2]string{}, errors.New("the first job finished before the kill")
		}
		select {
		case <-ctx.Done():
			return [2]string{}, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// verdict prints every job's end and fails unless all succeeded, the killed
// one elsewhere than where it was killed.
func verdict(ctx context.Context, c *bgjobriver.Client, killed [2]string) error {
	all, err := c.List(ctx, bgjobriver.ListFilter{})
	if err != nil {
		return err
	}
	ok := true
	for i := len(all) - 1; i >= 0; i-- {
		st := all[i]
		fmt.Printf("demo: job %d %s %s on %s after %d attempt(s), taken back %d time(s)\n",
			st.JobID, st.Name, st.State, st.Node, st.Attempt, st.Rescues)
		ok = ok && st.State == bgjob.StateSucceeded
		if fmt.Sprint(st.JobID) == killed[0] {
			ok = ok && st.Node != killed[1] && st.Rescues == 1
		}
	}
	if !ok {
		return errors.New("not every job succeeded where expected")
	}
	return nil
}

// start runs this program again in a role and waits for its first line,
// "ready" for a worker; its other lines go to our standard output.
func start(ctx context.Context, f flags, name string, args ...string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args = append(args, "-db", f.db, "-jobs", fmt.Sprint(f.jobs), "-epochs", fmt.Sprint(f.epochs), "-epoch", f.epoch.String())
	p := &proc{name: name, cmd: exec.CommandContext(ctx, exe, args...), exited: make(chan struct{})}
	p.cmd.Stderr = os.Stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		r := bufio.NewReader(out)
		first := true
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				if first && strings.TrimSpace(line) == "ready" {
					close(ready)
				} else {
					fmt.Print(line)
				}
				first = false
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					fmt.Fprintln(os.Stderr, name+":", err)
				}
				break
			}
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	if args[1] != "worker" {
		return p, nil
	}
	select {
	case <-ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("%s exited before it was ready: %v", name, p.err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop asks the process to stop and waits for it.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
