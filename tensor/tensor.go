package tensor

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cpu" // the CPU backend is always there
)

// Tensor is an n-dimensional array: a storage seen through a layout
// (shape, strides, offset). Views share storage. A tensor that requires
// grad, or was computed from one, records the op that made it so that
// Backward can differentiate through it.
//
// A Tensor is safe to read from many goroutines; writes (the In methods,
// SetRequiresGrad, Backward into shared leaves) need the caller's
// synchronization, as with any Go value.
type Tensor struct {
	st      *storage
	shape   []int
	strides []int
	offset  int
	base    *Tensor // for a view of a tensor in a graph: what it viewed…
	baseFn  *Node   // …and that tensor's grad_fn then

	// autograd
	gradFn       *Node                     // nil for leaves
	gs           atomic.Pointer[gradState] // made on first use
	outIdx       int32                     // which output of gradFn this is (int32: packs with the flags)
	requiresGrad bool                      // leaf flag; non-leaves require grad through gradFn
	isView       bool                      // made by a view op

	// dims backs shape and strides for tensors of up to inlineDims dims,
	// so a small tensor is one allocation. Slices into it never leave
	// the tensor: fromStorage and Node copy shapes they keep (a view or a
	// graph node holding them would keep this tensor, and so its storage
	// and graph, alive).
	dims [2 * inlineDims]int
}

// inlineDims is the largest rank whose layout a Tensor keeps inline.
const inlineDims = 4

// gradState is what only some tensors need: leaves that require grad and
// tensors that retain their gradient. It lives outside the Tensor, which
// every op allocates, to keep that within a smaller size class.
type gradState struct {
	grad atomic.Pointer[Tensor]
	acc  atomic.Pointer[Node] // leaf accumulator, made on first use
}

// gradState returns t's, making it on first use.
func (t *Tensor) gradState() *gradState {
	if s := t.gs.Load(); s != nil {
		return s
	}
	s := new(gradState)
	if t.gs.CompareAndSwap(nil, s) {
		return s
	}
	return t.gs.Load()
}

// storage wraps a backend buffer with what autograd needs to know about it.
//
// It is kept small (see newStorage): a small CPU buffer shares its object,
// and every op allocates one. So it holds no backend of its own: a
// storage without a handle is a small CPU buffer's, and the handle of any
// other knows its backend.
type storage struct {
	buf     backend.Storage
	version atomic.Uint64 // bumped by every in-place write
	views   int32         // Tensor values over this storage; atomic once published
	dt      DType         // buf.DType(), without the interface call
	serial  uint64        // allocation order, for the backward engine
	h       *bufHandle    // nil when the GC alone reclaims the buffer
}

// bufHandle releases a buffer to its backend exactly once: explicitly by
// the backward engine, or by a cleanup when the storage is unreachable.
type bufHandle struct {
	done atomic.Bool
	be   backend.Backend
	buf  backend.Storage
}

func (h *bufHandle) release() {
	if h != nil && !h.done.Swap(true) {
		h.be.Release(h.buf)
	}
}

// pooledBytes is the size from which host buffers are handed back to the
// backend's pool when unreachable; smaller ones are left to the GC.
const pooledBytes = 4096

var storageSerial atomic.Uint64

// newStorage allocates a buffer from dev's backend. A buffer worth pooling
// goes back to the backend exactly once: when the backward engine frees a
// gradient it consumed, or else from a cleanup once the storage is
// unreachable. The cleanup's argument keeps the buffer alive through the
// GC cycle that found the storage dead, so such buffers return a cycle
// late and count as live heap meanwhile; the CPU backend's pool paces GC
// cycles by what it hands out so that this cannot make the heap grow
// without bound (see package backend/cpu).
//
// On the CPU the storage record shares one heap object with a small
// buffer and its elements (cpu.NewWithBuffer): the two live exactly as
// long as each other anyway, and a tiny op then pays one allocation for
// them instead of two.
//
// The storage comes with views set to 1, for the tensor the caller makes
// over it before anything else can see it.
func newStorage(op string, be backend.Backend, dt DType, n int) *storage {
	var st *storage
	_, onCPU := be.(*cpu.CPU)
	if onCPU {
		s, b, err := cpu.NewWithBuffer[storage](dt, n)
		if err != nil {
			fail(op, ErrOutOfMemory, "%v", err)
		}
		st = s
		st.buf = b
	} else {
		buf, err := be.Alloc(dt, n)
		if err != nil {
			fail(op, ErrOutOfMemory, "%v", err)
		}
		st = &storage{buf: buf}
	}
	st.dt, st.serial, st.views = dt, storageSerial.Add(1), 1
	if !onCPU || n*dt.Size() >= pooledBytes {
		st.h = &bufHandle{be: be, buf: st.buf}
		runtime.AddCleanup(st, func(h *bufHandle) { h.release() }, st.h)
	}
	return st
}

// backends caches what backend.Open returned for each device (Open's
// registry lock and lookup would otherwise be paid by every op). Only
// successful opens are cached; the map is replaced, never changed.
var (
	backends   atomic.Pointer[map[Device]backend.Backend]
	cpuBackend atomic.Pointer[backend.Backend] // the common case, without the map
)

func openBackend(op string, dev Device) backend.Backend {
	if dev == CPU {
		if be := cpuBackend.Load(); be != nil {
			return *be
		}
	}
	if m := backends.Load(); m != nil {
		if be, ok := (*m)[dev]; ok {
			return be
		}
	}
	be, err := backend.Open(dev)
	if err != nil {
		fail(op, ErrDevice, "%v", err)
	}
	for {
		old := backends.Load()
		m := make(map[Device]backend.Backend, 1)
		if old != nil {
			for k, v := range *old {
				m[k] = v
			}
		}
		m[dev] = be
		if backends.CompareAndSwap(old, &m) {
			if dev == CPU {
				cpuBackend.Store(&be)
			}
			return be
		}
	}
}

// fromStorage makes a tensor over st with the given layout. shape and
// strides are copied: callers may reuse them.
func fromStorage(st *storage, shape, strides []int, offset int) *Tensor {
	atomic.AddInt32(&st.views, 1)
	t := &Tensor{st: st, offset: offset}
	n := len(shape)
	var buf []int
	if n <= inlineDims {
		buf = t.dims[: 2*n : 2*n]
	} else {
		buf = make([]int, 2*n)
	}
	copy(buf, shape)
	copy(buf[n:], strides)
	t.shape, t.strides = buf[:n:n], buf[n:]
	return t
}

// empty allocates a contiguous tensor; its contents are unspecified.
func empty(op string, dev Device, dt DType, shape []int) *Tensor {
	return emptyOn(op, openBackend(op, dev), dt, shape)
}

// emptyOn is empty on the device of backend be: ops whose inputs already
// hold their backend skip the device lookup.
func emptyOn(op string, be backend.Backend, dt DType, shape []int) *Tensor {
	t := new(Tensor)
	t.initEmpty(op, be, dt, shape)
	return t
}

// maxDTypeSize bounds DType.Size for initEmpty's overflow check.
const maxDTypeSize = 16

// initEmpty makes t, a zero Tensor, what emptyOn returns.
func (t *Tensor) initEmpty(op string, be backend.Backend, dt DType, shape []int) {
	for _, s := range shape {
		if s < 0 {
			fail(op, ErrShape, "negative dimension in shape %v", append([]int(nil), shape...))
		}
	}
	n := shapeProduct(op, shape)
	// The division (slow next to the rest of a tiny op) runs only for
	// shapes too large for the largest dtype.
	if sz := max(dt.Size(), 1); n > math.MaxInt/maxDTypeSize && n > math.MaxInt/sz {
		fail(op, ErrOutOfMemory, "shape %v of %v takes more bytes than an int counts", append([]int(nil), shape...), dt)
	}
	t.initChecked(op, be, dt, shape, n)
}

// initChecked is initEmpty for a shape already checked, of n elements.
func (t *Tensor) initChecked(op string, be backend.Backend, dt DType, shape []int, n int) {
	t.st = newStorage(op, be, dt, n)
	t.setContiguous(shape)
}

// shapeProduct returns the product of shape's dims, a −1 (a dim that
// Reshape infers) left out, and fails with ErrShape, naming op and shape,
// when it does not fit in an int: a shape such as [2³², 2³²] would
// otherwise wrap to 0 elements and pass for empty. A zero dim makes the
// product 0 however large the others. Callers reject other negative
// dims first.
func shapeProduct(op string, shape []int) int {
	if slices.Contains(shape, 0) {
		return 0
	}
	n := 1
	for _, s := range shape {
		if s < 0 {
			continue
		}
		if n > math.MaxInt/s {
			fail(op, ErrShape, "shape %v has more elements than an int counts", append([]int(nil), shape...))
		}
		n *= s
	}
	return n
}

// setContiguous gives t a contiguous layout of the given shape (copied).
func (t *Tensor) setContiguous(shape []int) {
	r := len(shape)
	var buf []int
	if r <= inlineDims {
		buf = t.dims[: 2*r : 2*r]
	} else {
		buf = make([]int, 2*r)
	}
	sh, str := buf[:r:r], buf[r:]
	copy(sh, shape)
	s := 1 // as backend.ContiguousStrides
	for i := r - 1; i >= 0; i-- {
		str[i] = s
		if sh[i] > 1 {
			s *= sh[i]
		}
	}
	t.shape, t.strides = sh, str
}

// emptyLike allocates a contiguous tensor shaped like t.
func emptyLike(op string, t *Tensor, dt DType) *Tensor { return emptyOn(op, t.be(), dt, t.shape) }

func (t *Tensor) layout() backend.Layout {
	return backend.Layout{Shape: t.shape, Strides: t.strides, Offset: t.offset}
}

func (t *Tensor) view() backend.View {
	return backend.View{Storage: t.st.buf, Layout: t.layout()}
}

// viewAs is t's storage seen through another layout.
func (t *Tensor) viewAs(shape, strides []int, offset int) backend.View {
	return backend.View{Storage: t.st.buf, Layout: backend.Layout{Shape: shape, Strides: strides, Offset: offset}}
}

func (t *Tensor) be() backend.Backend { return t.st.backend() }

// cpuBE is the CPU backend as an interface value, made once.
var cpuBE backend.Backend = cpu.Get()

// sameBackend reports whether a's and b's buffers belong to one backend:
// at once when neither has a handle (both are small CPU buffers), else
// by comparing the backends.
func sameBackend(a, b *Tensor) bool {
	return a.st.h == nil && b.st.h == nil || a.be() == b.be()
}

// backend is the backend that owns st's buffer.
func (st *storage) backend() backend.Backend {
	if st.h != nil {
		return st.h.be
	}
	return cpuBE
}

// Shape returns a copy of the dims: an empty (non-nil) slice for a 0-d
// tensor, so FromSlice(data, t.Shape()...) keeps the shape.
func (t *Tensor) Shape() []int { return append([]int{}, t.shape...) }

// Size returns dim d's length; negative d counts from the end.
func (t *Tensor) Size(d int) int { return t.shape[t.normDim("size", d)] }

// Strides returns a copy of the strides, in elements.
func (t *Tensor) Strides() []int { return append([]int{}, t.strides...) }

// Dim is the number of dims.
func (t *Tensor) Dim() int { return len(t.shape) }

// Numel is the number of elements.
func (t *Tensor) Numel() int { return backend.Numel(t.shape) }

// DType is the element type.
func (t *Tensor) DType() DType { return t.st.dt }

// Device is where the data lives.
func (t *Tensor) Device() Device {
	if _, ok := t.st.buf.(*cpu.Buffer); ok {
		return CPU // without the interface call: a tiny op asks several times
	}
	return t.st.buf.Device()
}

// IsContiguous reports whether the elements are dense in row-major order.
// (It checks t's own shape and strides rather than building a Layout,
// whose copy through the stack was a tenth of a tiny op's time.)
func (t *Tensor) IsContiguous() bool { return backend.IsContiguousStrides(t.shape, t.strides) }

// Version counts the in-place writes to t's storage; backward uses it to
// detect a saved tensor that was overwritten.
func (t *Tensor) Version() uint64 { return t.st.version.Load() }

// SharesStorage reports whether t and o are views of one storage.
func (t *Tensor) SharesStorage(o *Tensor) bool { return t.st == o.st }

// bytes downloads t's elements in row-major order.
func (t *Tensor) bytes() []byte {
	out := make([]byte, t.Numel()*t.DType().Size())
	if len(out) == 0 {
		return out
	}
	if err := t.be().Download(out, t.view()); err != nil {
		fail("download", ErrDevice, "%v", err)
	}
	runtime.KeepAlive(t)
	return out
}

func bytesAs[T any](b []byte) []T {
	var z T
	n := len(b) / int(unsafe.Sizeof(z))
	if n == 0 {
		return []T{}
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// Float64s returns a copy of the elements in row-major order, converted
// to float64.
func (t *Tensor) Float64s() []float64 {
	if t.DType() == Float64 {
		return bytesAs[float64](t.bytes())
	}
	return t.To(Float64).Float64s()
}

// Float32s returns a copy of the elements converted to float32.
func (t *Tensor) Float32s() []float32 {
	if t.DType() == Float32 {
		return bytesAs[float32](t.bytes())
	}
	return t.To(Float32).Float32s()
}

// Int64s returns a copy of the elements converted to int64 (floats
// truncate toward zero).
func (t *Tensor) Int64s() []int64 {
	if t.DType() == Int64 {
		return bytesAs[int64](t.bytes())
	}
	return t.To(Int64).Int64s()
}

// Bools returns a copy of the elements as booleans (x ≠ 0).
func (t *Tensor) Bools() []bool {
	if t.DType() == Bool {
		return bytesAs[bool](t.bytes())
	}
	return t.To(Bool).Bools()
}

// Item returns the value of a one-element tensor.
func (t *Tensor) Item() float64 {
	if t.Numel() != 1 {
		fail("item", ErrShape, "a tensor with %d elements (shape %v) cannot be converted to a scalar", t.Numel(), t.shape)
	}
	switch t.DType() {
	case Int64:
		return float64(t.Int64s()[0])
	}
	return t.Float64s()[0]
}

// At returns the element at the given index (one per dim; negative
// counts from the end) as float64.
func (t *Tensor) At(index ...int) float64 {
	if len(index) != t.Dim() {
		fail("at", ErrIndex, "%d indices for a %d-d tensor", len(index), t.Dim())
	}
	v := t
	for d := len(index) - 1; d >= 0; d-- {
		i := index[d]
		if i < 0 {
			i += t.shape[d]
		}
		if i < 0 || i >= t.shape[d] {
			fail("at", ErrIndex, "index %d out of range for dim %d of size %d", index[d], d, t.shape[d])
		}
		v = v.Narrow(d, i, 1)
	}
	return v.Item()
}

// Contiguous returns t if it is contiguous, else a contiguous copy.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		return t
	}
	return t.Clone()
}

// Clone returns a contiguous copy; gradients flow back to t.
func (t *Tensor) Clone() *Tensor {
	out := emptyLike("clone", t, t.DType())
	t.be().Copy(out.view(), t.view())
	runtime.KeepAlive(t)
	if needsGrad(t) {
		record(opClone, nil, []*Tensor{t}, []*Tensor{out})
	}
	return out
}

// Detach returns a tensor sharing t's storage that does not require grad
// and records nothing: writes to either are seen by both.
func (t *Tensor) Detach() *Tensor {
	return fromStorage(t.st, t.shape, t.strides, t.offset)
}

// To converts to another dtype; it returns t itself when the dtype is
// already dt. Gradients flow back between floating types.
func (t *Tensor) To(dt DType) *Tensor {
	if !dt.Valid() {
		fail("to", ErrDType, "invalid dtype %v", dt)
	}
	if t.DType() == dt {
		return t
	}
	out := emptyLike("to", t, dt)
	t.be().Copy(out.view(), t.view())
	runtime.KeepAlive(t)
	if dt.IsFloat() && needsGrad(t) {
		record(opTo, t.DType(), []*Tensor{t}, []*Tensor{out})
	}
	return out
}

// ToDevice copies t to device d; it returns t itself when t is on d. It
// panics with an ErrDevice error if d has no backend or cannot be opened.
func (t *Tensor) ToDevice(d Device) *Tensor {
	if t.Device() == d {
		return t
	}
	raw := t.bytes()
	out := empty("to_device", d, t.DType(), t.shape)
	if err := out.be().Upload(out.st.buf, raw); err != nil {
		fail("to_device", ErrDevice, "%v", err)
	}
	if needsGrad(t) {
		record(opToDevice, t.Device(), []*Tensor{t}, []*Tensor{out})
	}
	return out
}

func (t *Tensor) normDim(op string, d int) int {
	n := t.Dim()
	if n == 0 {
		fail(op, ErrIndex, "dim %d given for a 0-d tensor, which has no dims", d)
	}
	if d < -n || d >= n {
		fail(op, ErrIndex, "dim %d out of range for a %d-d tensor of shape %v", d, n, t.shape)
	}
	if d < 0 {
		d += n
	}
	return d
}

// scalarDim checks a dim given to an op on a 0-d tensor: as in torch,
// ops that reduce or scan along a dim accept 0 and -1 there.
func scalarDim(op string, d int) {
	if d != 0 && d != -1 {
		fail(op, ErrIndex, "dim %d out of range for a 0-d tensor (use 0 or -1)", d)
	}
}

func sameDevice(op string, ts ...*Tensor) {
	for _, o := range ts[1:] {
		if o.Device() != ts[0].Device() {
			fail(op, ErrDevice, "tensors on %v and %v", ts[0].Device(), o.Device())
		}
	}
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// GoString is a short description for debugging: dtype, shape, device.
func (t *Tensor) GoString() string {
	return fmt.Sprintf("tensor.Tensor{%v %v %v}", t.DType(), t.shape, t.Device())
}
