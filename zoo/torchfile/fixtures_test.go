package torchfile

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// reader loads a file one of the ways the package can.
type reader struct {
	name string
	read func(path string) (map[string]*tensor.Tensor, []string, error)
}

var readers = []reader{
	{"Load", Load}, // memory-mapped on Unix
	{"ReadFile", func(path string) (map[string]*tensor.Tensor, []string, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		return Read(f, st.Size())
	}},
	{"ReadBytes", func(path string) (map[string]*tensor.Tensor, []string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		return Read(bytes.NewReader(b), int64(len(b)))
	}},
}

// withChunks runs f with chunkBytes and gatherChunk set small, so that
// storages are read, converted and gathered in many pieces (some of them
// splitting an element's bytes would be a bug), then restored.
func withChunks(t *testing.T, bytes, elems int, f func()) {
	t.Helper()
	cb, gc := chunkBytes, gatherChunk
	chunkBytes, gatherChunk = bytes, elems
	defer func() { chunkBytes, gatherChunk = cb, gc }()
	f()
}

// TestTorchFixtures loads every file gen_fixtures.py wrote with
// torch.save (both formats) and compares each tensor with what torch.load
// gave: order, dtype, shape and every element's bits.
func TestTorchFixtures(t *testing.T) {
	side := loadSidecar(t)
	var names []string
	for name, f := range side {
		if len(f.Tensors) > 0 && f.Tensors[f.Order[0]].SHA256 == "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) < 16 {
		t.Fatalf("only %d fixtures in the sidecar", len(names))
	}
	for _, name := range names {
		want := side[name]
		for _, rd := range readers {
			for _, chunks := range []struct{ bytes, elems int }{{4 << 20, 1 << 20}, {6, 2}} {
				t.Run(name+"/"+rd.name, func(t *testing.T) {
					withChunks(t, chunks.bytes, chunks.elems, func() {
						sd, order, err := rd.read(filepath.Join("testdata", name))
						if err != nil {
							t.Fatal(err)
						}
						checkAgainstSidecar(t, sd, order, want)
					})
				})
			}
		}
	}
}

func checkAgainstSidecar(t *testing.T, sd map[string]*tensor.Tensor, order []string, want sidecarFile) {
	t.Helper()
	if !slices.Equal(order, want.Order) {
		t.Fatalf("order %q, want %q", order, want.Order)
	}
	if len(sd) != len(order) {
		t.Fatalf("%d tensors for %d names", len(sd), len(order))
	}
	for _, k := range order {
		w, x := want.Tensors[k], sd[k]
		if x == nil {
			t.Fatalf("%s: missing", k)
		}
		if x.DType() != wantDType[w.DType] || !slices.Equal(x.Shape(), w.Shape) {
			t.Errorf("%s: %v %v, want %s (%v) %v", k, x.DType(), x.Shape(), w.DType, wantDType[w.DType], w.Shape)
			continue
		}
		if got, exp := tensorBits(x), sidecarBits(t, w); !bitsEqual(x.DType(), got, exp) {
			t.Errorf("%s: elements\n got %x\nwant %x", k, got, exp)
		}
		if x.RequiresGrad() {
			t.Errorf("%s requires grad", k)
		}
	}
}

// TestViewSharing checks which tensors of views.pt share storage after
// loading: torch has them all over few storages; Tapir keeps the sharing
// where package tensor's view ops can express the layout (dense blocks,
// their transposes, stride-0 dims) and copies the rest.
func TestViewSharing(t *testing.T) {
	for _, file := range []string{"views.pt", "views_legacy.pt"} {
		sd, _, err := Load(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		shared := [][]string{
			{"base", "base_again", "row", "rows", "t", "elem"},
		}
		copied := []string{"col", "step", "odd", "bool_step"} // strided: copies of their own
		for _, group := range shared {
			for _, k := range group[1:] {
				if !sd[k].SharesStorage(sd[group[0]]) {
					t.Errorf("%s: %s does not share storage with %s", file, k, group[0])
				}
			}
		}
		for _, k := range copied {
			if sd[k].SharesStorage(sd["base"]) {
				t.Errorf("%s: %s shares storage with base", file, k)
			}
		}
		// a view into a storage is a view, not a copy: a write shows
		sd["base"].Narrow(0, 2, 1).Narrow(1, 3, 1).FillIn(-1) // base[2,3] is elem
		if got := sd["elem"].Item(); got != -1 {
			t.Errorf("%s: elem = %v after writing base[2,3]; not a view", file, got)
		}
		if got := sd["t"].At(3, 2); got != -1 {
			t.Errorf("%s: t[3,2] = %v after writing base[2,3]; not a view", file, got)
		}
	}
	sd, _, err := Load(filepath.Join("testdata", "legacy_views.pt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if !sd[k].SharesStorage(sd["whole"]) {
			t.Errorf("legacy_views.pt: %s does not share storage with whole", k)
		}
	}
}

// TestNotStateDicts checks the files that hold no loadable state dict:
// each is an error that says why, never a panic.
func TestNotStateDicts(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"list.pt", "holds a list, not a state dict"},
		{"whole_module.pt", "holds a torch.nn.modules.linear.Linear"},
		{"overlap.pt", `tensor "overlap": shape [3 4] with strides [2 1] overlaps itself`},
		{"complex.pt", "torch.ComplexFloatStorage: dtype not supported"},
		{"jit.pt", "TorchScript"},
	} {
		for _, rd := range readers {
			_, _, err := rd.read(filepath.Join("testdata", c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "torchfile: ") {
				t.Errorf("%s %s: error %v, want one containing %q", rd.name, c.file, err, c.want)
			}
		}
	}
}

// TestNestedCheckpoint checks that the state dict of a checkpoint is
// found under its key and that the other entries (optimizer state with
// tensors, an argparse.Namespace) are skipped without loading anything.
func TestNestedCheckpoint(t *testing.T) {
	for _, file := range []string{"nested.pt", "nested_legacy.pt", "model_key.pt", "model_key_legacy.pt"} {
		sd, order, err := Load(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if len(sd) != 5 || order[0] != "fc.weight" {
			t.Errorf("%s: %d tensors %q", file, len(sd), order)
		}
	}
}
