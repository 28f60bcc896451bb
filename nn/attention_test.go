package nn_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// attnCases returns the cases of attention.json whose names start with
// prefix, failing if there are none (a regenerated file that lost them).
func attnCases(t *testing.T, prefix string) []*layerCase {
	t.Helper()
	var out []*layerCase
	for _, c := range loadLayerCases(t, "attention.json") {
		if strings.HasPrefix(c.Name, prefix) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("attention.json has no %s* cases", prefix)
	}
	return out
}

// attnOptInt reads an optional int from a case's config (0 when absent).
func attnOptInt(c *layerCase, key string) int {
	if _, ok := c.Config[key]; !ok {
		return 0
	}
	return c.cfgInt(key)
}

// TestMultiheadAttentionFixtures checks outputs, attention weights, state
// dict names and order, and every parameter and input gradient against
// torch 1.13's nn.MultiheadAttention (testdata/gen_attention.py):
// self- and cross-attention, Bool and float masks of 2 and 3 dims, key
// padding, kdim/vdim, batch first, unbatched, bias_k/bias_v, zero
// attention, averaged and per-head weights, in float32 and float64.
func TestMultiheadAttentionFixtures(t *testing.T) {
	for _, c := range attnCases(t, "mha_") {
		t.Run(c.Name, func(t *testing.T) {
			m := nn.NewMultiheadAttention(c.cfgInt("embed"), c.cfgInt("heads"), nn.AttentionConfig{
				NoBias:      c.cfgBool("no_bias"),
				AddBiasKV:   c.cfgBool("add_bias_kv"),
				AddZeroAttn: c.cfgBool("add_zero_attn"),
				KDim:        attnOptInt(c, "kdim"),
				VDim:        attnOptInt(c, "vdim"),
				BatchFirst:  c.cfgBool("batch_first"),
			})
			need, avg, self := c.cfgBool("need_weights"), c.cfgBool("average"), c.cfgBool("self_attn")
			runLayerCase(t, c, m, func(in []*tensor.Tensor) []*tensor.Tensor {
				q, k, v := in[0], in[1], in[2]
				if self {
					k, v = q, q
				}
				out, w := m.Forward(q, k, v, nn.MHAOptions{
					KeyPaddingMask: in[3], AttnMask: in[4],
					NoWeights: !need, PerHeadWeights: !avg,
				})
				if !need {
					if w != nil {
						t.Errorf("NoWeights: got weights %v", w.Shape())
					}
					return []*tensor.Tensor{out}
				}
				return []*tensor.Tensor{out, w}
			})
		})
	}
}

// attnSeeded returns a float64 tensor of the given shape from a fixed stream.
func attnSeeded(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.NewGenerator(seed).Normal(tensor.Float64, 0, 1, shape...)
}

func TestMultiheadAttentionInit(t *testing.T) {
	const e, h = 16, 4
	for _, tc := range []struct {
		name string
		cfg  nn.AttentionConfig
		keys []string
	}{
		{"packed", nn.AttentionConfig{}, []string{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}},
		{"separate", nn.AttentionConfig{KDim: 6, VDim: 16}, []string{"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}},
		{"nobias_biaskv", nn.AttentionConfig{NoBias: true, AddBiasKV: true}, []string{"in_proj_weight", "bias_k", "bias_v", "out_proj.weight"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := nn.NewMultiheadAttention(e, h, tc.cfg)
			if got := nn.StateDictKeys(m); !slices.Equal(got, tc.keys) {
				t.Fatalf("keys %v, want %v", got, tc.keys)
			}
			if m.HeadDim != e/h {
				t.Errorf("HeadDim %d, want %d", m.HeadDim, e/h)
			}
			sd := nn.StateDict(m)
			// Xavier-uniform bounds: √(6/(fan_in + fan_out)).
			bound := func(key string) float64 {
				s := sd[key].Shape()
				return math.Sqrt(6 / float64(s[0]+s[1]))
			}
			for _, key := range tc.keys {
				x := sd[key].Float64s()
				lo, hi := slices.Min(x), slices.Max(x)
				switch {
				case strings.HasSuffix(key, "proj_weight"):
					if b := bound(key); lo < -b || hi > b || hi-lo < b {
						t.Errorf("%s in [%g, %g], want spread over ±%g", key, lo, hi, b)
					}
				case key == "out_proj.weight":
					if b := 1 / math.Sqrt(e); lo < -b || hi > b {
						t.Errorf("%s in [%g, %g], want within ±%g", key, lo, hi, b)
					}
				case strings.HasSuffix(key, "bias") && !strings.HasPrefix(key, "bias"):
					if lo != 0 || hi != 0 {
						t.Errorf("%s not zero: [%g, %g]", key, lo, hi)
					}
				case key == "bias_k" || key == "bias_v":
					if !slices.Equal(sd[key].Shape(), []int{1, 1, e}) || hi-lo == 0 {
						t.Errorf("%s: shape %v, range [%g, %g]", key, sd[key].Shape(), lo, hi)
					}
				}
			}
		})
	}

	// The same seed gives the same weights, through the default
	// generator or one given in the config.
	tensor.ManualSeed(3)
	a := nn.NewMultiheadAttention(e, h)
	tensor.ManualSeed(3)
	b := nn.NewMultiheadAttention(e, h)
	c := nn.NewMultiheadAttention(e, h, nn.AttentionConfig{Generator: tensor.NewGenerator(9)})
	d := nn.NewMultiheadAttention(e, h, nn.AttentionConfig{Generator: tensor.NewGenerator(9)})
	for _, k := range nn.StateDictKeys(a) {
		if !slices.Equal(nn.StateDict(a)[k].Float64s(), nn.StateDict(b)[k].Float64s()) ||
			!slices.Equal(nn.StateDict(c)[k].Float64s(), nn.StateDict(d)[k].Float64s()) {
			t.Errorf("%s differs between modules made from the same seed", k)
		}
	}
}

// TestMultiheadAttentionGradCheck checks the gradients of the whole
// layer, masks included, against finite differences in float64.
func TestMultiheadAttentionGradCheck(t *testing.T) {
	const e, h, l, s, n = 4, 2, 3, 4, 2
	for _, tc := range []struct {
		name string
		cfg  nn.AttentionConfig
		opt  func() nn.MHAOptions
	}{
		{"causal_biaskv_zeroattn", nn.AttentionConfig{AddBiasKV: true, AddZeroAttn: true}, func() nn.MHAOptions {
			return nn.MHAOptions{IsCausal: true, PerHeadWeights: true}
		}},
		{"kvdim_kpm_batchfirst", nn.AttentionConfig{KDim: 3, VDim: 5, BatchFirst: true}, func() nn.MHAOptions {
			return nn.MHAOptions{KeyPaddingMask: tensor.FromSlice([]bool{false, false, true, false, false, false, false, true}, n, s)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Generator = tensor.NewGenerator(1)
			m := nn.NewMultiheadAttention(e, h, tc.cfg)
			nn.To(m, tensor.Float64)
			kd, vd := e, e
			if tc.cfg.KDim > 0 {
				kd, vd = tc.cfg.KDim, tc.cfg.VDim
			}
			shape := func(len, d int) []int {
				if tc.cfg.BatchFirst {
					return []int{n, len, d}
				}
				return []int{len, n, d}
			}
			params := nn.Parameters(m)
			in := []*tensor.Tensor{
				attnSeeded(1, shape(l, e)...).SetRequiresGrad(true),
				attnSeeded(2, shape(s, kd)...).SetRequiresGrad(true),
				attnSeeded(3, shape(s, vd)...).SetRequiresGrad(true),
			}
			for _, p := range params {
				in = append(in, p.Tensor)
			}
			wc := attnSeeded(4, 1) // weights the attention weights into the checked scalar
			f := func(x []*tensor.Tensor) *tensor.Tensor {
				for i, p := range params {
					p.Tensor = x[3+i]
				}
				out, w := m.Forward(x[0], x[1], x[2], tc.opt())
				return out.Square().Sum().Add(w.Mul(wc).Sum())
			}
			if err := autograd.GradCheck(f, in); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestMultiheadAttentionCausal checks that IsCausal, a Bool mask true
// above the diagonal and GenerateSquareSubsequentMask agree, and that the
// weights of masked positions are exactly zero.
func TestMultiheadAttentionCausal(t *testing.T) {
	const e, h, l, n = 8, 2, 5, 2
	m := nn.NewMultiheadAttention(e, h, nn.AttentionConfig{Generator: tensor.NewGenerator(5)})
	x := attnSeeded(6, l, n, e).To(tensor.Float32)
	above := make([]bool, l*l)
	for i := range l {
		for j := range l {
			above[i*l+j] = j > i
		}
	}
	outC, wC := m.Forward(x, x, x, nn.MHAOptions{IsCausal: true})
	outB, wB := m.Forward(x, x, x, nn.MHAOptions{AttnMask: tensor.FromSlice(above, l, l)})
	outF, wF := m.Forward(x, x, x, nn.MHAOptions{AttnMask: nn.GenerateSquareSubsequentMask(l)})
	for _, o := range []*tensor.Tensor{outB, outF} {
		if !slices.Equal(o.Float32s(), outC.Float32s()) {
			t.Errorf("outputs differ between IsCausal and an explicit causal mask")
		}
	}
	for _, w := range []*tensor.Tensor{wC, wB, wF} {
		ws := w.Float64s() // [n, l, l]
		for b := range n {
			for i := range l {
				sum := 0.0
				for j := range l {
					v := ws[(b*l+i)*l+j]
					sum += v
					if j > i && v != 0 {
						t.Errorf("weight [%d %d %d] = %g, want 0 above the diagonal", b, i, j, v)
					}
				}
				if math.Abs(sum-1) > 1e-6 {
					t.Errorf("weights of query [%d %d] sum to %g", b, i, sum)
				}
			}
		}
	}
}

func TestGenerateSquareSubsequentMask(t *testing.T) {
	const n = 4
	got := nn.GenerateSquareSubsequentMask(n)
	if got.DType() != tensor.Float32 || !slices.Equal(got.Shape(), []int{n, n}) {
		t.Fatalf("%v %v, want Float32 [%d %d]", got.DType(), got.Shape(), n, n)
	}
	v := got.Float64s()
	for i := range n {
		for j := range n {
			want := 0.0
			if j > i {
				want = math.Inf(-1)
			}
			if v[i*n+j] != want {
				t.Errorf("[%d %d] = %g, want %g", i, j, v[i*n+j], want)
			}
		}
	}
	if nn.GenerateSquareSubsequentMask(0).Numel() != 0 {
		t.Error("size 0 mask is not empty")
	}
}

// TestMultiheadAttentionDropout checks dropout on the attention weights
// while training: the same generator seed gives the same result, every
// weight is either dropped (0) or the eval-mode weight scaled by
// 1/(1−p), about p of them are dropped, and eval mode turns it off.
func TestMultiheadAttentionDropout(t *testing.T) {
	const e, h, l, n, p = 8, 2, 24, 4, 0.25
	m := nn.NewMultiheadAttention(e, h, nn.AttentionConfig{Dropout: p, Generator: tensor.NewGenerator(7)})
	x := attnSeeded(8, l, n, e).To(tensor.Float32)
	opt := nn.MHAOptions{PerHeadWeights: true}

	nn.Eval(m)
	outEval, wEval := m.Forward(x, x, x, opt)
	nn.Train(m)
	m.Generator = tensor.NewGenerator(42)
	out1, w1 := m.Forward(x, x, x, opt)
	m.Generator = tensor.NewGenerator(42)
	out2, w2 := m.Forward(x, x, x, opt)
	if !slices.Equal(out1.Float32s(), out2.Float32s()) || !slices.Equal(w1.Float32s(), w2.Float32s()) {
		t.Error("training passes with the same generator seed differ")
	}
	if slices.Equal(out1.Float32s(), outEval.Float32s()) {
		t.Error("dropout changed nothing while training")
	}
	we, wt := wEval.Float64s(), w1.Float64s()
	dropped := 0
	for i := range wt {
		switch {
		case wt[i] == 0:
			dropped++
		case math.Abs(wt[i]-we[i]/(1-p)) > 1e-6*max(1, we[i]):
			t.Fatalf("weight %d = %g, want 0 or %g/(1−p) = %g", i, wt[i], we[i], we[i]/(1-p))
		}
	}
	if frac := float64(dropped) / float64(len(wt)); math.Abs(frac-p) > 0.03 {
		t.Errorf("dropped %.3f of %d weights, want about %v", frac, len(wt), p)
	}

	nn.Eval(m)
	outEval2, _ := m.Forward(x, x, x, opt)
	if !slices.Equal(outEval.Float32s(), outEval2.Float32s()) {
		t.Error("eval mode is not deterministic")
	}
}

// TestMultiheadAttentionSelfPath checks that self-attention, which
// projects q, k and v with one matmul, matches the same tensors passed as
// three distinct ones.
func TestMultiheadAttentionSelfPath(t *testing.T) {
	m := nn.NewMultiheadAttention(8, 4, nn.AttentionConfig{Generator: tensor.NewGenerator(2)})
	nn.To(m, tensor.Float64)
	x := attnSeeded(3, 2, 3, 8)
	a, wa := m.Forward(x, x, x)
	b, wb := m.Forward(x, x.Clone(), x.Clone())
	attnClose(t, "output", a, b, 1e-12)
	attnClose(t, "weights", wa, wb, 1e-12)
}

func attnClose(t *testing.T, what string, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	g, w := got.Float64s(), want.Float64s()
	for i := range g {
		if math.Abs(g[i]-w[i]) > tol*max(1, math.Abs(w[i])) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, g[i], w[i])
		}
	}
}

// TestMultiheadAttentionBadInputs checks that misuse panics with a
// *tensor.Error that names the layer.
func TestMultiheadAttentionBadInputs(t *testing.T) {
	m := nn.NewMultiheadAttention(8, 2)
	x := tensor.Zeros(3, 2, 8)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"heads do not divide", func() { nn.NewMultiheadAttention(8, 3) }},
		{"zero heads", func() { nn.NewMultiheadAttention(8, 0) }},
		{"bad dropout", func() { nn.NewMultiheadAttention(8, 2, nn.AttentionConfig{Dropout: 1.5}) }},
		{"4-d query", func() { m.Forward(tensor.Zeros(1, 3, 2, 8), x, x) }},
		{"mixed dims", func() { m.Forward(x, tensor.Zeros(3, 8), x) }},
		{"wrong embed", func() { m.Forward(tensor.Zeros(3, 2, 6), x, x) }},
		{"key/value lengths", func() { m.Forward(x, x, tensor.Zeros(4, 2, 8)) }},
		{"mask shape", func() { m.Forward(x, x, x, nn.MHAOptions{AttnMask: tensor.Zeros(3, 4)}) }},
		{"3-d mask shape", func() { m.Forward(x, x, x, nn.MHAOptions{AttnMask: tensor.Zeros(2, 3, 3)}) }},
		{"mask dtype", func() { m.Forward(x, x, x, nn.MHAOptions{AttnMask: tensor.FromSlice(make([]int64, 9), 3, 3)}) }},
		{"padding shape", func() { m.Forward(x, x, x, nn.MHAOptions{KeyPaddingMask: tensor.FromSlice(make([]bool, 3), 3)}) }},
		{"causal and mask", func() { m.Forward(x, x, x, nn.MHAOptions{IsCausal: true, AttnMask: tensor.Zeros(3, 3)}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tensor.Try(tc.f)
			var te *tensor.Error
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a *tensor.Error panic", err)
			}
			if !strings.Contains(err.Error(), "MultiheadAttention") {
				t.Errorf("error %q does not name the layer", err)
			}
		})
	}
}
