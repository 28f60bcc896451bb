package backend

// UnaryOp is an elementwise operation of one operand.
type UnaryOp uint8

// The unary ops. Those marked (float) are defined on floating-point types
// only; the others on every numeric type.
const (
	Neg         UnaryOp = iota
	Abs                 // |x|
	Sign                // -1, 0 or 1
	Square              // x²
	ReLU                // max(x, 0)
	Exp                 // (float)
	Log                 // (float)
	Log1p               // (float) log(1+x)
	Sqrt                // (float)
	Rsqrt               // (float) 1/√x
	Reciprocal          // (float) 1/x
	Sin                 // (float)
	Cos                 // (float)
	Tanh                // (float)
	Sigmoid             // (float) 1/(1+e⁻ˣ)
	GELU                // (float) x·Φ(x), exact (erf) form
	SiLU                // (float) x·σ(x)
	Softplus            // (float) log(1+e^(A·x))/A, x when A·x > B (torch defaults A=1, B=20)
	Erf                 // (float)
	Floor               // (float)
	Ceil                // (float)
	Round               // (float) half to even
	AddScalar           // x + A
	MulScalar           // x · A
	RSubScalar          // A − x
	DivScalar           // (float) x / A
	RDivScalar          // (float) A / x
	PowScalar           // (float) x^A
	Clamp               // min(max(x, A), B)
	LeakyReLU           // (float) x if x > 0 else A·x
	Hardsigmoid         // (float) min(max(x + 3, 0), 6)/6
	Hardswish           // (float) x·min(max(x + 3, 0), 6)/6
	ELU                 // (float) B·x if x > 0 else A·B·(eˣ − 1): torch's elu with alpha A and scale B
	GELUTanh            // (float) ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))): GELU's tanh approximation
	NumUnaryOps
)

var unaryNames = [NumUnaryOps]string{
	"neg", "abs", "sign", "square", "relu", "exp", "log", "log1p", "sqrt",
	"rsqrt", "reciprocal", "sin", "cos", "tanh", "sigmoid", "gelu", "silu",
	"softplus", "erf", "floor", "ceil", "round", "add_scalar", "mul_scalar",
	"rsub_scalar", "div_scalar", "rdiv_scalar", "pow_scalar", "clamp", "leaky_relu",
	"hardsigmoid", "hardswish", "elu", "gelu_tanh",
}

func (op UnaryOp) String() string {
	if op < NumUnaryOps {
		return unaryNames[op]
	}
	return "unary?"
}

// FloatOnly reports whether op is defined on floating-point types only.
func (op UnaryOp) FloatOnly() bool {
	switch op {
	case Neg, Abs, Sign, Square, ReLU, AddScalar, MulScalar, RSubScalar, Clamp:
		return false
	}
	return true
}

// BinaryOp is an elementwise operation of two operands.
type BinaryOp uint8

// The binary ops. Comparisons write Bool.
const (
	Add BinaryOp = iota
	Sub
	Mul
	Div // float types only (integer division is promoted by package tensor)
	Pow
	Maximum // NaN-propagating
	Minimum // NaN-propagating
	Eq
	Ne
	Lt
	Le
	Gt
	Ge
	NumBinaryOps
)

var binaryNames = [NumBinaryOps]string{"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"}

func (op BinaryOp) String() string {
	if op < NumBinaryOps {
		return binaryNames[op]
	}
	return "binary?"
}

// IsComparison reports whether op writes Bool.
func (op BinaryOp) IsComparison() bool { return op >= Eq && op <= Ge }

// ReduceOp is a reduction.
type ReduceOp uint8

// The reductions. Max and Min propagate NaN.
const (
	ReduceSum ReduceOp = iota
	ReduceMean
	ReduceProd
	ReduceMax
	ReduceMin
)

func (op ReduceOp) String() string {
	return [...]string{"sum", "mean", "prod", "max", "min"}[op]
}

// ArgOp selects ArgReduce's extreme.
type ArgOp uint8

// ArgMax and ArgMin.
const (
	ArgMax ArgOp = iota
	ArgMin
)

// Distribution is what Random draws.
type Distribution uint8

// The distributions.
const (
	Uniform Distribution = iota // [A, B)
	Normal                      // mean A, standard deviation B
	Integer                     // Int64 in [A, B)
)

// RandomSpec describes a draw from the Philox4x32-10 stream keyed by Seed.
// Element i of the (row-major) output uses counter block n = Offset + i/2,
// computed as Philox(counter = {lo32(n), hi32(n), 0, 0}, key = {lo32(Seed),
// hi32(Seed)}): the block's four 32-bit words w0..w3 form two 64-bit numbers
// u0 = w0 | w1<<32 and u1 = w2 | w3<<32, and element i takes u0 if i is
// even, u1 if odd. From a 64-bit number u:
//
//   - Uniform Float32: A + (B−A)·(u>>40)·2⁻²⁴; Float64: A + (B−A)·(u>>11)·2⁻⁵³,
//     computed in float64; a result that rounds to B in the output type
//     becomes the largest value below B, so draws stay in [A, B)
//   - Integer: A + ⌊u·(B−A) / 2⁶⁴⌋
//   - Normal uses both numbers of its block: with v0 = ((u0>>11)+1)·2⁻⁵³
//     and v1 = (u1>>11)·2⁻⁵³, r = √(−2 ln v0); even elements take
//     A + B·r·cos(2πv1), odd ones A + B·r·sin(2πv1).
//
// A draw of n elements consumes ⌈n/2⌉ blocks; the caller advances Offset.
type RandomSpec struct {
	Dist   Distribution
	A, B   float64
	Seed   uint64
	Offset uint64
}

// Blocks is the number of Philox blocks a draw of n elements consumes.
func Blocks(n int) uint64 { return uint64((n + 1) / 2) }

// Window describes the sliding windows of a convolution or a pooling over
// the trailing spatial dims of an [N, C, spatial…] operand. Each slice has
// one entry per spatial dim. Along a dim of input size n, window position
// o covers the input positions o·Stride − Padding + j·Dilation for j in
// [0, Kernel); positions outside [0, n) lie in the padding.
type Window struct {
	Kernel, Stride, Padding, Dilation []int
}

// OutSize is the number of window positions along spatial dim d of an
// input of size n whose taps all lie in the padded input:
// ⌊(n + 2·Padding − Dilation·(Kernel−1) − 1) / Stride⌋ + 1, or 0 when
// the padded input is smaller than one window.
func (w Window) OutSize(d, n int) int {
	span := n + 2*w.Padding[d] - w.Dilation[d]*(w.Kernel[d]-1) - 1
	if span < 0 {
		return 0
	}
	return span/w.Stride[d] + 1
}

// KernelSize is the number of taps of one window, ∏ Kernel.
func (w Window) KernelSize() int { return Numel(w.Kernel) }
