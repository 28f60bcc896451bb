package torchfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/tensor"
)

// storageType is one of torch's typed storage classes.
type storageType struct {
	name string       // "FloatStorage"
	size int          // bytes per element in the file
	dt   tensor.DType // what a loaded tensor becomes
	code byte         // how elements are decoded: see decodeChunk
}

// The element encodings of the storage types.
const (
	codeF64 = iota + 1
	codeF32
	codeF16
	codeBF16
	codeI64
	codeI32
	codeI16
	codeI8
	codeU8
	codeBool
)

// storageTypes is every storage class whose tensors package tensor can
// hold. ShortStorage (int16) and CharStorage (int8) load widened to Int32,
// as package safetensors loads I16 and I8; every value is exact.
var storageTypes = map[string]storageType{
	"DoubleStorage":   {"DoubleStorage", 8, tensor.Float64, codeF64},
	"FloatStorage":    {"FloatStorage", 4, tensor.Float32, codeF32},
	"HalfStorage":     {"HalfStorage", 2, tensor.Float16, codeF16},
	"BFloat16Storage": {"BFloat16Storage", 2, tensor.BFloat16, codeBF16},
	"LongStorage":     {"LongStorage", 8, tensor.Int64, codeI64},
	"IntStorage":      {"IntStorage", 4, tensor.Int32, codeI32},
	"ShortStorage":    {"ShortStorage", 2, tensor.Int32, codeI16},
	"CharStorage":     {"CharStorage", 1, tensor.Int32, codeI8},
	"ByteStorage":     {"ByteStorage", 1, tensor.Uint8, codeU8},
	"BoolStorage":     {"BoolStorage", 1, tensor.Bool, codeBool},
}

func lookupStorage(name string) (storageType, error) {
	st, ok := storageTypes[name]
	if !ok {
		return st, fmt.Errorf("torch.%s: dtype not supported by package tensor", name)
	}
	return st, nil
}

// storageName is the storage class the writer uses for a dtype.
func storageName(dt tensor.DType) (string, bool) {
	switch dt {
	case tensor.Float64:
		return "DoubleStorage", true
	case tensor.Float32:
		return "FloatStorage", true
	case tensor.Float16:
		return "HalfStorage", true
	case tensor.BFloat16:
		return "BFloat16Storage", true
	case tensor.Int64:
		return "LongStorage", true
	case tensor.Int32:
		return "IntStorage", true
	case tensor.Uint8:
		return "ByteStorage", true
	case tensor.Bool:
		return "BoolStorage", true
	}
	return "", false
}

// littleEndian reports whether the host stores integers little-endian.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// direct returns b as a new tensor without decoding element by element:
// when the file's byte order is the host's, b is aligned and the Go type
// of the dtype is the element type. It copies b once, into the tensor.
func direct(st storageType, b []byte, fileLittle bool) (*tensor.Tensor, bool) {
	if fileLittle != littleEndian || len(b) == 0 {
		return nil, false
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	aligned := uintptr(p)%uintptr(st.size) == 0
	switch st.code {
	case codeF64:
		if aligned {
			return tensor.FromSlice(unsafe.Slice((*float64)(p), len(b)/8)), true
		}
	case codeF32:
		if aligned {
			return tensor.FromSlice(unsafe.Slice((*float32)(p), len(b)/4)), true
		}
	case codeI64:
		if aligned {
			return tensor.FromSlice(unsafe.Slice((*int64)(p), len(b)/8)), true
		}
	case codeI32:
		if aligned {
			return tensor.FromSlice(unsafe.Slice((*int32)(p), len(b)/4)), true
		}
	case codeU8:
		return tensor.FromSlice(b), true
	}
	return nil, false
}

// decodeChunk converts the whole elements in b, stored in the file's
// byte order, into a new 1-d CPU tensor: of st.dt, except that 16-bit
// floats come as Float32 holding their exact values (copying such a chunk
// into a Float16 or BFloat16 tensor narrows it back exactly).
func decodeChunk(st storageType, b []byte, fileLittle bool) *tensor.Tensor {
	var bo binary.ByteOrder = binary.LittleEndian
	if !fileLittle {
		bo = binary.BigEndian
	}
	n := len(b) / st.size
	switch st.code {
	case codeF64:
		v := make([]float64, n)
		for i := range v {
			v[i] = math.Float64frombits(bo.Uint64(b[8*i:]))
		}
		return tensor.FromSlice(v)
	case codeF32:
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(bo.Uint32(b[4*i:]))
		}
		return tensor.FromSlice(v)
	case codeF16, codeBF16:
		widen := backend.Float16ToFloat32
		if st.code == codeBF16 {
			widen = backend.BFloat16ToFloat32
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = widen(bo.Uint16(b[2*i:]))
		}
		return tensor.FromSlice(v)
	case codeI64:
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(bo.Uint64(b[8*i:]))
		}
		return tensor.FromSlice(v)
	case codeI32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(bo.Uint32(b[4*i:]))
		}
		return tensor.FromSlice(v)
	case codeI16:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(int16(bo.Uint16(b[2*i:])))
		}
		return tensor.FromSlice(v)
	case codeI8:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(int8(b[i]))
		}
		return tensor.FromSlice(v)
	case codeU8:
		return tensor.FromSlice(append([]uint8(nil), b...))
	case codeBool:
		v := make([]bool, n)
		for i := range v {
			v[i] = b[i] != 0
		}
		return tensor.FromSlice(v)
	}
	panic("torchfile: decode: unhandled storage type " + st.name) // unreachable: the table is closed
}

// float32ToHalf narrows a float32 that holds a float16 (bfloat16 when
// brain is set) value back to its bits: exactly, for values that came
// from a 16-bit float; NaNs keep their sign and the top of their payload.
func float32ToHalf(f float32, brain bool) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN
		if brain {
			h := uint16(b >> 16)
			if h&0x7f == 0 {
				h |= 0x40
			}
			return h
		}
		h := uint16(b>>16)&0x8000 | 0x7c00 | uint16(b>>13)&0x3ff
		if h&0x3ff == 0 {
			h |= 0x200
		}
		return h
	}
	if brain {
		return backend.Float32ToBFloat16(f)
	}
	return backend.Float32ToFloat16(f)
}
