package onnxpb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// protocLine is the header line naming protoc's version, which depends on
// the machine that ran the generator, not on the schema.
var protocLine = regexp.MustCompile(`(?m)^// \tprotoc +v.*\n`)

// TestGeneratedIsCurrent regenerates onnx.pb.go into a scratch directory
// and compares it with the committed file, byte for byte apart from the
// protoc version line. It skips where protoc is not installed: CI builds
// from the committed file.
func TestGeneratedIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed")
	}
	if testing.Short() {
		t.Skip("builds protoc-gen-go; skipped in -short mode")
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "gen.sh", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "onnx.pb.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("onnx.pb.go")
	if err != nil {
		t.Fatal(err)
	}
	got = protocLine.ReplaceAll(got, nil)
	want = protocLine.ReplaceAll(want, nil)
	if !bytes.Equal(got, want) {
		t.Fatal("onnx.pb.go is stale: run `go generate ./zoo/onnx/internal/onnxpb` and commit the result")
	}
}
