// Command muteplugin completes the netabase plugin handshake and then never
// answers a call.
package main

import (
	"context"

	"github.com/netabase/netabase/internal/testkit/testplugins"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
)

type mute struct{ pb.UnimplementedStorageServer }

func (mute) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	select {} // ignores ctx: a plugin that hangs
}

func main() { testplugins.ServeRaw(mute{}) }
