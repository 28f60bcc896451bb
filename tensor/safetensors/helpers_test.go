package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// rawFile assembles a safetensors file by hand: the header length, the
// header text as given, then data. Tests build valid and broken files with
// it, independently of Write.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// sideFile is one file's entry in testdata/fixtures.json.
type sideFile struct {
	Order    []string              `json:"order"`
	Metadata map[string]string     `json:"metadata"`
	Tensors  map[string]sideTensor `json:"tensors"`
}

// sideTensor is a tensor as gen_fixtures.py describes it: the elements as
// integers (raw bits for floats, values for the others).
type sideTensor struct {
	DType string   `json:"dtype"`
	Shape []int    `json:"shape"`
	Bits  []uint64 `json:"bits"`
}

// UnmarshalJSON reads the bits, which may be negative for signed ints.
func (s *sideTensor) UnmarshalJSON(b []byte) error {
	var raw struct {
		DType string        `json:"dtype"`
		Shape []int         `json:"shape"`
		Bits  []json.Number `json:"bits"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	s.DType, s.Shape = raw.DType, raw.Shape
	s.Bits = make([]uint64, len(raw.Bits))
	for i, n := range raw.Bits {
		if v, err := n.Int64(); err == nil {
			s.Bits[i] = uint64(v)
			continue
		}
		var u uint64
		if err := json.Unmarshal([]byte(n.String()), &u); err != nil {
			return err
		}
		s.Bits[i] = u
	}
	return nil
}

func loadSidecar(t testing.TB) map[string]sideFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var side map[string]sideFile
	if err := json.Unmarshal(b, &side); err != nil {
		t.Fatal(err)
	}
	return side
}

// refHalf is an independent decoder of binary16 (bfloat16 when brain)
// bits to their value, written from the IEEE 754 definition.
func refHalf(h uint16, brain bool) float64 {
	expBits, manBits := 5, 10
	if brain {
		expBits, manBits = 8, 7
	}
	sign := 1.0
	if h>>15 == 1 {
		sign = -1
	}
	e := int(h>>manBits) & (1<<expBits - 1)
	m := float64(int(h) & (1<<manBits - 1))
	bias := 1<<(expBits-1) - 1
	switch e {
	case 1<<expBits - 1:
		if m != 0 {
			return math.Copysign(math.NaN(), sign)
		}
		return math.Inf(int(sign))
	case 0: // zero or subnormal
		return sign * math.Ldexp(m, 1-bias-manBits)
	}
	return sign * math.Ldexp(1+m/float64(int(1)<<manBits), e-bias)
}

// wantDType is the tensor dtype a file dtype loads as.
func wantDType(fileDT string) tensor.DType {
	return map[string]tensor.DType{
		"F64": tensor.Float64, "F32": tensor.Float32, "F16": tensor.Float16, "BF16": tensor.BFloat16,
		"I64": tensor.Int64, "I32": tensor.Int32, "I16": tensor.Int32, "I8": tensor.Int32,
		"U8": tensor.Uint8, "BOOL": tensor.Bool,
	}[fileDT]
}

// checkTensor compares a loaded tensor with the generator's description:
// dtype, shape, and every element bit for bit (halves by value against
// refHalf, NaNs by sign).
func checkTensor(t *testing.T, name string, got *tensor.Tensor, want sideTensor) {
	t.Helper()
	if dt := wantDType(want.DType); got.DType() != dt {
		t.Errorf("%s: dtype %v, want %v", name, got.DType(), dt)
		return
	}
	if !sameInts(got.Shape(), want.Shape) {
		t.Errorf("%s: shape %v, want %v", name, got.Shape(), want.Shape)
		return
	}
	if got.Numel() != len(want.Bits) {
		t.Errorf("%s: %d elements, want %d", name, got.Numel(), len(want.Bits))
		return
	}
	bad := 0
	report := func(i int, g, w any) {
		if bad++; bad <= 5 {
			t.Errorf("%s[%d] = %v, want %v", name, i, g, w)
		}
	}
	switch want.DType {
	case "F64":
		for i, v := range got.Float64s() {
			if math.Float64bits(v) != want.Bits[i] {
				report(i, math.Float64bits(v), want.Bits[i])
			}
		}
	case "F32":
		for i, v := range got.Float32s() {
			if uint64(math.Float32bits(v)) != want.Bits[i] {
				report(i, math.Float32bits(v), want.Bits[i])
			}
		}
	case "F16", "BF16":
		for i, v := range got.Float64s() {
			w := refHalf(uint16(want.Bits[i]), want.DType == "BF16")
			same := math.Float64bits(v) == math.Float64bits(w) ||
				(math.IsNaN(v) && math.IsNaN(w) && math.Signbit(v) == math.Signbit(w))
			if !same {
				report(i, v, w)
			}
		}
	case "BOOL":
		for i, v := range got.Bools() {
			if v != (want.Bits[i] != 0) {
				report(i, v, want.Bits[i])
			}
		}
	default: // integers: Int64s is exact for every integer dtype
		for i, v := range got.Int64s() {
			if uint64(v) != want.Bits[i] {
				report(i, v, int64(want.Bits[i]))
			}
		}
	}
}

func sameInts(a, b []int) bool {
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

// fromSide builds the tensor a sidecar entry describes, with tensor's
// public API (I16 and I8 as Int32, as Tapir holds them).
func fromSide(s sideTensor) *tensor.Tensor {
	shape := append([]int{}, s.Shape...)
	switch s.DType {
	case "F64":
		v := make([]float64, len(s.Bits))
		for i, b := range s.Bits {
			v[i] = math.Float64frombits(b)
		}
		return tensor.FromSlice(v, shape...)
	case "F32":
		v := make([]float32, len(s.Bits))
		for i, b := range s.Bits {
			v[i] = math.Float32frombits(uint32(b))
		}
		return tensor.FromSlice(v, shape...)
	case "F16", "BF16":
		v := make([]float32, len(s.Bits))
		for i, b := range s.Bits {
			v[i] = float32(refHalf(uint16(b), s.DType == "BF16"))
		}
		return tensor.FromSlice(v, shape...).To(wantDType(s.DType))
	case "I64":
		v := make([]int64, len(s.Bits))
		for i, b := range s.Bits {
			v[i] = int64(b)
		}
		return tensor.FromSlice(v, shape...)
	case "I32", "I16", "I8":
		v := make([]int32, len(s.Bits))
		for i, b := range s.Bits {
			v[i] = int32(int64(b))
		}
		return tensor.FromSlice(v, shape...)
	case "U8":
		v := make([]uint8, len(s.Bits))
		for i, b := range s.Bits {
			v[i] = uint8(b)
		}
		return tensor.FromSlice(v, shape...)
	case "BOOL":
		v := make([]bool, len(s.Bits))
		for i, b := range s.Bits {
			v[i] = b != 0
		}
		return tensor.FromSlice(v, shape...)
	}
	panic("fromSide: dtype " + s.DType)
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
