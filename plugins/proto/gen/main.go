// Command gen regenerates the Go code of netabase's plugin protocol from its
// .proto files, without protoc: it compiles the .proto files with
// github.com/bufbuild/protocompile and runs protoc-gen-go and
// protoc-gen-go-grpc, both pinned as tools in this module's go.mod, on the
// result.
//
// It lives in a module of its own so that netabase itself does not depend on
// the generators. Run it through ../generate.sh, or as
//
//	go run . -out DIR
//
// from this directory to write the files under DIR instead of in place (the
// staleness test does that and compares).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/pluginpb"
)

// modulePath is the Go import path prefix the generators write under; the
// files go to the matching directory below the repository's plugins/proto.
const modulePath = "github.com/netabase/netabase/plugins/proto/"

// protoFiles are the files to generate, relative to the proto root.
var protoFiles = []string{"netabase/storage/v1/storage.proto", "netabase/storage/v2/storage.proto", "netabase/storage/v3/storage.proto"}

func main() {
	out := flag.String("out", "..", "the plugins/proto directory to write the generated files under")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	c := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{".."}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := c.Compile(context.Background(), protoFiles...)
	if err != nil {
		return fmt.Errorf("compiling %s: %w", strings.Join(protoFiles, ", "), err)
	}
	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: protoFiles}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, protodesc.ToFileDescriptorProto(fd))
	}
	for _, f := range files {
		add(f)
	}
	for _, gen := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		if err := generate(gen, req, out); err != nil {
			return err
		}
	}
	return nil
}

// generate runs one protoc plugin, pinned as a tool of this module, on req
// and writes the files it returns.
func generate(tool string, req *pluginpb.CodeGeneratorRequest, out string) error {
	in, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.Command("go", "tool", tool)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("running %s: %w", tool, err)
	}
	var resp pluginpb.CodeGeneratorResponse
	if err := proto.Unmarshal(raw, &resp); err != nil {
		return fmt.Errorf("reading the answer of %s: %w", tool, err)
	}
	if resp.Error != nil {
		return fmt.Errorf("%s: %s", tool, resp.GetError())
	}
	for _, f := range resp.File {
		rel, ok := strings.CutPrefix(f.GetName(), modulePath)
		if !ok {
			return fmt.Errorf("%s wrote %s, outside %s", tool, f.GetName(), modulePath)
		}
		path := filepath.Join(out, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
			return err
		}
	}
	return nil
}
