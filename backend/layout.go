package backend

// Layout maps a multi-index to a position in a storage: element (i0, i1, …)
// lives at Offset + Σ ik·Strides[k]. Strides are in elements, and may be 0
// (broadcast). They are never negative, except in the source operand of
// Backend.Copy, where a negative stride walks a dim backwards (Flip).
type Layout struct {
	Shape   []int
	Strides []int
	Offset  int
}

// Contiguous returns the row-major layout of shape at offset 0. The shape
// slice is copied.
func Contiguous(shape []int) Layout {
	sh := append([]int(nil), shape...)
	return Layout{Shape: sh, Strides: ContiguousStrides(sh)}
}

// ContiguousStrides returns row-major strides for shape.
func ContiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		if shape[i] > 1 {
			s *= shape[i]
		}
	}
	return st
}

// Numel is the number of elements (1 for a 0-d layout).
func (l Layout) Numel() int { return Numel(l.Shape) }

// Numel is the product of shape's entries (1 for an empty shape).
func Numel(shape []int) int {
	n := 1
	for _, s := range shape {
		n *= s
	}
	return n
}

// IsContiguous reports whether the layout is row-major and dense: every
// element at Offset+i for i in [0, Numel). Strides of size-1 dims are
// ignored, as PyTorch does.
func (l Layout) IsContiguous() bool { return IsContiguousStrides(l.Shape, l.Strides) }

// IsContiguousStrides is Layout.IsContiguous of a shape and its strides,
// for callers that hold them apart: copying them into a Layout value
// first costs a trip through the stack on every call.
func IsContiguousStrides(shape, strides []int) bool {
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] == 1 {
			continue
		}
		if strides[i] != s {
			return Numel(shape) == 0
		}
		s *= shape[i]
	}
	return true
}

// Span returns the smallest and one past the largest storage index the
// layout touches (for non-negative strides); for an empty layout both are
// Offset.
func (l Layout) Span() (lo, hi int) {
	if l.Numel() == 0 {
		return l.Offset, l.Offset
	}
	hi = l.Offset
	for i, s := range l.Shape {
		hi += (s - 1) * l.Strides[i]
	}
	return l.Offset, hi + 1
}
