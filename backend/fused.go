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

// GroupNormer runs group normalization's forward (tensor.GroupNorm) in
// one call, its per-channel affine included.
type GroupNormer interface {
	// GroupNorm normalizes x, a contiguous [N, C, *] whose C channels
	// split into groups of C/groups: each group of each sample is a row
	// of n = (C/groups)·(elements per channel), normalized as
	// LayerNormer's rows are, with its mean μ and r = 1/√(σ² + eps) in
	// mean and rstd ([N·groups], contiguous). Then each channel c takes
	// its own affine: y = (x − μ)·r·w[c] + b[c]. w and b are contiguous
	// [C], or views without storage for none; y is contiguous like x and
	// overlaps no input.
	GroupNorm(y, mean, rstd, x, w, b View, groups int, eps float64)
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

// ReLUBackwarder computes the gradient of ReLU in one call; without it
// package tensor composes the same select with Where.
type ReLUBackwarder interface {
	// ReLUBackward sets dst = (y ≤ 0 ? 0 : g) per element, as torch's
	// threshold_backward selects: 0 where y ≤ 0 whatever g is (an
	// infinite or NaN g included), and g where y > 0 or y is NaN. y is
	// ReLU's output (or its input: they are positive at the same places).
	// The three views are contiguous, of one float DType and one shape;
	// dst may be g itself (the same storage and offset) but overlaps y
	// not at all.
	ReLUBackward(dst, g, y View)
}

// ActivationBackwarder computes the gradient of an activation in one
// call; without it package tensor composes the same values from other
// ops.
type ActivationBackwarder interface {
	// ActivationBackward sets dst = g·f′(x) per element for the unary op
	// with scalars p at its input x (its output, for Sigmoid and Tanh),
	// and reports true; or reports false,
	// writing nothing, for an op it has no kernel for. The values at the
	// kinks are torch's:
	//   - Hardsigmoid: g/6 strictly inside (−3, 3), else 0 (a NaN x too);
	//   - Hardswish: 0 below −3, g·(x/3 + ½) on [−3, 3], g above 3 and
	//     at a NaN x;
	//   - LeakyReLU: g for x > 0, else g·p.A;
	//   - ELU: g·p.B for x > 0, else g·p.A·p.B·eˣ;
	//   - SiLU: g·σ(x)·(1 + x·(1 − σ(x)));
	//   - GELU: g·(Φ(x) + x·φ(x)), the exact (erf) form;
	//   - GELUTanh: g·(½·(1 + t) + ½·x·(1 − t²)·β·(1 + 3κ·x²)) with
	//     t = tanh(β·(x + κ·x³)), β = √(2/π), κ = 0.044715 (torch's
	//     gelu_backward with approximate="tanh"), NaN at ±Inf as there;
	//   - Sigmoid and Tanh: x is the op's output y, which their gradients
	//     are computed from: g·(1 − y)·y and g·(1 − y²), rounded in that
	//     order as torch's sigmoid_backward and tanh_backward.
	// The three views are contiguous, of one float DType and one shape;
	// dst may be g itself but overlaps x not at all.
	ActivationBackward(op UnaryOp, dst, g, x View, p Scalars) bool
}

// CrossEntropier computes the cross entropy of logits against class
// indices, and its gradient, in one pass over each row
// (tensor.FusedCrossEntropy); without it callers compose log-softmax and
// a gather. It returns a number to the host, so it suits backends whose
// memory the host reads directly.
type CrossEntropier interface {
	// CrossEntropy reads logits x, a contiguous [N, C] of a float DType,
	// and target, a contiguous Int64 [N]. For each row i whose target t
	// is not ignore it sets lse[i] = log Σ_c exp(x[i, c]) (lse is a
	// contiguous [N] of x's DType) and adds lse[i] − x[i, t] to sum;
	// kept counts those rows. An ignored row gets lse[i] = 0. A target
	// outside [0, C) that is not ignore is an error wrapping ErrIndex,
	// "target T is out of bounds for C classes: " and ErrIndex's text
	// (the outputs are then unspecified).
	CrossEntropy(lse, x, target View, ignore int64) (sum float64, kept int, err error)
	// CrossEntropyBackward writes dx (contiguous, like x) for rows not
	// ignored as dx[i, c] = scale·(exp(x[i, c] − lse[i]) − [c = t_i]),
	// the softmax less the one-hot target, and 0 for ignored rows. x,
	// lse and target are as CrossEntropy read and wrote them; targets
	// are known to be in range.
	CrossEntropyBackward(dx, x, lse, target View, ignore int64, scale float64)
}

// BiasMatMuler computes a product plus a bias broadcast down its rows in
// one call (torch's addmm with a 1-d bias: a Linear layer's forward), so
// the bias costs no pass of its own over the output; without it package
// tensor runs MatMul and adds the bias with Binary.
type BiasMatMuler interface {
	// MatMulBias sets dst[b] = a[b]·b[b] + bias for every batch b.
	// dst, a and b are as in MatMul (3-d [batch, rows, cols] views of one
	// float DType); bias is a 1-d view [N] of that DType, N being dst's
	// column count, with any stride. The bias may be added before the
	// product's terms or after them, so the result can differ from
	// MatMul then Add in the last bit.
	MatMulBias(dst, a, b, bias View)
}

// LinearInterpolater is the pair of kernels behind tensor.InterpolateLinear
// (F.Interpolate's linear modes) that a backend may have (the CPU's
// does): InterpolateLinear writes a contiguous [N, C, O…] from an
// [N, C, S…] of any strides, and InterpolateLinearBackward is its adjoint. Along spatial dim d, output
// index o blends input indices index[d][2o] and index[d][2o+1] with
// weights weight[d][2o] and weight[d][2o+1], the last dim first, each
// blend rounded as Mul, Mul and Add round it.
type LinearInterpolater interface {
	InterpolateLinear(dst, src View, index [][]int, weight [][]float64)
	InterpolateLinearBackward(dst, g View, index [][]int, weight [][]float64)
}
