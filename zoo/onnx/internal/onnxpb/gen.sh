#!/bin/sh
# Regenerates onnx.pb.go from onnx.proto with protoc and the protoc-gen-go
# of the google.golang.org/protobuf version that go.mod requires.
#
#   sh gen.sh [OUTDIR]
#
# OUTDIR defaults to this directory; gen_test.go writes to a scratch
# directory and compares the result with the committed file.
set -eu
cd "$(dirname "$0")"
out=${1:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
protoc --plugin=protoc-gen-go="$tmp/protoc-gen-go" -I . \
	--go_out="$out" --go_opt=paths=source_relative onnx.proto
