package cpu

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
)

// Buffer is the CPU backend's storage: n elements of one dtype in host
// memory, 8-byte aligned.
type Buffer struct {
	dt    backend.DType
	n     int
	words []uint64 // the backing array
	class int      // pool size class, -1 if not pooled
}

// DType implements backend.Storage.
func (b *Buffer) DType() backend.DType { return b.dt }

// Len implements backend.Storage.
func (b *Buffer) Len() int { return b.n }

// Device implements backend.Storage.
func (b *Buffer) Device() backend.Device { return backend.CPU }

// Bytes is the buffer's memory as bytes.
func (b *Buffer) Bytes() []byte {
	if len(b.words) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&b.words[0])), b.n*b.dt.Size())
}

func slice[T any](s backend.Storage) []T {
	b := s.(*Buffer)
	if len(b.words) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b.words[0])), b.n)
}

// Float32s views a Float32 buffer's elements; no copy.
func Float32s(s backend.Storage) []float32 { return slice[float32](s) }

// Float64s views a Float64 buffer's elements; no copy.
func Float64s(s backend.Storage) []float64 { return slice[float64](s) }

// Int64s views an Int64 buffer's elements; no copy.
func Int64s(s backend.Storage) []int64 { return slice[int64](s) }

// CPU is the backend. It has no state of its own: the pool and the thread
// count are process-wide.
type CPU struct{}

var theCPU = &CPU{}

// Get returns the CPU backend.
func Get() *CPU { return theCPU }

func init() {
	backend.Register(backend.CPUType, func(index int) (backend.Backend, error) {
		if index != 0 {
			return nil, fmt.Errorf("cpu: no device cpu:%d (there is one CPU device, index 0)", index)
		}
		return theCPU, nil
	})
}

var numThreads atomic.Int32

// SetNumThreads sets how many goroutines one kernel may use; n < 1 restores
// the default, GOMAXPROCS. It returns the previous value.
func SetNumThreads(n int) int {
	if n < 1 {
		n = 0
	}
	return int(numThreads.Swap(int32(n)))
}

// NumThreads is the number of goroutines one kernel may use.
func NumThreads() int {
	if n := numThreads.Load(); n > 0 {
		return int(n)
	}
	return runtime.GOMAXPROCS(0)
}

// Device implements backend.Backend.
func (*CPU) Device() backend.Device { return backend.CPU }

// Name implements backend.Backend.
func (*CPU) Name() string { return "cpu (pure Go)" }

// Alloc implements backend.Backend.
func (*CPU) Alloc(dt backend.DType, n int) (backend.Storage, error) {
	w, err := allocWords(dt, n)
	if err != nil {
		return nil, err
	}
	if w <= smallWords {
		return newSmallBuffer(dt, n, w), nil
	}
	words, class, err := poolGet(w)
	if err != nil {
		return nil, err
	}
	return &Buffer{dt: dt, n: n, words: words, class: class}, nil
}

// Release implements backend.Backend.
func (*CPU) Release(s backend.Storage) {
	b, ok := s.(*Buffer)
	if !ok || b.words == nil {
		return
	}
	poolPut(b.words, b.class)
	b.words, b.n = nil, 0
}

// Sync implements backend.Backend; CPU kernels are synchronous.
func (*CPU) Sync() error { return nil }

// Upload implements backend.Backend.
func (*CPU) Upload(s backend.Storage, src []byte) error {
	b := s.(*Buffer)
	dst := b.Bytes()
	if len(src) > len(dst) {
		return fmt.Errorf("cpu: upload of %d bytes into a buffer of %d", len(src), len(dst))
	}
	copy(dst, src)
	return nil
}

// Download implements backend.Backend.
func (c *CPU) Download(dst []byte, v backend.View) error {
	size := v.DType().Size()
	if len(dst) != v.Numel()*size {
		return fmt.Errorf("cpu: download of %d elements into %d bytes", v.Numel(), len(dst))
	}
	if v.IsContiguous() {
		copy(dst, v.Storage.(*Buffer).Bytes()[v.Offset*size:])
		return nil
	}
	tmp := &Buffer{dt: v.DType(), n: v.Numel(), class: -1}
	tmp.words = make([]uint64, (len(dst)+7)/8)
	c.Copy(backend.View{Storage: tmp, Layout: backend.Contiguous(v.Shape)}, v)
	copy(dst, tmp.Bytes())
	return nil
}

var _ backend.Backend = (*CPU)(nil)

// The optional interfaces CPU implements (Convolver in conv_implicit.go's
// methods, the fused kernels in lstm.go, softmax.go, layernorm.go, pool_grad.go, relu.go, crossentropy.go
// and mse.go).
var (
	_ backend.Convolver            = (*CPU)(nil)
	_ backend.LSTMCeller           = (*CPU)(nil)
	_ backend.SoftmaxBackwarder    = (*CPU)(nil)
	_ backend.LayerNormer          = (*CPU)(nil)
	_ backend.MaxPoolBackwarder    = (*CPU)(nil)
	_ backend.ReLUBackwarder       = (*CPU)(nil)
	_ backend.ActivationBackwarder = (*CPU)(nil)
	_ backend.CrossEntropier       = (*CPU)(nil)
	_ backend.MSELosser            = (*CPU)(nil)
)

// BinaryDense32 is Binary for the commonest tiny op, without building its
// views: dst[i] = a[aOff+i] op b[bOff+i] for i < n, over float32 buffers
// that the caller knows to be contiguous from those offsets (dst from
// 0). It reports whether it ran; when not (another dtype or op, or work
// worth threads), the caller goes through Binary. On a tiny op, copying
// three views into an interface call is a tenth of the cost.
func BinaryDense32(op backend.BinaryOp, dst, a, b backend.Storage, aOff, bOff, n int) bool {
	return !vecOff && dense32(op, dst, a, b, 0, aOff, bOff, n)
}
