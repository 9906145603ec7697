// Command specplugin speaks the storage plugin protocol without the SDK and
// declares an option the SDK would refuse, chosen by the environment
// variable SPECPLUGIN_OPTION:
//
//   - escape: a path option named "../escape";
//   - default: an int option "n" with the default "many".
//
// It answers nothing but Describe.
package main

import (
	"context"
	"os"

	"github.com/netabase/netabase/internal/testkit/testplugins"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
)

type spec struct{ pb.UnimplementedStorageServer }

func (spec) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	o := &pb.OptionSpec{Name: "../escape", Kind: pb.OptionKind_OPTION_KIND_PATH, Doc: "where the data lives"}
	if os.Getenv("SPECPLUGIN_OPTION") == "default" {
		o = &pb.OptionSpec{Name: "n", Kind: pb.OptionKind_OPTION_KIND_INT, Doc: "how many", DefaultValue: "many"}
	}
	return &pb.DescribeResponse{Name: "spec", Version: "test", Options: []*pb.OptionSpec{o}}, nil
}

func main() { testplugins.ServeRaw(spec{}) }
