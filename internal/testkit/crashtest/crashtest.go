//go:build !(js && wasm)

// Package crashtest is the kit of the tests that kill a program in the
// middle of its writes and check the store it leaves: the test binary is
// started again as a child process that runs a scenario on a store, and
// the parent kills it with SIGKILL at a write it chooses.
//
// The child's store is wrapped by [Gated], so that every write it sends
// to the engine (a Put, a Delete, the commit of a batch or a transaction)
// first says so to the parent and waits for its go-ahead. The parent,
// holding a [Child] from [Start], counts the writes, lets them through with
// [Child.Proceed] and kills the child at the one it chooses, before that
// write reaches the store or, proceeding first, racing it; [RunUntilWrite]
// does the usual case. The child reports each acknowledged operation of
// its scenario with [Parent.Ack], so that the parent knows which writes
// must have survived, and says [Parent.Done] at its end.
//
// A test package using the kit calls [Main] from its TestMain with the
// function that runs a scenario in the child. A js/wasm program cannot
// start or kill a process, so the kit does not build for the browser.
package crashtest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
)

// The variables that, set in a child's environment, make the test binary
// run a scenario (on its argument, say the store's URL or directory)
// instead of the tests.
const (
	scenarioEnv = "NETABASE_CRASHTEST_SCENARIO"
	argEnv      = "NETABASE_CRASHTEST_ARG"
)

// Main runs m's tests, or, in a child that [Start] started, run with the
// child's scenario and argument: it exits 0 when run returns nil, and
// otherwise prints the error and exits 1. Call it from TestMain.
func Main(m *testing.M, run func(p *Parent, scenario, arg string) error) {
	scenario, ok := os.LookupEnv(scenarioEnv)
	if !ok {
		os.Exit(m.Run())
	}
	p := &Parent{progress: os.NewFile(3, "progress"), replies: bufio.NewReader(os.NewFile(4, "replies"))}
	if err := run(p, scenario, os.Getenv(argEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "crash child (scenario %s): %v\n", scenario, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Parent is a child's line to the parent that started it. A child whose
// parent has gone exits at once, with status 2.
type Parent struct {
	progress *os.File
	replies  *bufio.Reader
}

func (p *Parent) say(line string) {
	if _, err := fmt.Fprintln(p.progress, line); err != nil {
		os.Exit(2)
	}
}

// Gate tells the parent that the child is about to write and returns when
// the parent lets it; the parent may kill the child instead. [Gated] calls
// it before every write.
func (p *Parent) Gate() {
	p.say("write")
	if _, err := p.replies.ReadByte(); err != nil {
		os.Exit(2)
	}
}

// Ack tells the parent that the scenario's n-th operation (from 0, in
// order) returned, so that what it wrote must survive a crash.
func (p *Parent) Ack(n int) {
	p.say("ack " + strconv.Itoa(n))
}

// Done tells the parent that the scenario has ended.
func (p *Parent) Done() {
	p.say("done")
}

// Gated returns d with gate called before every write reaches it: each
// Put and Delete, and the commit of each batch and transaction. It keeps
// d's transactions (when d is a ds.TxnFeature) and d's seek (when d is a
// [core.Seeker]).
func Gated(d ds.Batching, gate func()) ds.Batching {
	g := &gatedStore{Batching: d, gate: gate}
	if t, ok := d.(ds.TxnFeature); ok {
		return &gatedTxnStore{g, t}
	}
	return g
}

type gatedStore struct {
	ds.Batching
	gate func()
}

func (g *gatedStore) Put(ctx context.Context, k ds.Key, v []byte) error {
	g.gate()
	return g.Batching.Put(ctx, k, v)
}

func (g *gatedStore) Delete(ctx context.Context, k ds.Key) error {
	g.gate()
	return g.Batching.Delete(ctx, k)
}

func (g *gatedStore) Batch(ctx context.Context) (ds.Batch, error) {
	b, err := g.Batching.Batch(ctx)
	if err != nil {
		return nil, err
	}
	return &gatedBatch{b, g.gate}, nil
}

func (g *gatedStore) QueryFrom(ctx context.Context, q core.SeekQuery) (dsq.Results, error) {
	return core.QueryFrom(ctx, g.Batching, q)
}

// gatedBatch is a batch, or a transaction's writes, whose commit waits
// at the gate.
type gatedBatch struct {
	ds.Batch
	gate func()
}

func (b *gatedBatch) Commit(ctx context.Context) error {
	b.gate()
	return b.Batch.Commit(ctx)
}

type gatedTxnStore struct {
	*gatedStore
	t ds.TxnFeature
}

func (g *gatedTxnStore) NewTransaction(ctx context.Context, readOnly bool) (ds.Txn, error) {
	t, err := g.t.NewTransaction(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	return &gatedTxn{t, &gatedBatch{t, g.gate}}, nil
}

type gatedTxn struct {
	ds.Txn
	commit *gatedBatch // the transaction's writes as a batch, to gate its commit
}

func (t *gatedTxn) Commit(ctx context.Context) error {
	return t.commit.Commit(ctx)
}

// Child is a child process seen from the parent.
type Child struct {
	Writes int // writes announced so far
	Acks   int // operations acknowledged so far

	cmd      *exec.Cmd
	progress *bufio.Scanner
	replies  *os.File
}

// Start starts the test binary again as a child that runs scenario on arg
// (see [Main]), in its own process group. The child is killed at the end
// of the test unless it has ended before.
func Start(t testing.TB, scenario, arg string) *Child {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	progR, progW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	repR, repW, err := os.Pipe()
	if err != nil {
		_, _ = progR.Close(), progW.Close()
		t.Fatal(err)
	}
	// -test.run=^$ runs no test in a binary whose TestMain forgot Main.
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), scenarioEnv+"="+scenario, argEnv+"="+arg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{progW, repR} // fds 3 and 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	_, _ = progW.Close(), repR.Close()
	if err != nil {
		_, _ = progR.Close(), repW.Close()
		t.Fatal(err)
	}
	c := &Child{cmd: cmd, progress: bufio.NewScanner(progR), replies: repW}
	t.Cleanup(func() {
		c.Kill()
		_ = progR.Close()
	})
	return c
}

// Next returns the child's next report: "write", "ack <n>" or "done"; ""
// when the child has ended (or was killed) and said all it had said. It
// counts the writes and the acknowledgements, and fails t on a report out
// of order.
func (c *Child) Next(t testing.TB) string {
	t.Helper()
	if !c.progress.Scan() {
		return ""
	}
	line := c.progress.Text()
	switch {
	case line == "write":
		c.Writes++
	case strings.HasPrefix(line, "ack "):
		n, err := strconv.Atoi(strings.TrimPrefix(line, "ack "))
		if err != nil || n != c.Acks {
			t.Fatalf("the child reported %q after %d acknowledged operations", line, c.Acks)
		}
		c.Acks++
	case line != "done":
		t.Fatalf("the child reported %q", line)
	}
	return line
}

// Proceed lets the write the child last announced reach the store.
func (c *Child) Proceed(t testing.TB) {
	t.Helper()
	if _, err := c.replies.Write([]byte{1}); err != nil {
		t.Fatalf("letting the child write: %v", err)
	}
}

// Kill ends the child's process group with SIGKILL and reaps the child; it
// does nothing once the child has been reaped. What the child reported
// before it died can still be read with Next.
func (c *Child) Kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	_ = c.cmd.Wait()
	_ = c.replies.Close()
}

// Finish waits for a child that reported done to exit, and fails t unless
// it exits 0 with nothing more to say.
func (c *Child) Finish(t testing.TB) {
	t.Helper()
	if line := c.Next(t); line != "" {
		t.Fatalf("the child reported %q after it was done", line)
	}
	_ = c.replies.Close()
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("the child: %v", err)
	}
}

// RunUntilWrite runs scenario on arg in a child and kills it when it
// announces its k-th write (from 1), before that write reaches the store.
// It returns how many operations the child acknowledged, and whether it
// was killed: false when the child finished with fewer writes. It fails t
// when the child ends without saying done.
func RunUntilWrite(t testing.TB, scenario, arg string, k int) (acks int, killed bool) {
	t.Helper()
	c := Start(t, scenario, arg)
	defer c.Kill()
	for line := c.Next(t); line != ""; line = c.Next(t) {
		switch {
		case line == "done":
			c.Finish(t)
			return c.Acks, false
		case line == "write" && c.Writes == k:
			c.Kill()
			return c.Acks, true
		case line == "write":
			c.Proceed(t)
		}
	}
	c.Kill()
	t.Fatalf("the child ended after %d writes without finishing: %v", c.Writes, c.cmd.ProcessState)
	return c.Acks, false
}
