package backend

import (
	"errors"
	"fmt"
	"sync"
)

// Storage is a flat buffer of elements of one DType on one device, owned
// by the backend that allocated it.
type Storage interface {
	DType() DType
	Len() int // in elements
	Device() Device
}

// View is a kernel operand: a storage seen through a layout.
type View struct {
	Storage Storage
	Layout
}

// DType is the element type of the view's storage.
func (v View) DType() DType { return v.Storage.DType() }

// ErrOutOfMemory is wrapped by errors from Alloc when a device is full.
var ErrOutOfMemory = errors.New("out of memory")

// ErrIndex is wrapped by kernel errors for an index out of range.
var ErrIndex = errors.New("index out of range")

// Backend runs kernels on one device.
//
// Unless a method says otherwise, every operand has the same shape and the
// same DType, outputs do not overlap inputs except where the method allows
// it, and a method panics only on a bug in its caller (mismatched shapes,
// wrong dtypes); errors that depend on the data (an index out of range)
// are returned.
type Backend interface {
	// Device is the device this backend runs on.
	Device() Device
	// Name is a short description for messages, e.g. "cpu (pure Go)".
	Name() string

	// Alloc returns storage for n elements. Contents are unspecified.
	Alloc(dt DType, n int) (Storage, error)
	// Release hands storage back for reuse. The caller guarantees that
	// nothing reads or writes it afterwards.
	Release(s Storage)
	// Sync waits for all queued work and reports an asynchronous error.
	Sync() error

	// Upload copies raw little-endian element bytes from the host into
	// s, starting at element 0.
	Upload(s Storage, src []byte) error
	// Download copies the elements of v, in row-major order, to dst as
	// raw bytes; len(dst) = v.Numel()·dtype size.
	Download(dst []byte, v View) error

	// Fill sets every element of dst to v, converted to dst's type.
	Fill(dst View, v float64)
	// Copy writes src into dst, converting between any two DTypes
	// (float→int truncates toward zero, x→Bool is x≠0). dst may be
	// strided; it must not overlap src unless they are identical.
	Copy(dst, src View)

	// Unary applies op elementwise: dst[i] = op(src[i]; p). dst and src
	// have the same DType (float types for the transcendental ops).
	// dst may alias src exactly (in-place).
	Unary(op UnaryOp, dst, src View, p Scalars)
	// Binary applies op elementwise. a and b have one DType; dst has it
	// too, or Bool for comparisons. Broadcasting is expressed with
	// stride-0 dims. dst may alias a or b exactly (in-place).
	Binary(op BinaryOp, dst, a, b View)
	// Where sets dst[i] = a[i] if cond[i] else b[i]; cond is Bool.
	Where(dst, cond, a, b View)

	// Reduce reduces src over every dim where dst has size 1 and src
	// does not; dst keeps the reduced dims with size 1. Sum and Mean of
	// Float32 accumulate in float64; integer sums take Int64 src and dst.
	// Mean is defined for floating types only.
	Reduce(op ReduceOp, dst, src View)
	// ArgReduce finds the first maximum (ArgMax) or minimum (ArgMin)
	// along dim, NaN counting as the extreme. values has src's DType, or
	// a nil Storage to skip it; indices is Int64. Both have src's shape
	// with size 1 at dim.
	ArgReduce(op ArgOp, values, indices, src View, dim int)
	// Softmax writes softmax (or log-softmax) of src along dim.
	Softmax(dst, src View, dim int, log bool)
	// CumSum writes the inclusive cumulative sum along dim.
	CumSum(dst, src View, dim int)

	// MatMul computes dst[b] = a[b]·b[b] for 3-d operands of shapes
	// [B,M,K], [B,K,N], [B,M,N]; any strides (a transposed operand is a
	// stride swap; a broadcast batch is stride 0). dst is not aliased.
	MatMul(dst, a, b View)

	// IndexSelect: dst.select(dim, i) = src.select(dim, index[i]).
	// index is 1-d Int64.
	IndexSelect(dst, src View, dim int, index View) error
	// IndexAdd: dst.select(dim, index[i]) += src.select(dim, i), in place.
	IndexAdd(dst View, dim int, index, src View) error
	// Gather: dst[…i_dim…] = src[…index[…i_dim…]…]; dst and index
	// share a shape; index is Int64.
	Gather(dst, src View, dim int, index View) error
	// ScatterAdd: dst[…index[p]…] += src[p] for every position p of
	// index, in place; src is at least as large as index in every dim.
	ScatterAdd(dst View, dim int, index, src View) error

	// Unfold (im2col) copies the sliding windows of src, [N, C, S…] with
	// len(w.Kernel) spatial dims S (any strides), into dst, a contiguous
	// [N, C·K, L] with K = w.KernelSize() and L = ∏ w.OutSize(d, S[d]):
	// dst[n, c·K + k, l] is the element of src under tap k (row-major
	// over the kernel) of window position l (row-major over the output
	// grid), or 0 where that tap lies in the padding. Float types only.
	Unfold(dst, src View, w Window)
	// Fold (col2im) is Unfold's adjoint: it sets dst, a contiguous
	// [N, C, S…], to the sum of the elements of src, [N, C·K, L] (any
	// strides), over the places Unfold would have copied them from;
	// elements whose tap lies in the padding are dropped. Float types only.
	Fold(dst, src View, w Window)
	// MaxPool sets values[n, c, o…] to the largest element of src,
	// [N, C, S…] (any strides), among the taps of window position o that
	// lie inside src (taps in the padding are skipped; the first maximum
	// wins a tie; a NaN wins over numbers), and indices[n, c, o…] to that
	// element's row-major position within the spatial dims S. values
	// (src's DType) and indices (Int64) are contiguous [N, C, O…]; the
	// caller chooses O so that every window holds a tap inside src.
	// Float types only.
	MaxPool(values, indices, src View, w Window)

	// Random fills dst (contiguous, Float32, Float64 or Int64) with draws
	// described by spec.
	Random(dst View, spec RandomSpec)
}

// Scalars carries the constant arguments of a unary op (the scalar of
// AddScalar, the bounds of Clamp, …); which fields an op reads is stated
// on the op.
type Scalars struct{ A, B float64 }

var (
	regMu    sync.RWMutex
	registry = map[DeviceType]func(index int) (Backend, error){}
)

// Register makes a device kind available. open returns the backend of
// device index, or an error if the device cannot be opened; it is called
// on each use of Open and should cache. Register panics if the kind is
// registered twice.
func Register(t DeviceType, open func(index int) (Backend, error)) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[t]; dup {
		panic("backend: Register called twice for " + t.String())
	}
	registry[t] = open
}

// Open returns the backend for d, or an error if no backend for its kind is
// registered or the device cannot be opened.
func Open(d Device) (Backend, error) {
	regMu.RLock()
	open := registry[d.Type]
	regMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("backend: no backend registered for %s (import its package, e.g. github.com/tapir-ml/tapir/backend/cuda)", d.Type)
	}
	return open(d.Index)
}

// Convolver is an optional interface of a Backend: convolution kernels
// that never hold the whole column matrix (Unfold of a batch) in memory.
// Package tensor uses it where a backend has it and otherwise runs the
// same products as Unfold, MatMul and Fold, which define the results:
// with K = w.KernelSize(), G groups, Ci = C/G input and Co = Cout/G
// output channels per group, and cols = Unfold(src) seen as
// [N, G, Ci·K, L],
//
//	ConvForward:        dst[n, g·Co + o, l]  = Σ_r weight[g·Co + o, r] · cols[n, g, r, l]
//	ConvBackwardInput:  dst = Fold(cols') with cols'[n, g, r, l] = Σ_o weight[g·Co + o, r] · dy[n, g·Co + o, l]
//	ConvBackwardWeight: dst[g·Co + o, r] = Σ_n Σ_l dy[n, g·Co + o, l] · cols[n, g, r, l]
//
// weight and dst of ConvBackwardWeight are [Cout, Ci·K], dy and dst of
// ConvForward are [N, Cout, L], src and dst of ConvBackwardInput are
// [N, C, S…]. Inputs may have any strides, outputs are contiguous and
// overwritten. Float types only; the sums may be taken in any order.
type Convolver interface {
	ConvForward(dst, src, weight View, w Window, groups int)
	ConvBackwardInput(dst, dy, weight View, w Window, groups int)
	ConvBackwardWeight(dst, dy, src View, w Window, groups int)
}
