package safetensors

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/tensor"
)

// fileDType describes one dtype name of the format.
type fileDType struct {
	size      int          // bytes per element
	dt        tensor.DType // what a loaded tensor becomes
	supported bool         // whether package tensor can hold it (exactly)
}

// dtypes is every dtype name the format defines with a whole-byte element
// size. Names not in this table make Read fail; names in it whose
// supported is false can be listed and inspected but not loaded.
var dtypes = map[string]fileDType{
	"F64":  {8, tensor.Float64, true},
	"F32":  {4, tensor.Float32, true},
	"F16":  {2, tensor.Float16, true},
	"BF16": {2, tensor.BFloat16, true},
	"I64":  {8, tensor.Int64, true},
	"I32":  {4, tensor.Int32, true},
	"I16":  {2, tensor.Int32, true}, // widened
	"I8":   {1, tensor.Int32, true}, // widened
	"U8":   {1, tensor.Uint8, true},
	"BOOL": {1, tensor.Bool, true},

	"U16":     {2, 0, false},
	"U32":     {4, 0, false},
	"U64":     {8, 0, false},
	"F8_E4M3": {1, 0, false},
	"F8_E5M2": {1, 0, false},
	"F8_E8M0": {1, 0, false},
}

// fileName is the format's name for a tensor dtype.
func fileName(dt tensor.DType) (string, bool) {
	switch dt {
	case tensor.Float64:
		return "F64", true
	case tensor.Float32:
		return "F32", true
	case tensor.Float16:
		return "F16", true
	case tensor.BFloat16:
		return "BF16", true
	case tensor.Int64:
		return "I64", true
	case tensor.Int32:
		return "I32", true
	case tensor.Uint8:
		return "U8", true
	case tensor.Bool:
		return "BOOL", true
	}
	return "", false
}

// littleEndian reports whether the host stores integers little-endian, in
// which case the file's bytes can be used as Go values without swapping.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// decode turns the little-endian elements in b (a whole number of
// elements of the file dtype name) into a new CPU tensor of the given
// shape; a nil shape means 1-d. It works on any host byte order.
func decode(name string, b []byte, shape []int) *tensor.Tensor {
	switch name {
	case "F64":
		v := make([]float64, len(b)/8)
		for i := range v {
			v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return tensor.FromSlice(v, shape...)
	case "F32":
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return tensor.FromSlice(v, shape...)
	case "F16", "BF16":
		// Every binary16 and bfloat16 value is exact in float32, and the
		// conversion back rounds to the nearest value, which is the
		// original: the bits survive (NaN payloads aside; see doc.go).
		widen, dt := backend.Float16ToFloat32, tensor.Float16
		if name == "BF16" {
			widen, dt = backend.BFloat16ToFloat32, tensor.BFloat16
		}
		v := make([]float32, len(b)/2)
		for i := range v {
			v[i] = widen(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return tensor.FromSlice(v, shape...).To(dt)
	case "I64":
		v := make([]int64, len(b)/8)
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return tensor.FromSlice(v, shape...)
	case "I32":
		v := make([]int32, len(b)/4)
		for i := range v {
			v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return tensor.FromSlice(v, shape...)
	case "I16":
		v := make([]int32, len(b)/2)
		for i := range v {
			v[i] = int32(int16(binary.LittleEndian.Uint16(b[2*i:])))
		}
		return tensor.FromSlice(v, shape...)
	case "I8":
		v := make([]int32, len(b))
		for i, x := range b {
			v[i] = int32(int8(x))
		}
		return tensor.FromSlice(v, shape...)
	case "U8":
		return tensor.FromSlice(append([]uint8{}, b...), shape...)
	case "BOOL":
		v := make([]bool, len(b))
		for i, x := range b {
			v[i] = x != 0
		}
		return tensor.FromSlice(v, shape...)
	}
	panic("safetensors: decode: unhandled dtype " + name) // unreachable: callers check dtypes
}

// direct returns the elements of b as a slice of the Go type that holds
// the file dtype name, without copying, when the host is little-endian,
// b is aligned for that type and a tensor can be built from it as is; ok
// is false otherwise.
func direct(name string, b []byte, shape []int) (t *tensor.Tensor, ok bool) {
	if !littleEndian || len(b) == 0 {
		return nil, false
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	switch name {
	case "F64":
		if uintptr(p)%unsafe.Alignof(float64(0)) == 0 {
			return tensor.FromSlice(unsafe.Slice((*float64)(p), len(b)/8), shape...), true
		}
	case "F32":
		if uintptr(p)%unsafe.Alignof(float32(0)) == 0 {
			return tensor.FromSlice(unsafe.Slice((*float32)(p), len(b)/4), shape...), true
		}
	case "I64":
		if uintptr(p)%unsafe.Alignof(int64(0)) == 0 {
			return tensor.FromSlice(unsafe.Slice((*int64)(p), len(b)/8), shape...), true
		}
	case "I32":
		if uintptr(p)%unsafe.Alignof(int32(0)) == 0 {
			return tensor.FromSlice(unsafe.Slice((*int32)(p), len(b)/4), shape...), true
		}
	case "U8":
		return tensor.FromSlice(b, shape...), true
	}
	return nil, false
}

// float32ToHalf narrows a float32 that holds a float16 (bfloat16 when
// brain is set) value back to its bits. Values round to nearest, which is
// the identity on values that came from the format; NaNs keep their sign
// and the top bits of their payload instead of being made canonical.
func float32ToHalf(f float32, brain bool) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN
		if brain {
			h := uint16(b >> 16)
			if h&0x7f == 0 {
				h |= 0x40 // payload only in the dropped bits: keep it a NaN
			}
			return h
		}
		h := uint16(b>>16)&0x8000 | 0x7c00 | uint16(b>>13)&0x3ff
		if h&0x3ff == 0 {
			h |= 0x200 // payload only in the dropped bits: keep it a NaN
		}
		return h
	}
	if brain {
		return backend.Float32ToBFloat16(f)
	}
	return backend.Float32ToFloat16(f)
}
