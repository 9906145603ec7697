package pluginpython

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	"github.com/netabase/netabase/plugins/wire"
)

// connPlugin is a go-plugin client of the storage plugin that hands out
// the bare gRPC connection, so that a test can send what the host never
// sends.
type connPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (connPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("a client only")
}

func (connPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}

// startRaw starts the plugin with go-plugin's client, as the host does
// (handshake, AutoMTLS), offering protocol version 1 only, and returns its
// connection and client.
func startRaw(t *testing.T) (*grpc.ClientConn, *plugin.Client, *exec.Cmd) {
	t.Helper()
	conn, c, cmd, err := startVersions(t, wire.ProtocolV1)
	if err != nil {
		t.Fatalf("starting the plugin: %v", err)
	}
	return conn, c, cmd
}

// startVersions starts the plugin as startRaw does, offering the protocol
// versions given.
func startVersions(t *testing.T, versions ...int) (*grpc.ClientConn, *plugin.Client, *exec.Cmd, error) {
	t.Helper()
	cmd := exec.Command(script)
	offered := map[int]plugin.PluginSet{}
	for _, v := range versions {
		offered[v] = plugin.PluginSet{wire.PluginName: connPlugin{}}
	}
	c := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: offered,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     30 * time.Second,
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(wire.MaxMessageSize), grpc.MaxCallSendMsgSize(wire.MaxMessageSize))},
	})
	t.Cleanup(c.Kill)
	proto, err := c.Client()
	if err != nil {
		return nil, nil, nil, err
	}
	raw, err := proto.Dispense(wire.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*grpc.ClientConn), c, cmd, nil
}

// wantCode fails t unless e is an error of code want whose message holds
// every one of words.
func wantCode(t *testing.T, what string, e *pb.Error, want pb.ErrorCode, words ...string) {
	t.Helper()
	if e.GetCode() != want {
		t.Errorf("%s: error %v; want code %v", what, e, want)
		return
	}
	for _, w := range words {
		if !strings.Contains(e.GetMessage(), w) {
			t.Errorf("%s: message %q; want %q in it", what, e.GetMessage(), w)
		}
	}
}

// TestProtocol speaks netabase.storage.v1 to the plugin directly and checks
// the parts of the contract the host does not exercise: calls before Open,
// option checks, a second Open, a batch whose stream ends without its
// commit message, malformed queries, the health service, and Shutdown.
func TestProtocol(t *testing.T) {
	needPython(t)
	conn, client, cmd := startRaw(t)
	ctx := t.Context()
	st := pb.NewStorageClient(conn)

	h, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
	if err != nil || h.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Errorf("health of the service plugin: %v, %v; want SERVING", h, err)
	}

	g, err := st.Get(ctx, &pb.GetRequest{Key: []byte("/a")})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Get before Open", g.GetError(), pb.ErrorCode_ERROR_CODE_NOT_OPEN, "Open")

	d, err := st.Describe(ctx, &pb.DescribeRequest{Validate: true, Options: []*pb.Option{
		{Name: "sync", Value: "maybe"}, {Name: "colour", Value: "blue"}, {Name: "sync", Value: "true"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != "sqlite" || !d.GetCapabilities().GetPersistent() || !d.GetCapabilities().GetDurable() {
		t.Errorf("Describe: %v", d)
	}
	wantCode(t, "Describe with bad options", d.GetError(), pb.ErrorCode_ERROR_CODE_INVALID_OPTIONS,
		`option "sync": want true or false, got "maybe"`, `unknown option "colour"`, `option "sync" is given more than once`, `option "path" is required`)

	o, err := st.Open(ctx, &pb.OpenRequest{Options: []*pb.Option{{Name: "path", Value: "relative.db"}}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Open with a relative path", o.GetError(), pb.ErrorCode_ERROR_CODE_INVALID_OPTIONS, "want an absolute path")

	open := &pb.OpenRequest{Options: []*pb.Option{{Name: "path", Value: filepath.Join(t.TempDir(), "store.db")}}}
	if o, err := st.Open(ctx, open); err != nil || o.GetError() != nil {
		t.Fatalf("Open: %v, %v", o.GetError(), err)
	}
	if o, err := st.Open(ctx, open); err != nil {
		t.Fatal(err)
	} else {
		wantCode(t, "a second Open", o.GetError(), pb.ErrorCode_ERROR_CODE_REJECTED, "already open")
	}

	// A batch whose stream ends without its commit message applies nothing.
	stream, err := st.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.CommitRequest{Mutations: []*pb.Mutation{{Key: []byte("/batch/a"), Value: []byte("a")}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a batch without commit", resp.GetError(), pb.ErrorCode_ERROR_CODE_REJECTED, "nothing was applied")
	if h, err := st.Has(ctx, &pb.HasRequest{Key: []byte("/batch/a")}); err != nil || h.GetExists() || h.GetError() != nil {
		t.Errorf("after a batch without commit, Has(/batch/a): %v, %v, %v; want false", h.GetExists(), h.GetError(), err)
	}

	// A batch with an invalid key in it applies nothing either.
	stream, err = st.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = stream.Send(&pb.CommitRequest{Commit: true, Mutations: []*pb.Mutation{
		{Key: []byte("/batch/b"), Value: []byte("b")}, {Key: []byte("/batch//c"), Value: []byte("c")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err = stream.CloseAndRecv(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "a batch with an invalid key", resp.GetError(), pb.ErrorCode_ERROR_CODE_INVALID_KEY, "/batch//c")
	if h, err := st.Has(ctx, &pb.HasRequest{Key: []byte("/batch/b")}); err != nil || h.GetExists() {
		t.Errorf("after a refused batch, Has(/batch/b): %v, %v; want false", h.GetExists(), err)
	}

	for _, q := range []*pb.QueryRequest{
		{Orders: []pb.Order{pb.Order(99)}},
		{Filters: []*pb.Filter{{}}},
		{Filters: []*pb.Filter{{Filter: &pb.Filter_KeyCompare{KeyCompare: &pb.KeyCompare{Op: pb.CompareOp_COMPARE_OP_UNSPECIFIED}}}}},
		{Limit: -1},
	} {
		qs, err := st.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		r, err := qs.Recv()
		if err != nil {
			t.Fatalf("Query(%v): %v", q, err)
		}
		wantCode(t, "a malformed query", r.GetError(), pb.ErrorCode_ERROR_CODE_REJECTED)
		if _, err := qs.Recv(); err != io.EOF {
			t.Errorf("Query(%v) went on after its error: %v", q, err)
		}
	}

	if c, err := st.Close(ctx, &pb.CloseRequest{}); err != nil || c.GetError() != nil {
		t.Fatalf("Close: %v, %v", c.GetError(), err)
	}
	if p, err := st.Put(ctx, &pb.PutRequest{Key: []byte("/a"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	} else {
		wantCode(t, "Put after Close", p.GetError(), pb.ErrorCode_ERROR_CODE_CLOSED)
	}

	// go-plugin's Kill calls Shutdown, then kills a plugin that has not
	// exited within two seconds: one that exits by itself ends with status 0.
	client.Kill()
	if st := cmd.ProcessState; st == nil || !st.Exited() || st.ExitCode() != 0 {
		t.Errorf("after Shutdown the plugin ended with %v; want exit status 0 (it did not exit by itself within 2s)", st)
	}
}
