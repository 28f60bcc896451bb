package ops

import (
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

// sink keeps results alive so the compiler cannot drop the work.
var sink *tensor.Tensor

// opCase is one forward op of BenchmarkOps: its name (the same in
// ops_torch.py) and a function that runs it once on inputs made by setup.
type opCase struct {
	name string
	run  func() *tensor.Tensor
}

// opCases are the ops of BenchmarkOps on their inputs, made once, with
// the shapes ops_torch.py uses.
func opCases() []opCase {
	tensor.ManualSeed(1)
	n := 1 << 20
	x := tensor.Randn(n)
	pos := x.Abs().AddScalar(0.1)
	y := tensor.Randn(n)
	u := tensor.Rand(n)
	cond := x.GtScalar(0)
	zero, one := tensor.Scalar(0), tensor.Scalar(1)
	s1k := tensor.Randn(1024, 1024)
	s128 := tensor.Randn(128, 10)
	img := tensor.Randn(8, 64, 56, 56)
	big := tensor.Randn(8, 64, 112, 112)
	seq := tensor.Randn(16, 128, 256)
	w256, b256 := tensor.Randn(256), tensor.Randn(256)
	w64, b64 := tensor.Randn(64), tensor.Randn(64)
	emb, idx := tensor.Randn(30000, 256), tensor.RandInt(0, 30000, 32, 128)
	q, k, v := tensor.Randn(16, 4, 128, 64), tensor.Randn(16, 4, 128, 64), tensor.Randn(16, 4, 128, 64)
	x1, w1 := tensor.Randn(32, 64, 1000), tensor.Randn(64, 64, 3)
	xt, wt := tensor.Randn(8, 64, 28, 28), tensor.Randn(64, 32, 4, 4)
	logits, labels := tensor.Randn(4096, 1000), tensor.RandInt(0, 1000, 4096)
	img28, img7 := tensor.Randn(8, 64, 28, 28), tensor.Randn(8, 64, 7, 7)
	pool := F.PoolOptions{Stride: []int{2}, Padding: []int{1}}
	return []opCase{
		{"abs", func() *tensor.Tensor { return x.Abs() }},
		{"exp", func() *tensor.Tensor { return x.Exp() }},
		{"log", func() *tensor.Tensor { return pos.Log() }},
		{"log1p", func() *tensor.Tensor { return pos.Log1p() }},
		{"sin", func() *tensor.Tensor { return x.Sin() }},
		{"cos", func() *tensor.Tensor { return x.Cos() }},
		{"tanh", func() *tensor.Tensor { return x.Tanh() }},
		{"sigmoid", func() *tensor.Tensor { return x.Sigmoid() }},
		{"erf", func() *tensor.Tensor { return x.Erf() }},
		{"sqrt", func() *tensor.Tensor { return pos.Sqrt() }},
		{"rsqrt", func() *tensor.Tensor { return pos.Rsqrt() }},
		{"floor", func() *tensor.Tensor { return x.Floor() }},
		{"clamp", func() *tensor.Tensor { return x.Clamp(-0.5, 0.5) }},
		{"pow3", func() *tensor.Tensor { return x.PowScalar(3) }},
		{"pow2.5", func() *tensor.Tensor { return pos.PowScalar(2.5) }},
		{"pow-0.5", func() *tensor.Tensor { return pos.PowScalar(-0.5) }},
		{"gt", func() *tensor.Tensor { return x.Gt(y) }},
		{"where", func() *tensor.Tensor { return tensor.Where(cond, x, y) }},
		{"where_scalar", func() *tensor.Tensor { return tensor.Where(cond, x, zero) }},
		{"logical_and", func() *tensor.Tensor { return cond.LogicalAnd(cond) }},
		{"softplus", func() *tensor.Tensor { return x.Softplus() }},
		{"silu", func() *tensor.Tensor { return x.SiLU() }},
		{"gelu", func() *tensor.Tensor { return x.GELU() }},
		{"gelu_tanh", func() *tensor.Tensor { return F.GELU(x, "tanh") }},
		{"elu", func() *tensor.Tensor { return F.ELU(x, 1) }},
		{"selu", func() *tensor.Tensor { return F.SELU(x) }},
		{"mish", func() *tensor.Tensor { return F.Mish(x) }},
		{"hardsigmoid", func() *tensor.Tensor { return F.Hardsigmoid(x) }},
		{"hardswish", func() *tensor.Tensor { return F.Hardswish(x) }},
		{"logsigmoid", func() *tensor.Tensor { return F.LogSigmoid(x) }},
		{"sum0_128x10", func() *tensor.Tensor { return s128.Sum(0) }},
		{"sum0_1k", func() *tensor.Tensor { return s1k.Sum(0) }},
		{"sum1_1k", func() *tensor.Tensor { return s1k.Sum(1) }},
		{"mean0_1k", func() *tensor.Tensor { return s1k.Mean(0) }},
		{"var1_1k", func() *tensor.Tensor { return s1k.Var(1) }},
		{"max1_1k", func() *tensor.Tensor { m, _ := s1k.Max(1); return m }},
		{"argmax1_1k", func() *tensor.Tensor { return s1k.ArgMax(1) }},
		{"cumsum1_1k", func() *tensor.Tensor { return s1k.CumSum(1) }},
		{"softmax1_1k", func() *tensor.Tensor { return s1k.Softmax(1) }},
		{"log_softmax1_1k", func() *tensor.Tensor { return s1k.LogSoftmax(1) }},
		{"layer_norm", func() *tensor.Tensor { return F.LayerNorm(seq, []int{256}, w256, b256, 1e-5) }},
		{"group_norm", func() *tensor.Tensor { return F.GroupNorm(img, 8, w64, b64, 1e-5) }},
		{"max_pool3s2", func() *tensor.Tensor { return F.MaxPool2d(big, []int{3}, pool) }},
		{"avg_pool2", func() *tensor.Tensor { return F.AvgPool2d(img, []int{2}) }},
		{"adaptive_avg7", func() *tensor.Tensor { return F.AdaptiveAvgPool2d(img, 7, 7) }},
		{"interp_nearest2x", func() *tensor.Tensor {
			return F.Interpolate(img, F.InterpolateOptions{ScaleFactor: []float64{2}})
		}},
		{"interp_bilinear2x", func() *tensor.Tensor {
			return F.Interpolate(img, F.InterpolateOptions{ScaleFactor: []float64{2}, Mode: "bilinear"})
		}},
		{"pad_constant", func() *tensor.Tensor { return F.Pad(img, []int{1, 1, 1, 1}, "constant", 0) }},
		{"pad_reflect", func() *tensor.Tensor { return F.Pad(img, []int{1, 1, 1, 1}, "reflect", 0) }},
		{"embedding", func() *tensor.Tensor { return F.Embedding(idx, emb) }},
		{"sdpa", func() *tensor.Tensor { return F.ScaledDotProductAttention(q, k, v) }},
		{"conv1d", func() *tensor.Tensor { return F.Conv1d(x1, w1, nil, F.ConvOptions{Padding: []int{1}}) }},
		{"conv_transpose2d", func() *tensor.Tensor {
			return F.ConvTranspose2d(xt, wt, nil, F.ConvTransposeOptions{Stride: []int{2}, Padding: []int{1}})
		}},
		{"cross_entropy", func() *tensor.Tensor { return F.CrossEntropy(logits, labels) }},
		{"bce_with_logits", func() *tensor.Tensor { return F.BCEWithLogits(x, u) }},
		{"mse", func() *tensor.Tensor { return F.MSELoss(x, u) }},
		// forward and backward of the activations, on a fresh leaf each call
		{"relu_fb", fwdBwd(x, y, F.ReLU)},
		{"gelu_fb", fwdBwd(x, y, func(x *tensor.Tensor) *tensor.Tensor { return F.GELU(x, "") })},
		{"gelu_tanh_fb", fwdBwd(x, y, func(x *tensor.Tensor) *tensor.Tensor { return F.GELU(x, "tanh") })},
		{"silu_fb", fwdBwd(x, y, F.SiLU)},
		{"tanh_fb", fwdBwd(x, y, F.Tanh)},
		{"sigmoid_fb", fwdBwd(x, y, F.Sigmoid)},
		{"leaky_relu_fb", fwdBwd(x, y, func(x *tensor.Tensor) *tensor.Tensor { return F.LeakyReLU(x, 0.01) })},
		{"elu_fb", fwdBwd(x, y, func(x *tensor.Tensor) *tensor.Tensor { return F.ELU(x, 1) })},
		{"hardswish_fb", fwdBwd(x, y, F.Hardswish)},
		{"hardsigmoid_fb", fwdBwd(x, y, F.Hardsigmoid)},
		// the mean squared error forward and backward, the gradient of
		// the input only (the target needs none), from a 0-d 1
		{"mse_fb", fwdBwd(x, one, func(x *tensor.Tensor) *tensor.Tensor { return F.MSELoss(x, u) })},
		// bilinear upsampling forward and backward, the output gradient
		// big (of the output's shape)
		{"interp_bilinear2x_fb", fwdBwd(img, big, func(x *tensor.Tensor) *tensor.Tensor {
			return F.Interpolate(x, F.InterpolateOptions{ScaleFactor: []float64{2}, Mode: "bilinear"})
		})},
		// average pooling forward and backward, the output gradients of
		// the outputs' shapes
		{"avg_pool2_fb", fwdBwd(img, img28, func(x *tensor.Tensor) *tensor.Tensor { return F.AvgPool2d(x, []int{2}) })},
		{"adaptive_avg7_fb", fwdBwd(img, img7, func(x *tensor.Tensor) *tensor.Tensor { return F.AdaptiveAvgPool2d(x, 7, 7) })},
		// nearest upsampling forward and backward, the output gradient big
		{"interp_nearest2x_fb", fwdBwd(img, big, func(x *tensor.Tensor) *tensor.Tensor {
			return F.Interpolate(x, F.InterpolateOptions{ScaleFactor: []float64{2}})
		})},
	}
}

// fwdBwd is a case that runs f forward on a leaf over x's values and
// back with the output gradient g (of f's output shape), returning the
// leaf's gradient.
func fwdBwd(x, g *tensor.Tensor, f func(*tensor.Tensor) *tensor.Tensor) func() *tensor.Tensor {
	return func() *tensor.Tensor {
		l := x.Detach().SetRequiresGrad(true)
		f(l).BackwardWith(g)
		return l.Grad()
	}
}

// BenchmarkOps times single forward ops, no gradient (and, in the cases
// named *_fb, an op's forward and backward), each allocating its
// result as a user's call does, on inputs of a million elements or
// the layer shapes of ops_torch.py, which times the same ops in PyTorch
// (float32, as set by the environment's thread count). It is a survey for
// finding the ops that fall far behind PyTorch; run both at one thread:
//
//	go test -run '^$' -bench Ops -cpu 1 -count 3 ./bench/ops > /tmp/ops.txt
//	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX \
//	  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/ops/ops_torch.py --go /tmp/ops.txt
func BenchmarkOps(b *testing.B) {
	for _, c := range opCases() {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				sink = c.run()
			}
		})
	}
}

// TestOpCasesRun checks that every case of BenchmarkOps runs and yields
// a non-empty result.
func TestOpCasesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("makes about 120 MB of inputs")
	}
	for _, c := range opCases() {
		if r := c.run(); r == nil || r.Numel() == 0 {
			t.Errorf("%s: empty result", c.name)
		}
	}
}
