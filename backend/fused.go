package backend

// Optional interfaces of a [Backend] for fused kernels: one call doing what
// package tensor would otherwise compose from several Unary, Binary and
// Reduce calls. Package tensor finds each with a type assertion and
// composes the op from the required methods when a backend lacks it, so
// implementing them is never needed for correctness; the composed ops are
// also their test oracle. Like Backend methods they panic only on a bug in
// their caller (shapes or DTypes that do not fit). [Convolver] and
// [FusedOptimizer] are optional interfaces of the same kind.

// LSTMCeller runs one time step of an LSTM cell's elementwise work, the
// part of tensor.FusedLSTM between the products. Every operand is a 2-d
// view [B, n] whose rows are contiguous (unit stride in the last dim; any
// row stride and offset), of one float DType. Gates are laid out as in
// torch's weights: i, f, g, o, each H wide.
type LSTMCeller interface {
	// LSTMCell computes one step from the pre-activation gates gx + hh
	// ([B, 4H] each): acts = σ, σ, tanh, σ of them (i, f, g, o),
	// c = f⊙cPrev + i⊙g and h = o⊙tanh(c) ([B, H]). acts is kept for
	// LSTMCellBackward. Outputs do not overlap inputs.
	LSTMCell(acts, c, h, gx, hh, cPrev View)
	// LSTMCellBackward is LSTMCell's backward for one step. With
	// dh = dout + dhRec the gradient of the step's h ([B, H]) and dc that
	// of its c from the steps after it, it writes the gradient of the
	// pre-activation gates, dgates [B, 4H], and that of cPrev, dcPrev
	// [B, H]:
	//
	//	dc' = dc + dh⊙o⊙(1 − tanh²c)
	//	di = dc'⊙g⊙i(1−i), df = dc'⊙cPrev⊙f(1−f), dg = dc'⊙i⊙(1−g²),
	//	do = dh⊙tanh(c)⊙o(1−o), dcPrev = dc'⊙f
	//
	// acts and c are LSTMCell's outputs for the step. dcPrev may alias dc
	// exactly; no other outputs overlap inputs.
	LSTMCellBackward(dgates, dcPrev, acts, c, cPrev, dout, dhRec, dc View)
}

// SoftmaxBackwarder computes the gradient of a softmax in one pass per row.
type SoftmaxBackwarder interface {
	// SoftmaxBackward writes the gradient of softmax (or, with log, of
	// log-softmax) along the last dim: with y the forward's output and g
	// the gradient of y, dst = y⊙(g − Σ g⊙y) for softmax and
	// dst = g − exp(y)·Σ g for log-softmax, the sums over each row. The
	// three operands are contiguous, of one float DType, and share a
	// shape; dst overlaps neither input.
	SoftmaxBackward(dst, y, g View, log bool)
}

// LayerNormer runs layer normalization (tensor.LayerNorm) and its input
// gradient in one pass each over rows of n elements.
type LayerNormer interface {
	// LayerNorm normalizes each row of x, a contiguous [rows, n] (any
	// shape whose last dims multiply to n), over its n elements: with μ
	// the row's mean and r = 1/√(σ² + eps) for its biased variance σ², it
	// sets y = (x − μ)·r·w + b, mean[row] = μ and rstd[row] = r. w and b
	// are contiguous [n], or views without storage for none; y, mean and
	// rstd are contiguous.
	LayerNorm(y, mean, rstd, x, w, b View, eps float64)
	// LayerNormBackward is LayerNorm's gradient for the gradient g of y
	// (both contiguous like x): with x̂ = (x − μ)·r and ĝ = g·w (g without
	// w),
	//
	//	dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))
	//
	// per row, and gxhat = g·x̂, whose sum over the rows is w's gradient;
	// gxhat may be a view without storage when that is not needed.
	LayerNormBackward(dx, gxhat, g, x, mean, rstd, w View)
}

// MaxPoolBackwarder computes max pooling's input gradient in one pass.
type MaxPoolBackwarder interface {
	// MaxPoolBackward sets dst, contiguous and shaped like the pool's
	// input ([N, C, spatial…]), to the output gradient g added at the
	// positions that indices (Int64, g's shape, as MaxPool writes them)
	// name within each [N, C] plane, and 0 elsewhere: ScatterAdd of g
	// into zeros along the flattened plane, with the same sums in the
	// same order. g and indices are contiguous; dst is a float DType. An
	// index outside its plane is an error wrapping ErrIndex, with dst's
	// contents unspecified.
	MaxPoolBackward(dst, g, indices View) error
}
