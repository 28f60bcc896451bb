package backend

// AvgPoolDim holds the windows of average pooling along one spatial dim,
// one entry per output index o of the dim: o covers the input indices
// [Start[o], End[o]), with 0 ≤ Start[o] ≤ End[o] ≤ the input's size along
// the dim (padding, which adds zeros, is left out of the range), and
// contributes the factor Divisor[o] to the divisor of its windows. Both
// torch's sliding windows (stride, padding, ceil mode, count_include_pad
// and divisor_override all reduce to ranges and factors) and adaptive
// pooling's bins, which may overlap, take this form.
type AvgPoolDim struct {
	Start, End []int
	Divisor    []float64
}

// AvgPooler runs average pooling and its input gradient in one pass each;
// package tensor finds it with a type assertion (see fused.go) and
// otherwise composes the op from Unfold, Sum and Div, or from MatMul for
// adaptive pooling.
//
// The operands are contiguous views [P, S…] (the input, or its gradient)
// and [P, O…] (the output, or its gradient) of one float DType, P planes
// (N·C) and len(dims) spatial dims, O_d = len(dims[d].Start). The output
// element at (p, o_0, o_1, …) is the sum of the input over the box
// [Start, End) of every dim, divided by the divisor
// Divisor_0[o_0]·Divisor_1[o_1]·…, a product formed in float64 in dim
// order and then rounded to the element type: the sum is divided, not
// multiplied by a reciprocal. The order of each sum is unspecified. An
// empty box sums to 0. Outputs overlap no input.
type AvgPooler interface {
	// AvgPool sets dst, [P, O…], to the window averages of src, [P, S…].
	AvgPool(dst, src View, dims []AvgPoolDim)
	// AvgPoolBackward is AvgPool's adjoint: it sets dst, [P, S…], to the
	// gradient of the input for g, the output gradient [P, O…]: every
	// output element sends g divided by its divisor to each input element
	// of its box, and an input element in no box gets 0.
	AvgPoolBackward(dst, g View, dims []AvgPoolDim)
}
