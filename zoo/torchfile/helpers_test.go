package torchfile

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/tensor"
)

// sidecarTensor is one tensor as gen_fixtures.py saw it after torch.load.
type sidecarTensor struct {
	DType   string        `json:"dtype"`
	Shape   []int         `json:"shape"`
	Storage int           `json:"storage"`
	Offset  int           `json:"offset"`
	Stride  []int         `json:"stride"`
	Bits    []json.Number `json:"bits"`
	SHA256  string        `json:"sha256"`
}

type sidecarFile struct {
	Order   []string                 `json:"order"`
	Tensors map[string]sidecarTensor `json:"tensors"`
}

func loadSidecar(t testing.TB) map[string]sidecarFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]sidecarFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// wantDType is the dtype package tensor gives a torch dtype.
var wantDType = map[string]tensor.DType{
	"float32": tensor.Float32, "float64": tensor.Float64, "float16": tensor.Float16,
	"bfloat16": tensor.BFloat16, "int64": tensor.Int64, "int32": tensor.Int32,
	"int16": tensor.Int32, "int8": tensor.Int32, "uint8": tensor.Uint8, "bool": tensor.Bool,
}

// sidecarBits reads the elements of a sidecar tensor as the bit patterns
// tensorBits gives: floats as their bits, integers as int64 values
// (as uint64), bools as 0 and 1.
func sidecarBits(t testing.TB, e sidecarTensor) []uint64 {
	t.Helper()
	out := make([]uint64, len(e.Bits))
	for i, n := range e.Bits {
		var err error
		switch e.DType {
		case "float32", "float64", "float16", "bfloat16":
			out[i], err = strconv.ParseUint(n.String(), 10, 64)
		default:
			var v int64
			v, err = strconv.ParseInt(n.String(), 10, 64)
			out[i] = uint64(v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// tensorBits lists x's elements in row-major order as bit patterns. The
// 16-bit floats go through package backend's conversions, which are exact
// on every value but NaN (whose payload bitsEqual ignores).
func tensorBits(x *tensor.Tensor) []uint64 {
	var out []uint64
	switch x.DType() {
	case tensor.Float64:
		for _, v := range x.Float64s() {
			out = append(out, math.Float64bits(v))
		}
	case tensor.Float32:
		for _, v := range x.Float32s() {
			out = append(out, uint64(math.Float32bits(v)))
		}
	case tensor.Float16:
		for _, v := range x.Float32s() {
			out = append(out, uint64(backend.Float32ToFloat16(v)))
		}
	case tensor.BFloat16:
		for _, v := range x.Float32s() {
			out = append(out, uint64(backend.Float32ToBFloat16(v)))
		}
	case tensor.Bool:
		for _, v := range x.Bools() {
			b := uint64(0)
			if v {
				b = 1
			}
			out = append(out, b)
		}
	default:
		for _, v := range x.Int64s() {
			out = append(out, uint64(v))
		}
	}
	if out == nil {
		out = []uint64{}
	}
	return out
}

// bitsEqual compares element bits; a 16-bit NaN equals a NaN of the same
// sign whatever its payload.
func bitsEqual(dt tensor.DType, a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		if dt == tensor.Float16 && isNaN16(a[i], 0x7c00, 0x3ff) && isNaN16(b[i], 0x7c00, 0x3ff) && a[i]&0x8000 == b[i]&0x8000 {
			continue
		}
		if dt == tensor.BFloat16 && isNaN16(a[i], 0x7f80, 0x7f) && isNaN16(b[i], 0x7f80, 0x7f) && a[i]&0x8000 == b[i]&0x8000 {
			continue
		}
		return false
	}
	return true
}

func isNaN16(b, exp, man uint64) bool { return b&exp == exp && b&man != 0 }

// leBytes is x's elements as torch stores them: little-endian, in
// row-major order, in x's dtype.
func leBytes(x *tensor.Tensor) []byte {
	size := x.DType().Size()
	var out []byte
	for _, v := range tensorBits(x) {
		for i := 0; i < size; i++ {
			out = append(out, byte(v>>(8*i)))
		}
	}
	return out
}

// sameTensors reports the first difference between two state dicts, or "".
func sameTensors(a, b map[string]*tensor.Tensor) string {
	if len(a) != len(b) {
		return "different numbers of tensors: " + strconv.Itoa(len(a)) + " and " + strconv.Itoa(len(b))
	}
	for k, x := range a {
		y, ok := b[k]
		switch {
		case !ok:
			return "missing " + k
		case x.DType() != y.DType():
			return k + ": dtype " + x.DType().String() + " vs " + y.DType().String()
		case !slices.Equal(x.Shape(), y.Shape()):
			return k + ": shapes differ"
		case !bitsEqual(x.DType(), tensorBits(x), tensorBits(y)):
			return k + ": elements differ"
		}
	}
	return ""
}
