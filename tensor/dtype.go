package tensor

import "github.com/tapir-ml/tapir/backend"

// DType is the element type of a tensor; see package backend for its
// methods.
type DType = backend.DType

// The element types. Float16 and BFloat16 are stored in 16 bits and
// computed in float32, as PyTorch's CPU kernels do.
const (
	Float32  = backend.Float32
	Float64  = backend.Float64
	Float16  = backend.Float16
	BFloat16 = backend.BFloat16
	Int64    = backend.Int64
	Int32    = backend.Int32
	Uint8    = backend.Uint8
	Bool     = backend.Bool
)

// Device names where a tensor lives.
type Device = backend.Device

// CPU is the host.
var CPU = backend.CPU

// CUDA is the i-th NVIDIA GPU; using it needs the CUDA backend's package
// imported and a GPU present.
func CUDA(i int) Device { return backend.CUDA(i) }

// category orders dtypes for promotion: bool < integer < floating.
func category(d DType) int {
	switch {
	case d == Bool:
		return 0
	case d.IsInt():
		return 1
	}
	return 2
}

// promote is the result type of two dtypes of the same priority class,
// following torch.result_type.
func promote(a, b DType) DType {
	if a == b {
		return a
	}
	ca, cb := category(a), category(b)
	switch {
	case ca > cb:
		return a
	case cb > ca:
		return b
	}
	switch ca {
	case 1: // integers: the wider one; uint8 with a signed type widens
		rank := map[DType]int{Uint8: 0, Int32: 2, Int64: 3}
		if rank[a] > rank[b] {
			return a
		}
		return b
	case 2:
		if a == Float64 || b == Float64 {
			return Float64
		}
		if a == Float32 || b == Float32 {
			return Float32
		}
		return Float32 // float16 with bfloat16
	}
	return a
}

// resultType promotes the operands of an elementwise op the way PyTorch
// does: tensors with dims outrank 0-d tensors, which only win when they are
// of a higher category.
func resultType(ts ...*Tensor) DType {
	var dimT, zeroT DType
	hasDim, hasZero := false, false
	for _, t := range ts {
		if t.Dim() > 0 {
			if !hasDim {
				dimT, hasDim = t.DType(), true
			} else {
				dimT = promote(dimT, t.DType())
			}
		} else {
			if !hasZero {
				zeroT, hasZero = t.DType(), true
			} else {
				zeroT = promote(zeroT, t.DType())
			}
		}
	}
	switch {
	case !hasDim:
		return zeroT
	case !hasZero:
		return dimT
	case category(zeroT) > category(dimT):
		return zeroT
	}
	return dimT
}
