package torchfile_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo"
	"github.com/tapir-ml/tapir/zoo/onnx"
)

// weightFormat is one way a state dict is stored. The ResNet tests check
// that every format of weightFormats holds the same tensors bit for bit,
// and that those with a save function write them back bit for bit. To
// add a format, append an entry; its fixture file must sit beside the
// others (testdata/ for resnet18w8, the directory TAPIR_ZOO_FIXTURES names
// for resnet18).
type weightFormat struct {
	name string
	// file is the fixture's name; "{base}" stands for the model's:
	// "resnet18w8" or "resnet18".
	file string
	load func(path string) (map[string]*tensor.Tensor, []string, error)
	// save writes a state dict in the format; nil for a read-only format.
	save func(path string, sd map[string]*tensor.Tensor, order []string) error
	// subset is set for a format that holds only some of the keys (ONNX
	// initializers have no num_batches_tracked); its order is not checked.
	subset bool
}

var weightFormats = []weightFormat{
	{name: "pt-zip", file: "{base}.pt", load: loadTorch, save: zoo.SaveTorch},
	{name: "pt-legacy", file: "{base}_legacy.pt", load: loadTorch},
	{name: "safetensors", file: "{base}.safetensors", load: loadSafetensors, save: zoo.SaveSafetensorsOrdered},
	// torch.onnx.export's initializers, named by their state-dict keys
	// (gen_fixtures.py exports with BatchNorm unfused); num_batches_tracked
	// is not among them.
	{name: "onnx", file: "{base}.onnx", load: loadONNXInitializers, subset: true},
}

// loadTorch and loadSafetensors go through the zoo API and LoadWeights,
// which must agree.
func loadTorch(path string) (map[string]*tensor.Tensor, []string, error) {
	return viaZoo(path, zoo.LoadTorch)
}

func loadSafetensors(path string) (map[string]*tensor.Tensor, []string, error) {
	return viaZoo(path, zoo.LoadSafetensors)
}

func viaZoo(path string, load func(string) (map[string]*tensor.Tensor, error)) (map[string]*tensor.Tensor, []string, error) {
	sd, order, err := zoo.LoadWeights(path)
	if err != nil {
		return nil, nil, err
	}
	direct, err := load(path)
	if err != nil {
		return nil, nil, err
	}
	if d := differ(sd, direct); d != "" {
		return nil, nil, &mismatch{"LoadWeights and the format's loader differ: " + d}
	}
	return sd, order, nil
}

// loadONNXInitializers opens an ONNX model with zoo/onnx and returns its
// initializers by name, as its members (parameters, then BatchNorm's
// running statistics as buffers) make up its state dict.
func loadONNXInitializers(path string) (map[string]*tensor.Tensor, []string, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, nil, err
	}
	sd, order := nn.StateDict(m), nn.StateDictKeys(m)
	if len(sd) != len(order) || len(order) != len(m.Members()) {
		return nil, nil, &mismatch{"the model's initializers do not have distinct names"}
	}
	return sd, order, nil
}

type mismatch struct{ s string }

func (m *mismatch) Error() string { return m.s }

// sidecar is what gen_fixtures.py recorded of a ResNet state dict with
// torch.load: the keys in order and each tensor's dtype, shape and
// SHA-256 of its little-endian bytes.
type sidecar struct {
	Order   []string `json:"order"`
	Tensors map[string]struct {
		DType  string `json:"dtype"`
		Shape  []int  `json:"shape"`
		SHA256 string `json:"sha256"`
	} `json:"tensors"`
}

// TestResNet18Narrow round-trips the committed ResNet-18 at 1/8 width
// (resnet18's 122 keys, names and dtypes; 175k parameters) through every
// format.
func TestResNet18Narrow(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	var side sidecar
	if err := json.Unmarshal(all["resnet18w8.pt"], &side); err != nil {
		t.Fatal(err)
	}
	saved := roundTrip(t, "testdata", "resnet18w8", side)
	// SaveTorch's output is pinned: gen_fixtures.py --check found that
	// torch.load reads it as resnet18w8.pt, bit for bit. To check again:
	//	TAPIR_TORCHFILE_WRITE_GO_FIXTURE=1 go test ./zoo/torchfile -run TestResNet18Narrow
	//	gen_fixtures.py --check $TMPDIR/resnet18w8_go.pt --against zoo/torchfile/testdata/resnet18w8.pt
	const wantSHA = "ea832a39c26307b36d602dcfd5c10ef43260e3eac7d28dde8c3e2e04b396cfdc"
	got := sha256.Sum256(saved["pt-zip"])
	if os.Getenv("TAPIR_TORCHFILE_WRITE_GO_FIXTURE") != "" {
		out := filepath.Join(os.TempDir(), "resnet18w8_go.pt")
		if err := os.WriteFile(out, saved["pt-zip"], 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s, SHA-256 %x", out, got)
	}
	if hex.EncodeToString(got[:]) != wantSHA {
		t.Errorf("SaveTorch wrote a file with SHA-256 %x, not the one torch.load was checked on", got)
	}
}

// TestResNet18 round-trips torchvision's resnet18 (torch.manual_seed(0),
// random init, 45 MB a file) through every format. Its fixtures are not
// committed: make them with
//
//	/usr/bin/python3 zoo/torchfile/testdata/gen_fixtures.py --resnet18 DIR
//	TAPIR_ZOO_FIXTURES=DIR go test ./zoo/torchfile -run TestResNet18$ -v
func TestResNet18(t *testing.T) {
	dir := os.Getenv("TAPIR_ZOO_FIXTURES")
	if dir == "" {
		t.Skip("TAPIR_ZOO_FIXTURES is not set: write the fixtures with gen_fixtures.py --resnet18 DIR and set it to DIR")
	}
	b, err := os.ReadFile(filepath.Join(dir, "resnet18.json"))
	if err != nil {
		t.Fatal(err)
	}
	var side sidecar
	if err := json.Unmarshal(b, &side); err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	roundTrip(t, dir, "resnet18", side)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("%d tensors; %d MB allocated in all, for %d loads and %d saves",
		len(side.Order), (after.TotalAlloc-before.TotalAlloc)>>20, 2*len(weightFormats), countSavers())
}

func countSavers() int {
	n := 0
	for _, f := range weightFormats {
		if f.save != nil {
			n++
		}
	}
	return n
}

// roundTrip loads base in every format, checks each against the sidecar
// and against the first, saves it in every format that saves and loads
// that back. It returns the files written, by format name.
func roundTrip(t *testing.T, dir, base string, side sidecar) map[string][]byte {
	t.Helper()
	if len(side.Order) != 122 {
		t.Fatalf("the sidecar lists %d keys, resnet18 has 122", len(side.Order))
	}
	var ref map[string]*tensor.Tensor
	var refOrder []string
	saved := map[string][]byte{}
	for _, f := range weightFormats {
		path := filepath.Join(dir, strings.ReplaceAll(f.file, "{base}", base))
		sd, order, err := f.load(path)
		if err != nil {
			t.Fatalf("%s: %v", f.name, err)
		}
		if !f.subset && !slices.Equal(order, side.Order) {
			t.Fatalf("%s: keys %q…, want %q…", f.name, order[:3], side.Order[:3])
		}
		if f.subset {
			// A subset may leave out integer buffers (num_batches_tracked),
			// never a floating-point tensor.
			for _, k := range side.Order {
				if _, ok := sd[k]; !ok && strings.Contains(side.Tensors[k].DType, "float") {
					t.Errorf("%s: no %s", f.name, k)
				}
			}
		}
		for _, k := range order {
			w, ok := side.Tensors[k]
			x := sd[k]
			if !ok {
				t.Fatalf("%s: unexpected key %q", f.name, k)
			}
			if x == nil {
				t.Errorf("%s: %s is listed and has no tensor", f.name, k)
				continue
			}
			if x.DType().TorchName() != "torch."+w.DType || !slices.Equal(x.Shape(), w.Shape) {
				t.Errorf("%s: %s is %v %v, torch has %s %v", f.name, k, x.DType(), x.Shape(), w.DType, w.Shape)
			}
			if h := sha256.Sum256(leBytes(x)); hex.EncodeToString(h[:]) != w.SHA256 {
				t.Errorf("%s: %s differs from torch's tensor", f.name, k)
			}
		}
		if ref == nil {
			ref, refOrder = sd, order
		} else if f.subset {
			sub := map[string]*tensor.Tensor{}
			for _, k := range order {
				sub[k] = ref[k]
			}
			if d := differ(sub, sd); d != "" {
				t.Errorf("%s: differs from %s: %s", f.name, weightFormats[0].name, d)
			}
		} else if d := differ(ref, sd); d != "" {
			t.Errorf("%s: differs from %s: %s", f.name, weightFormats[0].name, d)
		}
	}
	tmp := t.TempDir()
	for _, f := range weightFormats {
		if f.save == nil {
			continue
		}
		path := filepath.Join(tmp, f.name)
		if err := f.save(path, ref, refOrder); err != nil {
			t.Fatalf("%s: save: %v", f.name, err)
		}
		back, order, err := f.load(path)
		if err != nil {
			t.Fatalf("%s: load what was saved: %v", f.name, err)
		}
		if !slices.Equal(order, refOrder) {
			t.Errorf("%s: saved and loaded, the keys come in another order", f.name)
		}
		if d := differ(ref, back); d != "" {
			t.Errorf("%s: saved and loaded: %s", f.name, d)
		}
		if saved[f.name], err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
	}
	return saved
}

// differ reports how two state dicts differ in keys, dtypes, shapes or
// element bytes, or "" when they do not.
func differ(a, b map[string]*tensor.Tensor) string {
	if len(a) != len(b) {
		return "different key counts"
	}
	for k, x := range a {
		y := b[k]
		if y == nil {
			return "no " + k
		}
		if x.DType() != y.DType() || !slices.Equal(x.Shape(), y.Shape()) || !bytes.Equal(leBytes(x), leBytes(y)) {
			return k + " differs"
		}
	}
	return ""
}

// leBytes is x's elements as torch stores them: little-endian, in
// row-major order.
func leBytes(x *tensor.Tensor) []byte {
	var out []byte
	switch x.DType() {
	case tensor.Float32:
		for _, v := range x.Float32s() {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	case tensor.Float64:
		for _, v := range x.Float64s() {
			out = binary.LittleEndian.AppendUint64(out, math.Float64bits(v))
		}
	case tensor.Float16:
		for _, v := range x.Float32s() {
			out = binary.LittleEndian.AppendUint16(out, backend.Float32ToFloat16(v))
		}
	case tensor.BFloat16:
		for _, v := range x.Float32s() {
			out = binary.LittleEndian.AppendUint16(out, backend.Float32ToBFloat16(v))
		}
	case tensor.Int64:
		for _, v := range x.Int64s() {
			out = binary.LittleEndian.AppendUint64(out, uint64(v))
		}
	case tensor.Int32:
		for _, v := range x.Int64s() {
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		}
	default: // Uint8, Bool
		for _, v := range x.Int64s() {
			out = append(out, byte(v))
		}
	}
	return out
}
