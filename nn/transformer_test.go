package nn_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// fixtureTransformerConfig is the TransformerConfig a fixture case describes.
func fixtureTransformerConfig(c *layerCase) nn.TransformerConfig {
	cfg := nn.TransformerConfig{
		Activation: c.cfgString("activation"),
		BatchFirst: c.cfgBool("batch_first"),
		NormFirst:  c.cfgBool("norm_first"),
	}
	if _, ok := c.Config["eps"]; ok {
		cfg.LayerNormEps = c.cfgFloat("eps")
	}
	return cfg
}

// TestTransformerFixtures checks the encoder and decoder layers
// (post-norm and NormFirst, relu and gelu, sequence and batch first, with
// float causal, Bool and key-padding masks), 2-layer encoder and decoder
// stacks with a final norm, and a whole Transformer against torch 1.13
// (testdata/gen_attention.py): outputs, state-dict names and order, and
// every parameter and input gradient, in float32 and float64. The torch
// side runs in eval mode with inputs that require grad, i.e. the regular
// math rather than the inference fast path; dropout (torch's default 0.1)
// must be off in eval mode here too.
func TestTransformerFixtures(t *testing.T) {
	var cases []*layerCase
	for _, prefix := range []string{"enc_", "dec_", "encoder_", "decoder_", "transformer_"} {
		cases = append(cases, attnCases(t, prefix)...)
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			d, h, ff := c.cfgInt("d_model"), c.cfgInt("heads"), c.cfgInt("dim_ff")
			cfg := fixtureTransformerConfig(c)
			var m nn.Module
			var forward func(in []*tensor.Tensor) []*tensor.Tensor
			switch c.cfgString("kind") {
			case "enc":
				l := nn.NewTransformerEncoderLayer(d, h, ff, cfg)
				m = l
				forward = func(in []*tensor.Tensor) []*tensor.Tensor {
					return []*tensor.Tensor{l.ForwardMasked(in[0], nn.EncoderMasks{Mask: in[1], KeyPaddingMask: in[2]})}
				}
			case "dec":
				l := nn.NewTransformerDecoderLayer(d, h, ff, cfg)
				m = l
				forward = func(in []*tensor.Tensor) []*tensor.Tensor {
					return []*tensor.Tensor{l.Forward(in[0], in[1], nn.DecoderMasks{
						TgtMask: in[2], MemoryMask: in[3], TgtKeyPaddingMask: in[4], MemoryKeyPaddingMask: in[5]})}
				}
			case "encoder":
				e := nn.NewTransformerEncoder(func() *nn.TransformerEncoderLayer {
					return nn.NewTransformerEncoderLayer(d, h, ff, cfg)
				}, c.cfgInt("layers"), nn.NewLayerNorm(d))
				m = e
				forward = func(in []*tensor.Tensor) []*tensor.Tensor {
					return []*tensor.Tensor{e.ForwardMasked(in[0], nn.EncoderMasks{Mask: in[1], KeyPaddingMask: in[2]})}
				}
			case "decoder":
				dec := nn.NewTransformerDecoder(func() *nn.TransformerDecoderLayer {
					return nn.NewTransformerDecoderLayer(d, h, ff, cfg)
				}, c.cfgInt("layers"), nn.NewLayerNorm(d))
				m = dec
				forward = func(in []*tensor.Tensor) []*tensor.Tensor {
					return []*tensor.Tensor{dec.Forward(in[0], in[1], nn.DecoderMasks{
						TgtMask: in[2], MemoryMask: in[3], TgtKeyPaddingMask: in[4], MemoryKeyPaddingMask: in[5]})}
				}
			case "transformer":
				tr := nn.NewTransformer(d, h, c.cfgInt("enc_layers"), c.cfgInt("dec_layers"), ff, cfg)
				m = tr
				forward = func(in []*tensor.Tensor) []*tensor.Tensor {
					return []*tensor.Tensor{tr.Forward(in[0], in[1], nn.TransformerMasks{
						TgtMask: in[2], SrcKeyPaddingMask: in[3], MemoryKeyPaddingMask: in[3]})}
				}
			default:
				t.Fatalf("unknown kind %q", c.cfgString("kind"))
			}
			runLayerCase(t, c, m, forward)
		})
	}
}

func TestTransformerConfigDefaults(t *testing.T) {
	l := nn.NewTransformerEncoderLayer(8, 2, 16)
	if l.Dropout.P != nn.DefaultTransformerDropout || l.Dropout1.P != 0.1 || l.SelfAttn.Dropout != 0.1 {
		t.Errorf("default dropout: %v %v %v, want 0.1", l.Dropout.P, l.Dropout1.P, l.SelfAttn.Dropout)
	}
	if l.Norm1.Eps != 1e-5 || l.NormFirst || l.SelfAttn.BatchFirst {
		t.Errorf("defaults: eps %v, norm first %v, batch first %v", l.Norm1.Eps, l.NormFirst, l.SelfAttn.BatchFirst)
	}
	l = nn.NewTransformerEncoderLayer(8, 2, 16, nn.TransformerConfig{Dropout: nn.Prob(0), LayerNormEps: 1e-6, BatchFirst: true})
	if l.Dropout.P != 0 || l.Dropout2.P != 0 || l.SelfAttn.Dropout != 0 || l.Norm2.Eps != 1e-6 || !l.SelfAttn.BatchFirst {
		t.Errorf("Prob(0), eps 1e-6, batch first: got %v %v %v %v %v", l.Dropout.P, l.Dropout2.P, l.SelfAttn.Dropout, l.Norm2.Eps, l.SelfAttn.BatchFirst)
	}
	want := []string{
		"self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
		"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
		"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
	}
	if got := nn.StateDictKeys(l); !slices.Equal(got, want) {
		t.Errorf("keys %v\nwant %v", got, want)
	}
	// The layers of a stack are initialized independently.
	e := nn.NewTransformerEncoder(func() *nn.TransformerEncoderLayer { return nn.NewTransformerEncoderLayer(8, 2, 16) }, 2, nil)
	if e.Norm != nil || len(e.Layers) != 2 {
		t.Fatalf("norm %v, %d layers", e.Norm, len(e.Layers))
	}
	if slices.Equal(e.Layers[0].Linear1.Weight.Float32s(), e.Layers[1].Linear1.Weight.Float32s()) {
		t.Error("stacked layers share their initial weights")
	}
	var nilNorm *nn.LayerNorm
	if nn.NewTransformerDecoder(func() *nn.TransformerDecoderLayer { return nn.NewTransformerDecoderLayer(8, 2, 16) }, 1, nilNorm).Norm != nil {
		t.Error("a nil *LayerNorm norm is kept")
	}
	// nn.Transformer re-draws every matrix Xavier-uniform, biases stay.
	tr := nn.NewTransformer(8, 2, 1, 1, 16)
	for _, p := range nn.NamedParameters(tr) {
		x := p.P.Float64s()
		if p.P.Dim() > 1 {
			b := math.Sqrt(6 / float64(p.P.Size(0)+p.P.Size(1)))
			if slices.Min(x) < -b || slices.Max(x) > b {
				t.Errorf("%s outside ±%g", p.Name, b)
			}
		} else if strings.Contains(p.Name, "attn.in_proj_bias") && slices.Max(x) != 0 {
			t.Errorf("%s is not zero", p.Name)
		}
	}
}

// TestTransformerEncoderLayerGradCheck checks the gradients of the layer
// with respect to its input against finite differences, in float64, with
// a padding mask (post-norm, relu) and causal masking (pre-norm, gelu).
func TestTransformerEncoderLayerGradCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   nn.TransformerConfig
		masks nn.EncoderMasks
	}{
		{"post_relu_kpm", nn.TransformerConfig{}, nn.EncoderMasks{KeyPaddingMask: tensor.FromSlice([]bool{false, false, true, false, false, false}, 2, 3)}},
		{"pre_gelu_causal", nn.TransformerConfig{NormFirst: true, Activation: "gelu"}, nn.EncoderMasks{IsCausal: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Generator = tensor.NewGenerator(4)
			l := nn.NewTransformerEncoderLayer(4, 2, 6, tc.cfg)
			nn.To(l, tensor.Float64)
			nn.Eval(l)
			x := attnSeeded(5, 3, 2, 4).SetRequiresGrad(true)
			err := autograd.GradCheck(func(in []*tensor.Tensor) *tensor.Tensor {
				return l.ForwardMasked(in[0], tc.masks).Square().Sum()
			}, []*tensor.Tensor{x})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

// TestTransformerDropout checks training mode: with dropout the output
// depends on the generator alone (same seed, same output) and differs
// from eval; with Prob(0) training and eval agree.
func TestTransformerDropout(t *testing.T) {
	x := attnSeeded(1, 6, 2, 8).To(tensor.Float32)
	l := nn.NewTransformerEncoderLayer(8, 2, 16, nn.TransformerConfig{Generator: tensor.NewGenerator(1)})
	run := func(seed uint64) []float32 {
		g := tensor.NewGenerator(seed)
		l.SelfAttn.Generator, l.Dropout.Generator, l.Dropout1.Generator, l.Dropout2.Generator = g, g, g, g
		return l.Forward(x).Float32s()
	}
	nn.Train(l)
	a, b := run(10), run(10)
	if !slices.Equal(a, b) {
		t.Error("same seed, different training outputs")
	}
	nn.Eval(l)
	for i, d := range []*nn.Dropout{l.Dropout, l.Dropout1, l.Dropout2} {
		if d.Training() {
			t.Errorf("Eval left dropout %d training", i)
		}
	}
	ev := l.Forward(x).Float32s()
	if slices.Equal(a, ev) {
		t.Error("training output equals eval output with dropout 0.1")
	}

	l0 := nn.NewTransformerDecoderLayer(8, 2, 16, nn.TransformerConfig{Dropout: nn.Prob(0)})
	mem := attnSeeded(2, 5, 2, 8).To(tensor.Float32)
	nn.Train(l0)
	for i, d := range []*nn.Dropout{l0.Dropout, l0.Dropout1, l0.Dropout2, l0.Dropout3} {
		if !d.Training() || !l0.SelfAttn.Training() || !l0.MultiheadAttn.Training() {
			t.Errorf("Train left part %d in eval mode", i)
		}
	}
	tr := l0.Forward(x, mem, nn.DecoderMasks{TgtIsCausal: true}).Float32s()
	nn.Eval(l0)
	if ev := l0.Forward(x, mem, nn.DecoderMasks{TgtIsCausal: true}).Float32s(); !slices.Equal(tr, ev) {
		t.Error("dropout 0: training and eval outputs differ")
	}
}

// TestTransformerEncoderHooks checks that an encoder stack calls its
// layers with their hooks, masks or not, and that the hook's result
// replaces the layer's output.
func TestTransformerEncoderHooks(t *testing.T) {
	e := nn.NewTransformerEncoder(func() *nn.TransformerEncoderLayer {
		return nn.NewTransformerEncoderLayer(4, 2, 8)
	}, 2, nil)
	nn.Eval(e)
	calls := 0
	remove := nn.RegisterForwardHook(e.Layers[1], func(_ nn.Layer, in, out *tensor.Tensor) *tensor.Tensor {
		calls++
		return tensor.ZerosLike(out)
	})
	defer remove()
	x := attnSeeded(3, 3, 2, 4).To(tensor.Float32)
	for _, masks := range []nn.EncoderMasks{{}, {IsCausal: true}} {
		y := e.ForwardMasked(x, masks)
		if slices.Max(y.Float64s()) != 0 || slices.Min(y.Float64s()) != 0 {
			t.Error("the hook's output did not replace the last layer's")
		}
	}
	if e.Forward(x); calls != 3 {
		t.Errorf("hook ran %d times, want 3", calls)
	}
}

// TestTransformerUnbatched checks that unbatched inputs give the same
// result as a batch of one.
func TestTransformerUnbatched(t *testing.T) {
	tr := nn.NewTransformer(8, 2, 1, 1, 16, nn.TransformerConfig{Generator: tensor.NewGenerator(3)})
	nn.To(tr, tensor.Float64)
	nn.Eval(tr)
	src, tgt := attnSeeded(4, 5, 8), attnSeeded(5, 3, 8)
	masks := nn.TransformerMasks{TgtMask: nn.GenerateSquareSubsequentMask(3)}
	got := tr.Forward(src, tgt, masks)
	want := tr.Forward(src.Unsqueeze(1), tgt.Unsqueeze(1), masks).Squeeze(1)
	attnClose(t, "unbatched", got, want, 1e-12)
}

// TestTransformerConcurrentForward runs one model from several goroutines
// at once (run it with -race): every result must equal the sequential one.
func TestTransformerConcurrentForward(t *testing.T) {
	tr := nn.NewTransformer(8, 2, 1, 1, 16, nn.TransformerConfig{Generator: tensor.NewGenerator(6)})
	nn.Eval(tr)
	src, tgt := attnSeeded(7, 5, 2, 8).To(tensor.Float32), attnSeeded(8, 3, 2, 8).To(tensor.Float32)
	masks := nn.TransformerMasks{TgtIsCausal: true}
	want := tr.Forward(src, tgt, masks).Float32s()
	var wg sync.WaitGroup
	errs := make([]bool, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = !slices.Equal(tr.Forward(src, tgt, masks).Float32s(), want)
		}()
	}
	wg.Wait()
	if slices.Contains(errs, true) {
		t.Error("a concurrent forward pass differs from the sequential one")
	}
}

func TestTransformerBadInputs(t *testing.T) {
	tr := nn.NewTransformer(8, 2, 1, 1, 16)
	for _, tc := range []struct {
		name, layer string
		f           func()
	}{
		{"activation", "TransformerEncoderLayer", func() { nn.NewTransformerEncoderLayer(8, 2, 16, nn.TransformerConfig{Activation: "tanh"}) }},
		{"dropout", "TransformerDecoderLayer", func() { nn.NewTransformerDecoderLayer(8, 2, 16, nn.TransformerConfig{Dropout: nn.Prob(-1)}) }},
		{"dim_ff", "TransformerEncoderLayer", func() { nn.NewTransformerEncoderLayer(8, 2, 0) }},
		{"heads", "MultiheadAttention", func() { nn.NewTransformerEncoderLayer(8, 3, 16) }},
		{"batch sizes", "Transformer", func() { tr.Forward(tensor.Zeros(4, 2, 8), tensor.Zeros(3, 3, 8)) }},
		{"d_model", "Transformer", func() { tr.Forward(tensor.Zeros(4, 2, 6), tensor.Zeros(3, 2, 6)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tensor.Try(tc.f)
			var te *tensor.Error
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.layer) {
				t.Errorf("got %v, want a *tensor.Error naming %s", err, tc.layer)
			}
		})
	}
}
