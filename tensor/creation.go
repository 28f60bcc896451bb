package tensor

import (
	"math"
	"reflect"
	"runtime"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// Element is a Go type FromSlice accepts: float32 → Float32, float64 →
// Float64, int64 and int → Int64, int32 → Int32, uint8 → Uint8, bool →
// Bool.
type Element interface {
	~float32 | ~float64 | ~int64 | ~int | ~int32 | ~uint8 | ~bool
}

// FromSlice copies data into a new CPU tensor of the given shape (1-d of
// len(data) when no shape is given). The dtype follows the Go type; see
// Element. It panics with an ErrShape error when the shape does not hold
// len(data) elements.
func FromSlice[T Element](data []T, shape ...int) *Tensor {
	if shape == nil {
		shape = []int{len(data)}
	}
	for _, s := range shape {
		if s < 0 {
			fail("from_slice", ErrShape, "negative dimension in shape %v", shape)
		}
	}
	if n := backend.Numel(shape); n != len(data) {
		fail("from_slice", ErrShape, "%d values cannot fill shape %v (%d elements)", len(data), shape, n)
	}
	var dt DType
	raw := rawBytes(data)
	switch reflect.TypeFor[T]().Kind() {
	case reflect.Float32:
		dt = Float32
	case reflect.Float64:
		dt = Float64
	case reflect.Int64:
		dt = Int64
	case reflect.Int: // int is 64 bits on every platform Go targets but a few
		dt = Int64
		conv := make([]int64, len(data))
		for i, v := range unsafe.Slice((*int)(unsafe.Pointer(unsafe.SliceData(data))), len(data)) {
			conv[i] = int64(v)
		}
		raw = rawBytes(conv)
	case reflect.Int32:
		dt = Int32
	case reflect.Uint8:
		dt = Uint8
	case reflect.Bool:
		dt = Bool
	}
	out := empty("from_slice", CPU, dt, shape)
	if err := out.be().Upload(out.st.buf, raw); err != nil {
		fail("from_slice", ErrDevice, "%v", err)
	}
	return out
}

func rawBytes[T any](data []T) []byte {
	if len(data) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), len(data)*int(unsafe.Sizeof(data[0])))
}

// Scalar returns a 0-d Float32 tensor.
func Scalar(v float64) *Tensor { return fullOf(Float32, CPU, v, nil) }

// Zeros returns a Float32 tensor of zeros.
func Zeros(shape ...int) *Tensor { return fullOf(Float32, CPU, 0, shape) }

// Ones returns a Float32 tensor of ones.
func Ones(shape ...int) *Tensor { return fullOf(Float32, CPU, 1, shape) }

// Full returns a Float32 tensor filled with v.
func Full(v float64, shape ...int) *Tensor { return fullOf(Float32, CPU, v, shape) }

// Empty returns a Float32 tensor whose contents are unspecified.
func Empty(shape ...int) *Tensor { return empty("empty", CPU, Float32, shape) }

// ZerosLike returns zeros with t's shape, dtype and device.
func ZerosLike(t *Tensor) *Tensor { return fullOf(t.DType(), t.Device(), 0, t.shape) }

// OnesLike returns ones with t's shape, dtype and device.
func OnesLike(t *Tensor) *Tensor { return fullOf(t.DType(), t.Device(), 1, t.shape) }

// FullLike returns v with t's shape, dtype and device.
func FullLike(t *Tensor, v float64) *Tensor { return fullOf(t.DType(), t.Device(), v, t.shape) }

// EmptyLike returns an uninitialized tensor with t's shape, dtype and device.
func EmptyLike(t *Tensor) *Tensor { return emptyLike("empty_like", t, t.DType()) }

// ZerosOf returns zeros of the given dtype on the CPU.
func ZerosOf(dt DType, shape ...int) *Tensor { return fullOf(dt, CPU, 0, shape) }

// FullOf returns v of the given dtype on the CPU.
func FullOf(dt DType, v float64, shape ...int) *Tensor { return fullOf(dt, CPU, v, shape) }

func zerosOf(dt DType, dev Device, shape []int) *Tensor { return fullOf(dt, dev, 0, shape) }

func fullOf(dt DType, dev Device, v float64, shape []int) *Tensor {
	if !dt.Valid() {
		fail("full", ErrDType, "invalid dtype %v", dt)
	}
	t := empty("full", dev, dt, shape)
	t.be().Fill(t.view(), v)
	return t
}

// Arange returns the values start, start+step, … below end (above, for a
// negative step). When start, end and step are whole numbers the result
// is Int64, as torch.arange(5) is; otherwise Float32.
func Arange(start, end, step float64) *Tensor {
	if step == 0 || math.IsNaN(step) || !isFinite(start) || !isFinite(end) {
		fail("arange", ErrShape, "invalid range start=%v end=%v step=%v", start, end, step)
	}
	n := int(math.Ceil((end - start) / step))
	if n < 0 {
		n = 0
	}
	whole := start == math.Trunc(start) && end == math.Trunc(end) && step == math.Trunc(step)
	if whole {
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(start) + int64(i)*int64(step)
		}
		return FromSlice(v)
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(start + float64(i)*step)
	}
	return FromSlice(v)
}

// Linspace returns n evenly spaced Float32 values from start to end
// inclusive.
func Linspace(start, end float64, n int) *Tensor {
	if n < 0 {
		fail("linspace", ErrShape, "number of steps must be non-negative, not %d", n)
	}
	v := make([]float32, n)
	if n == 1 {
		v[0] = float32(start)
	} else if n > 1 {
		step := (end - start) / float64(n-1)
		half := n / 2
		for i := range v {
			// from both ends toward the middle, as torch does, so the
			// last value is end exactly
			if i < half {
				v[i] = float32(start + step*float64(i))
			} else {
				v[i] = float32(end - step*float64(n-1-i))
			}
		}
	}
	return FromSlice(v)
}

// Eye returns the n×n Float32 identity matrix.
func Eye(n int) *Tensor {
	if n < 0 {
		fail("eye", ErrShape, "n must be non-negative, not %d", n)
	}
	v := make([]float32, n*n)
	for i := 0; i < n; i++ {
		v[i*n+i] = 1
	}
	return FromSlice(v, n, n)
}

// fill writes v into every element of t in place, recording nothing.
func (t *Tensor) fill(v float64) {
	t.be().Fill(t.view(), v)
	runtime.KeepAlive(t)
}
