package backend

import "fmt"

// DType is the element type of a tensor.
type DType uint8

// The element types. Float32 is the default for floating-point data and
// Int64 for integer data, as in PyTorch.
const (
	Float32 DType = iota
	Float64
	Float16
	BFloat16
	Int64
	Int32
	Uint8
	Bool
	numDTypes
)

var dtypeInfo = [numDTypes]struct {
	name  string
	torch string
	size  int
}{
	Float32:  {"float32", "torch.float32", 4},
	Float64:  {"float64", "torch.float64", 8},
	Float16:  {"float16", "torch.float16", 2},
	BFloat16: {"bfloat16", "torch.bfloat16", 2},
	Int64:    {"int64", "torch.int64", 8},
	Int32:    {"int32", "torch.int32", 4},
	Uint8:    {"uint8", "torch.uint8", 1},
	Bool:     {"bool", "torch.bool", 1},
}

// Valid reports whether d is one of the defined element types.
func (d DType) Valid() bool { return d < numDTypes }

// Size is the number of bytes of one element.
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypeInfo[d].size
}

// String is the lower-case name, e.g. "float32".
func (d DType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("DType(%d)", uint8(d))
	}
	return dtypeInfo[d].name
}

// TorchName is PyTorch's name for the type, e.g. "torch.float32".
func (d DType) TorchName() string {
	if !d.Valid() {
		return d.String()
	}
	return dtypeInfo[d].torch
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool { return d == Float32 || d == Float64 || d == Float16 || d == BFloat16 }

// IsHalf reports whether d is one of the 16-bit floating-point types, which
// are stored and converted but computed in float32.
func (d DType) IsHalf() bool { return d == Float16 || d == BFloat16 }

// IsInt reports whether d is an integer type (Bool excluded).
func (d DType) IsInt() bool { return d == Int64 || d == Int32 || d == Uint8 }

// DTypes lists every element type, in declaration order.
func DTypes() []DType {
	out := make([]DType, numDTypes)
	for i := range out {
		out[i] = DType(i)
	}
	return out
}
