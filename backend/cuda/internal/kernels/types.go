package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/tapir-ml/tapir/backend"
)

// MaxDims is the most dims a Layout carries; MaxSpatial the most
// spatial dims of a Window.
const (
	MaxDims    = 8
	MaxSpatial = 6
)

// Layout is the C struct Lay, passed to strided kernels by value:
// struct Lay { i64 shape[8]; i64 st[8]; i64 off; int nd; int pad_; }.
type Layout struct {
	Shape   [MaxDims]int64
	Strides [MaxDims]int64
	Offset  int64
	NDim    int32
	_       int32
}

// LayoutSize is the size in bytes of the C struct Lay.
const LayoutSize = 8*MaxDims*2 + 8 + 8

// MakeLayout converts a backend layout; it fails beyond MaxDims dims.
func MakeLayout(shape, strides []int, offset int) (Layout, error) {
	var l Layout
	if len(shape) > MaxDims {
		return l, fmt.Errorf("cuda: %d dims; kernels take at most %d", len(shape), MaxDims)
	}
	for i := range shape {
		l.Shape[i], l.Strides[i] = int64(shape[i]), int64(strides[i])
	}
	l.Offset, l.NDim = int64(offset), int32(len(shape))
	return l, nil
}

// Bytes is the struct's little-endian C image.
func (l *Layout) Bytes() []byte {
	b := make([]byte, 0, LayoutSize)
	for _, v := range l.Shape {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	for _, v := range l.Strides {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint64(b, uint64(l.Offset))
	b = binary.LittleEndian.AppendUint32(b, uint32(l.NDim))
	return binary.LittleEndian.AppendUint32(b, 0)
}

// Win is the C struct Win describing the sliding windows of
// Unfold/Fold/MaxPool: kernel, stride, padding, dilation, input and
// output sizes per spatial dim, and the number of spatial dims.
type Win struct {
	Ker, Str, Pad, Dil, In, Out [MaxSpatial]int64
	NSp                         int32
	_                           int32
}

// WinSize is the size in bytes of the C struct Win.
const WinSize = 6*8*MaxSpatial + 8

// MakeWin converts a backend window over spatial input sizes in.
func MakeWin(w backend.Window, in []int) (Win, error) {
	var v Win
	if len(in) > MaxSpatial || len(w.Kernel) != len(in) {
		return v, fmt.Errorf("cuda: window over %d spatial dims (kernel %v); kernels take 1 to %d", len(in), w.Kernel, MaxSpatial)
	}
	for d := range in {
		v.Ker[d], v.Str[d], v.Pad[d], v.Dil[d] = int64(w.Kernel[d]), int64(w.Stride[d]), int64(w.Padding[d]), int64(w.Dilation[d])
		v.In[d], v.Out[d] = int64(in[d]), int64(w.OutSize(d, in[d]))
	}
	v.NSp = int32(len(in))
	return v, nil
}

// Bytes is the struct's little-endian C image.
func (w *Win) Bytes() []byte {
	b := make([]byte, 0, WinSize)
	for _, a := range [][MaxSpatial]int64{w.Ker, w.Str, w.Pad, w.Dil, w.In, w.Out} {
		for _, v := range a {
			b = binary.LittleEndian.AppendUint64(b, uint64(v))
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(w.NSp))
	return binary.LittleEndian.AppendUint32(b, 0)
}

// typ is what templates know of a dtype.
type typ struct {
	DT    backend.DType
	Short string // f32, f64, f16, bf16, i64, i32, u8, b8
	S     string // storage type
	C     string // compute type
	Acc   string // reduction accumulator: double or i64
	Float bool
	F     string // math-function suffix: "f" for float, "" for double
}

var types = map[backend.DType]typ{
	backend.Float32:  {backend.Float32, "f32", "float", "float", "double", true, "f"},
	backend.Float64:  {backend.Float64, "f64", "double", "double", "double", true, ""},
	backend.Float16:  {backend.Float16, "f16", "u16", "float", "double", true, "f"},
	backend.BFloat16: {backend.BFloat16, "bf16", "u16", "float", "double", true, "f"},
	backend.Int64:    {backend.Int64, "i64", "i64", "i64", "i64", false, ""},
	backend.Int32:    {backend.Int32, "i32", "int", "int", "i64", false, ""},
	backend.Uint8:    {backend.Uint8, "u8", "u8", "int", "i64", false, ""},
	backend.Bool:     {backend.Bool, "b8", "u8", "int", "i64", false, ""},
}

// Short is the dtype's suffix in kernel names (f32, bf16, b8, …).
func Short(dt backend.DType) string { return types[dt].Short }

// dlit writes a float64 constant that C parses back exactly.
func dlit(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "(__longlong_as_double(0x7ff0000000000000LL))"
	case math.IsInf(v, -1):
		return "(__longlong_as_double((long long)0xfff0000000000000ULL))"
	}
	s := strconv.FormatFloat(v, 'e', -1, 64)
	return "(" + s + ")"
}
