package torchfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzLoadTorch feeds arbitrary bytes to Read: it must return an error or
// a state dict, never panic, hang or allocate far beyond the input; what
// loads must survive Write and Read unchanged. The seed corpus is every
// small fixture (zip and legacy, valid and not a state dict) whole, cut
// short and with a byte changed (inputs that a search finds failing go to
// testdata/fuzz/FuzzLoadTorch and are rerun by go test). To search:
//
//	go test ./zoo/torchfile -run XXX -fuzz FuzzLoadTorch -fuzztime 60s -fuzzminimizetime 3s
//
// (Minimizing each new input for the default 60 s would leave little
// time for the search.)
func FuzzLoadTorch(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.pt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		if strings.Contains(name, "resnet") {
			continue // too large to mutate usefully
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)*2/3])
		c := slices.Clone(b)
		c[len(c)/3] ^= 0x40
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sd, order, err := Read(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "torchfile: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		if len(sd) != len(order) {
			t.Fatalf("%d tensors, %d names", len(sd), len(order))
		}
		total := 0
		for _, name := range order {
			x := sd[name]
			if x == nil {
				t.Fatalf("%q is nil", name)
			}
			if total += x.Numel(); x.Numel() > 1<<20 || total > 1<<20 {
				return // stride-0 views can be large; writing materializes them
			}
		}
		var buf bytes.Buffer
		if err := Write(&buf, sd, order); err != nil {
			t.Fatalf("Write of what Read gave: %v", err)
		}
		back, backOrder, err := Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("Read of what Write gave: %v", err)
		}
		if !slices.Equal(order, backOrder) {
			t.Fatalf("order %q became %q", order, backOrder)
		}
		if d := sameTensors(sd, back); d != "" {
			t.Fatal(d)
		}
	})
}
