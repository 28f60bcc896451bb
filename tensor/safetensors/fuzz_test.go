package safetensors

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// FuzzRead feeds arbitrary bytes to Read: it must return an error or a
// File whose every tensor loads (or is refused for its dtype), never
// panic, hang or allocate far beyond the input; and what loads must
// survive Write and Read unchanged. The seed corpus in
// testdata/fuzz/FuzzRead holds valid files and one file of each malformed
// class (TestWriteFuzzCorpus writes it). To search longer:
//
//	go test ./tensor/safetensors -run XXX -fuzz FuzzRead -fuzztime 60s
func FuzzRead(f *testing.F) {
	for _, c := range badFiles {
		f.Add(c.file)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		ts := map[string]*tensor.Tensor{}
		var order []string
		for _, name := range file.Names() {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("Info(%q) missing", name)
			}
			x, err := file.Tensor(name)
			if err != nil {
				if dtypes[info.DType].supported {
					t.Fatalf("Tensor(%q) of %s: %v", name, info.DType, err)
				}
				continue
			}
			if !sameInts(x.Shape(), info.Shape) || x.DType() != wantDType(info.DType) {
				t.Fatalf("Tensor(%q) is %v %v, Info says %s %v", name, x.DType(), x.Shape(), info.DType, info.Shape)
			}
			ts[name] = x
			order = append(order, name)
		}
		var buf bytes.Buffer
		if err := Write(&buf, ts, order, file.Metadata()); err != nil {
			t.Fatalf("Write of what Read gave: %v", err)
		}
		again, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("Read of what Write gave: %v", err)
		}
		if !equalStrings(again.Names(), order) || !equalMaps(again.Metadata(), file.Metadata()) {
			t.Fatalf("names %q / metadata %q came back as %q / %q", order, file.Metadata(), again.Names(), again.Metadata())
		}
		for _, name := range order {
			y, err := again.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := fingerprint(ts[name]), fingerprint(y); a != b {
				t.Fatalf("%q: %s came back as %s", name, a, b)
			}
		}
	})
}

// fingerprint describes a tensor's dtype, shape and exact elements.
func fingerprint(x *tensor.Tensor) string {
	var b strings.Builder
	fmt.Fprint(&b, x.DType(), x.Shape())
	switch {
	case x.DType() == tensor.Int64 || x.DType() == tensor.Int32 || x.DType() == tensor.Uint8:
		fmt.Fprint(&b, x.Int64s())
	case x.DType() == tensor.Bool:
		fmt.Fprint(&b, x.Bools())
	default:
		for _, v := range x.Float64s() {
			fmt.Fprintf(&b, " %x", math.Float64bits(v))
		}
	}
	return b.String()
}

// TestWriteFuzzCorpus writes FuzzRead's seed corpus: the committed valid
// fixtures, a few files Write makes, and every malformed file of
// badFiles. It runs only when SAFETENSORS_WRITE_CORPUS=1.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SAFETENSORS_WRITE_CORPUS") != "1" {
		t.Skip("set SAFETENSORS_WRITE_CORPUS=1 to rewrite testdata/fuzz/FuzzRead")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	add := func(name string, data []byte) {
		name = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, strings.ToLower(name))
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, fx := range []string{"torch_written", "unsupported", "go_written"} {
		b, err := os.ReadFile(filepath.Join("testdata", fx+".safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		add("valid "+fx, b)
	}
	var buf bytes.Buffer
	err := Write(&buf, map[string]*tensor.Tensor{
		"h": tensor.FromSlice([]float32{1, -2, float32(math.NaN())}).To(tensor.Float16),
		"s": tensor.Scalar(1),
		"e": tensor.ZerosOf(tensor.Bool, 0, 2),
	}, nil, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	add("valid small", buf.Bytes())
	for _, c := range badFiles {
		add("bad "+c.name, c.file)
	}
}
