package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// opener opens a fixture one of the ways a File can come about.
type opener struct {
	name string
	open func(t *testing.T, path string) *File
}

var openers = []opener{
	{"Open", func(t *testing.T, path string) *File {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}},
	{"Read", func(t *testing.T, path string) *File {
		fh, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		st, err := fh.Stat()
		if err != nil {
			t.Fatal(err)
		}
		f, err := Read(fh, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		return f
	}},
	{"ReadBytes", func(t *testing.T, path string) *File {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}},
}

// TestTorchFixture reads the file gen_fixtures.py wrote from PyTorch
// tensors and compares every tensor with the values it listed.
func TestTorchFixture(t *testing.T) {
	want := loadSidecar(t)["torch_written.safetensors"]
	for _, op := range openers {
		t.Run(op.name, func(t *testing.T) {
			f := op.open(t, filepath.Join("testdata", "torch_written.safetensors"))
			defer f.Close()
			if got := f.Names(); !equalStrings(got, want.Order) {
				t.Fatalf("Names() = %q, want %q", got, want.Order)
			}
			if got := f.Metadata(); !equalMaps(got, want.Metadata) {
				t.Errorf("Metadata() = %q, want %q", got, want.Metadata)
			}
			for _, name := range want.Order {
				w := want.Tensors[name]
				info, ok := f.Info(name)
				if !ok || info.DType != w.DType || !sameInts(info.Shape, w.Shape) {
					t.Errorf("Info(%q) = %+v, %v; want dtype %s shape %v", name, info, ok, w.DType, w.Shape)
				}
				got, err := f.Tensor(name)
				if err != nil {
					t.Errorf("Tensor(%q): %v", name, err)
					continue
				}
				checkTensor(t, name, got, w)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	want := loadSidecar(t)["torch_written.safetensors"]
	ts, order, err := Load(filepath.Join("testdata", "torch_written.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(order, want.Order) || len(ts) != len(want.Tensors) {
		t.Fatalf("Load: order %q and %d tensors, want %q", order, len(ts), want.Order)
	}
	for name, w := range want.Tensors {
		checkTensor(t, name, ts[name], w)
	}
	if _, _, err := Load(filepath.Join("testdata", "unsupported.safetensors")); err == nil ||
		!strings.Contains(err.Error(), "U16") || !strings.Contains(err.Error(), "unsupported.safetensors") {
		t.Errorf("Load of unsupported dtypes: err = %v, want one naming U16 and the file", err)
	}
	if _, _, err := Load(filepath.Join("testdata", "no such file")); err == nil {
		t.Error("Load of a missing file: no error")
	}
}

// TestUnsupportedDTypes: a file with dtypes package tensor cannot hold
// opens, lists them, and refuses to load them with an error naming the
// dtype and the tensor; its other tensors load.
func TestUnsupportedDTypes(t *testing.T) {
	want := loadSidecar(t)["unsupported.safetensors"]
	f, err := Open(filepath.Join("testdata", "unsupported.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !equalStrings(f.Names(), want.Order) {
		t.Fatalf("Names() = %q, want %q", f.Names(), want.Order)
	}
	if f.Metadata() != nil {
		t.Errorf("Metadata() = %v, want nil", f.Metadata())
	}
	for _, name := range want.Order {
		w := want.Tensors[name]
		info, _ := f.Info(name)
		if info.DType != w.DType || !sameInts(info.Shape, w.Shape) {
			t.Errorf("Info(%q) = %+v, want %s %v", name, info, w.DType, w.Shape)
		}
		got, err := f.Tensor(name)
		if name == "ok" {
			if err != nil {
				t.Fatal(err)
			}
			checkTensor(t, name, got, w)
			continue
		}
		if err == nil || !strings.Contains(err.Error(), w.DType) || !strings.Contains(err.Error(), name) ||
			!strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("Tensor(%q) err = %v, want one naming %s and the tensor", name, err, w.DType)
		}
	}
}

// goFixture builds the tensors of testdata/go_written.safetensors from the
// sidecar: the torch fixture's tensors and views of them in several
// layouts. gen_fixtures.py --check holds the expected contents.
func goFixture(t testing.TB) (map[string]*tensor.Tensor, []string, map[string]string) {
	side := loadSidecar(t)["torch_written.safetensors"]
	ts := map[string]*tensor.Tensor{}
	order := append([]string{}, side.Order...)
	for name, s := range side.Tensors {
		ts[name] = fromSide(s)
	}
	views := []struct {
		name string
		t    *tensor.Tensor
	}{
		{"view.transpose", ts["f64"].T()},
		{"view.permute", ts["layer1.0.conv1.weight"].Permute(3, 1, 0, 2)},
		{"view.step", ts["i64"].Slice(1, 0, 3, 2)},
		{"view.expand", ts["u8"].Expand(7, 3)},
		{"view.f16_transpose", ts["f16"].T()},
		{"view.bf16_narrow", ts["bf16"].Narrow(0, 1, 2).Narrow(1, 1, 3)},
		{"view.bool_flip", ts["bool"].Flip(0)},
	}
	for _, v := range views {
		ts[v.name] = v.t
		order = append(order, v.name)
	}
	return ts, order, map[string]string{"writer": "tapir", "note": side.Metadata["note"]}
}

// TestWriteGoFixture writes testdata/go_written.safetensors, which
// gen_fixtures.py --check then verifies with PyTorch. It runs only when
// SAFETENSORS_WRITE_GO_FIXTURE=1.
func TestWriteGoFixture(t *testing.T) {
	if os.Getenv("SAFETENSORS_WRITE_GO_FIXTURE") != "1" {
		t.Skip("set SAFETENSORS_WRITE_GO_FIXTURE=1 to rewrite testdata/go_written.safetensors")
	}
	ts, order, meta := goFixture(t)
	if err := Save(filepath.Join("testdata", "go_written.safetensors"), ts, order, meta); err != nil {
		t.Fatal(err)
	}
}

// TestGoFixture: Write still produces, byte for byte, the file that
// gen_fixtures.py --check verified, and reading it back gives the tensors
// that went in.
func TestGoFixture(t *testing.T) {
	path := filepath.Join("testdata", "go_written.safetensors")
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ts, order, meta := goFixture(t)
	var buf bytes.Buffer
	if err := Write(&buf, ts, order, meta); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), committed) {
		t.Errorf("Write output (%d bytes) differs from the verified %s (%d bytes)", buf.Len(), path, len(committed))
	}
	side := loadSidecar(t)["torch_written.safetensors"]
	got, gotOrder, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !equalStrings(gotOrder, order) {
		t.Errorf("order %q, want %q", gotOrder, order)
	}
	for name, w := range side.Tensors {
		if w.DType == "I16" || w.DType == "I8" {
			w.DType = "I32" // written as the Int32 tensors they load as
		}
		checkTensor(t, name, got[name], w)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConcurrentTensor loads from one File in several goroutines at once
// (run with -race).
func TestConcurrentTensor(t *testing.T) {
	want := loadSidecar(t)["torch_written.safetensors"]
	for _, op := range openers {
		f := op.open(t, filepath.Join("testdata", "torch_written.safetensors"))
		errs := make(chan error, 4)
		got := make([]map[string]*tensor.Tensor, 4)
		for g := range got {
			got[g] = map[string]*tensor.Tensor{}
			go func() {
				for _, name := range want.Order {
					x, err := f.Tensor(name)
					if err != nil {
						errs <- err
						return
					}
					got[g][name] = x
				}
				errs <- nil
			}()
		}
		for range got {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
		for _, m := range got {
			for name, w := range want.Tensors {
				checkTensor(t, op.name+" "+name, m[name], w)
			}
		}
	}
}
