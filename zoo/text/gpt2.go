package text

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// GPT2Config is a GPT-2 model's shape, in the fields of Hugging Face's
// GPT2Config. The zero value of each field means Hugging Face's default,
// which is GPT-2 small (124M parameters); [GPT2Small], [GPT2Medium],
// [GPT2Large] and [GPT2XL] spell out the released sizes.
type GPT2Config struct {
	VocabSize  int // vocab_size; 0: 50257
	NPositions int // n_positions, the longest context; 0: 1024
	NEmbd      int // n_embd, the width; 0: 768
	NLayer     int // n_layer; 0: 12
	NHead      int // n_head, which must divide NEmbd; 0: 12
	NInner     int // n_inner, the MLP's hidden width; 0: 4·NEmbd

	// Activation is activation_function: "gelu_new" (the default, GELU's
	// tanh approximation), "gelu_pytorch_tanh" (the same), "gelu" (exact,
	// with erf), "relu", "silu" or "swish", "tanh".
	Activation string

	LayerNormEps float64 // layer_norm_epsilon; 0: 1e-5

	// Dropout probabilities (resid_pdrop, embd_pdrop, attn_pdrop): 0 means
	// Hugging Face's 0.1 and a negative value means none. Dropout acts in
	// training mode only (see nn.Train and nn.Eval).
	ResidPdrop, EmbdPdrop, AttnPdrop float64

	// InitializerRange is the standard deviation of the initial weights
	// (initializer_range); 0: 0.02.
	InitializerRange float64
	// Generator draws the initial weights and the dropout masks; nil means
	// tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// GPT2Small is GPT-2 small ("gpt2", 124M parameters): 12 layers of width
// 768 with 12 heads.
func GPT2Small() GPT2Config {
	return GPT2Config{VocabSize: 50257, NPositions: 1024, NEmbd: 768, NLayer: 12, NHead: 12,
		NInner: 3072, Activation: "gelu_new", LayerNormEps: 1e-5,
		ResidPdrop: 0.1, EmbdPdrop: 0.1, AttnPdrop: 0.1, InitializerRange: 0.02}
}

// GPT2Medium is "gpt2-medium" (355M parameters): 24 layers, width 1024,
// 16 heads.
func GPT2Medium() GPT2Config {
	c := GPT2Small()
	c.NEmbd, c.NLayer, c.NHead, c.NInner = 1024, 24, 16, 4096
	return c
}

// GPT2Large is "gpt2-large" (774M parameters): 36 layers, width 1280,
// 20 heads.
func GPT2Large() GPT2Config {
	c := GPT2Small()
	c.NEmbd, c.NLayer, c.NHead, c.NInner = 1280, 36, 20, 5120
	return c
}

// GPT2XL is "gpt2-xl" (1.5B parameters): 48 layers, width 1600, 25 heads.
func GPT2XL() GPT2Config {
	c := GPT2Small()
	c.NEmbd, c.NLayer, c.NHead, c.NInner = 1600, 48, 25, 6400
	return c
}

// withDefaults fills the zero fields with GPT-2 small's values.
func (c GPT2Config) withDefaults() GPT2Config {
	d := GPT2Small()
	setInt(&c.VocabSize, d.VocabSize)
	setInt(&c.NPositions, d.NPositions)
	setInt(&c.NEmbd, d.NEmbd)
	setInt(&c.NLayer, d.NLayer)
	setInt(&c.NHead, d.NHead)
	setInt(&c.NInner, 4*c.NEmbd)
	if c.Activation == "" {
		c.Activation = d.Activation
	}
	setFloat(&c.LayerNormEps, d.LayerNormEps)
	setFloat(&c.InitializerRange, d.InitializerRange)
	c.ResidPdrop = dropoutP(c.ResidPdrop)
	c.EmbdPdrop = dropoutP(c.EmbdPdrop)
	c.AttnPdrop = dropoutP(c.AttnPdrop)
	return c
}

func (c GPT2Config) check() {
	for _, f := range []struct {
		name string
		v    int
	}{{"VocabSize", c.VocabSize}, {"NPositions", c.NPositions}, {"NEmbd", c.NEmbd}, {"NLayer", c.NLayer}, {"NHead", c.NHead}, {"NInner", c.NInner}} {
		if f.v < 0 {
			modelPanic("GPT2", tensor.ErrShape, "config: %s is negative (%d)", f.name, f.v)
		}
	}
	if c.NEmbd%c.NHead != 0 {
		modelPanic("GPT2", tensor.ErrShape, "config: NHead %d does not divide NEmbd %d", c.NHead, c.NEmbd)
	}
	activation(c.Activation) // panics on an unknown name
}

// GPT2 is Hugging Face's GPT2LMHeadModel: the [GPT2Model] decoder and a
// language-model head tied to the token embedding. Its state-dict keys
// are Hugging Face's: transformer.wte.weight, transformer.wpe.weight,
// transformer.h.0.ln_1.weight, transformer.h.0.attn.c_attn.weight
// ([in, 3·out], Conv1D's layout), …, transformer.ln_f.bias and
// lm_head.weight, the same tensor as transformer.wte.weight.
//
// A GPT2 may run forward passes from several goroutines at once; each
// generation keeps its own [KVCache].
type GPT2 struct {
	Transformer *GPT2Model `nn:"transformer"`
	LMHead      *LMHead    `nn:"lm_head"`

	Config GPT2Config `nn:"-"` // with defaults filled in
}

// GPT2Model is Hugging Face's GPT2Model: token and position embeddings, a
// stack of pre-LayerNorm decoder blocks, and a final LayerNorm.
type GPT2Model struct {
	WTE  *nn.Embedding `nn:"wte"`
	WPE  *nn.Embedding `nn:"wpe"`
	Drop *nn.Dropout   `nn:"drop"`
	H    []*GPT2Block  `nn:"h"`
	LnF  *nn.LayerNorm `nn:"ln_f"`
}

// GPT2Block is one decoder block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
type GPT2Block struct {
	Ln1  *nn.LayerNorm  `nn:"ln_1"`
	Attn *GPT2Attention `nn:"attn"`
	Ln2  *nn.LayerNorm  `nn:"ln_2"`
	MLP  *GPT2MLP       `nn:"mlp"`
}

// GPT2Attention is causal multi-head self-attention with the query, key
// and value projections fused in CAttn.
type GPT2Attention struct {
	CAttn        *Conv1D     `nn:"c_attn"`
	CProj        *Conv1D     `nn:"c_proj"`
	AttnDropout  *nn.Dropout `nn:"attn_dropout"`
	ResidDropout *nn.Dropout `nn:"resid_dropout"`

	NHead, HeadDim int
	Generator      *tensor.Generator `nn:"-"`
}

// GPT2MLP is the block's feed-forward part: c_proj(act(c_fc(x))).
type GPT2MLP struct {
	CFc     *Conv1D     `nn:"c_fc"`
	CProj   *Conv1D     `nn:"c_proj"`
	Dropout *nn.Dropout `nn:"dropout"`

	Activation string
}

// Conv1D is Hugging Face's Conv1D, which despite its name is a linear
// layer with the weight transposed: y = x·W + b with Weight [in, out] and
// Bias [out], as GPT-2's checkpoints store them.
type Conv1D struct {
	Weight *nn.Parameter
	Bias   *nn.Parameter

	InFeatures, OutFeatures int
}

// LMHead maps hidden states to vocabulary logits with the token
// embedding's matrix: logits = h·Weightᵀ, Weight [vocab, n_embd], no bias.
type LMHead struct {
	Weight *nn.Parameter
}

// NewGPT2 returns a GPT-2 language model of shape cfg, initialized as
// Hugging Face initializes one: weights from N(0, InitializerRange), the
// residual projections' (c_proj) from N(0, InitializerRange/√(2·NLayer)),
// biases 0, LayerNorms 1 and 0. Like a fresh torch module, it is in
// training mode: call nn.Eval before inference. The head shares the token
// embedding's parameter.
func NewGPT2(cfg GPT2Config) *GPT2 {
	c := cfg.withDefaults()
	c.check()
	g := c.Generator
	normal := func(t *tensor.Tensor, std float64) { nninit.Normal(t, 0, std, g) }
	std := c.InitializerRange
	projStd := std / math.Sqrt(2*float64(c.NLayer))

	tr := &GPT2Model{
		WTE:  nn.NewEmbedding(c.VocabSize, c.NEmbd, nn.EmbeddingConfig{Generator: g}),
		WPE:  nn.NewEmbedding(c.NPositions, c.NEmbd, nn.EmbeddingConfig{Generator: g}),
		Drop: nn.NewDropout(c.EmbdPdrop, g),
		LnF:  nn.NewLayerNormWith([]int{c.NEmbd}, nn.NormConfig{Eps: c.LayerNormEps}),
	}
	normal(tr.WTE.Weight.Tensor, std)
	normal(tr.WPE.Weight.Tensor, std)
	for range c.NLayer {
		b := &GPT2Block{
			Ln1: nn.NewLayerNormWith([]int{c.NEmbd}, nn.NormConfig{Eps: c.LayerNormEps}),
			Attn: &GPT2Attention{
				CAttn:        NewConv1D(c.NEmbd, 3*c.NEmbd),
				CProj:        NewConv1D(c.NEmbd, c.NEmbd),
				AttnDropout:  nn.NewDropout(c.AttnPdrop, g),
				ResidDropout: nn.NewDropout(c.ResidPdrop, g),
				NHead:        c.NHead,
				HeadDim:      c.NEmbd / c.NHead,
				Generator:    g,
			},
			Ln2: nn.NewLayerNormWith([]int{c.NEmbd}, nn.NormConfig{Eps: c.LayerNormEps}),
			MLP: &GPT2MLP{
				CFc:        NewConv1D(c.NEmbd, c.NInner),
				CProj:      NewConv1D(c.NInner, c.NEmbd),
				Dropout:    nn.NewDropout(c.ResidPdrop, g),
				Activation: c.Activation,
			},
		}
		normal(b.Attn.CAttn.Weight.Tensor, std)
		normal(b.Attn.CProj.Weight.Tensor, projStd)
		normal(b.MLP.CFc.Weight.Tensor, std)
		normal(b.MLP.CProj.Weight.Tensor, projStd)
		tr.H = append(tr.H, b)
	}
	return &GPT2{Transformer: tr, LMHead: &LMHead{Weight: tr.WTE.Weight}, Config: c}
}

// NewConv1D returns a Conv1D from in to out features with zero weight and
// bias (GPT-2 initializes them itself).
func NewConv1D(in, out int) *Conv1D {
	return &Conv1D{
		Weight:     nn.NewParameter(tensor.Zeros(in, out)),
		Bias:       nn.NewParameter(tensor.Zeros(out)),
		InFeatures: in, OutFeatures: out,
	}
}

// Forward maps x [*, in] to [*, out].
func (l *Conv1D) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Dim() == 0 || x.Size(-1) != l.InFeatures {
		modelPanic("Conv1D", tensor.ErrShape, "input %v does not end in %d features", x.Shape(), l.InFeatures)
	}
	shape := append(x.Shape()[:x.Dim()-1:x.Dim()-1], l.OutFeatures)
	y := x.Reshape(-1, l.InFeatures).MatMul(l.Weight.Tensor).Add(l.Bias.Tensor)
	return y.Reshape(shape...)
}

// Forward maps hidden states h [*, n_embd] to logits [*, vocab].
func (l *LMHead) Forward(h *tensor.Tensor) *tensor.Tensor {
	return F.Linear(h, l.Weight.Tensor, nil)
}

// Forward returns the next-token logits [B, T, VocabSize] for the token
// ids [B, T] (an integer tensor; a 1-d [T] is taken as one sequence and
// gives [T, VocabSize]). T may not exceed NPositions.
func (m *GPT2) Forward(ids *tensor.Tensor) *tensor.Tensor {
	return m.ForwardCached(ids, nil)
}

// ForwardCached is [GPT2.Forward] that continues the sequences held in
// cache: ids [B, T] are the tokens after the cache's cache.Len(), their
// positions follow on, they attend to the cached keys and values as well
// as to each other (causally), and their own keys and values are added
// to the cache. A nil cache is an empty one that is thrown away. The
// logits are those a full forward pass over all cache.Len()+T tokens gives
// at the last T positions.
func (m *GPT2) ForwardCached(ids *tensor.Tensor, cache *KVCache) *tensor.Tensor {
	one := ids.Dim() == 1
	if one {
		ids = ids.Unsqueeze(0)
	}
	h := m.Transformer.ForwardCached(ids, cache)
	logits := m.LMHead.Forward(h)
	if one {
		logits = logits.Squeeze(0)
	}
	return logits
}

// Forward returns the final hidden states [B, T, n_embd] for the token ids
// [B, T].
func (m *GPT2Model) Forward(ids *tensor.Tensor) *tensor.Tensor {
	return m.ForwardCached(ids, nil)
}

// ForwardCached is [GPT2Model.Forward] continuing cache; see
// [GPT2.ForwardCached].
func (m *GPT2Model) ForwardCached(ids *tensor.Tensor, cache *KVCache) *tensor.Tensor {
	if ids.Dim() != 2 || ids.DType().IsFloat() || ids.DType() == tensor.Bool {
		modelPanic("GPT2", tensor.ErrShape, "input ids must be an integer tensor [B, T], not %v %v", ids.DType(), ids.Shape())
	}
	b, t := ids.Size(0), ids.Size(1)
	past := 0
	if cache != nil {
		past = cache.Len()
		if cache.layers == nil {
			cache.layers = make([]kvLayer, len(m.H))
		}
		if len(cache.layers) != len(m.H) {
			modelPanic("GPT2", tensor.ErrShape, "the cache holds %d layers, the model has %d", len(cache.layers), len(m.H))
		}
		if past > 0 && cache.batch != b {
			modelPanic("GPT2", tensor.ErrShape, "the cache holds %d sequences, the input %d", cache.batch, b)
		}
	}
	if n := m.WPE.NumEmbeddings; past+t > n {
		modelPanic("GPT2", tensor.ErrIndex, "%d cached and %d new tokens exceed the %d positions", past, t, n)
	}
	pos := make([]int64, t)
	for i := range pos {
		pos[i] = int64(past + i)
	}
	p := tensor.FromSlice(pos, 1, t).ToDevice(ids.Device())
	h := m.WTE.Forward(ids).Add(m.WPE.Forward(p))
	h = m.Drop.Forward(h)
	for i, blk := range m.H {
		var kv *kvLayer
		if cache != nil {
			kv = &cache.layers[i]
		}
		h = blk.forward(h, kv, past)
	}
	if cache != nil {
		cache.n = past + t
		cache.batch = b
	}
	return m.LnF.Forward(h)
}

// Forward runs the block on x [B, T, n_embd] without a cache.
func (b *GPT2Block) Forward(x *tensor.Tensor) *tensor.Tensor { return b.forward(x, nil, 0) }

func (b *GPT2Block) forward(x *tensor.Tensor, kv *kvLayer, past int) *tensor.Tensor {
	x = x.Add(b.Attn.forward(b.Ln1.Forward(x), kv, past))
	return x.Add(b.MLP.Forward(b.Ln2.Forward(x)))
}

// Forward runs causal self-attention on x [B, T, n_embd] without a cache.
func (a *GPT2Attention) Forward(x *tensor.Tensor) *tensor.Tensor { return a.forward(x, nil, 0) }

func (a *GPT2Attention) forward(x *tensor.Tensor, kv *kvLayer, past int) *tensor.Tensor {
	b, t, e := x.Size(0), x.Size(1), x.Size(2)
	qkv := a.CAttn.Forward(x).Split(e, 2)
	heads := func(y *tensor.Tensor) *tensor.Tensor {
		return y.Reshape(b, t, a.NHead, a.HeadDim).Permute(0, 2, 1, 3) // [B, H, T, D]
	}
	q, k, v := heads(qkv[0]), heads(qkv[1]), heads(qkv[2])
	if kv != nil {
		k, v = kv.append(k, v, past)
	}
	opt := F.SDPAOptions{Generator: a.Generator}
	if a.AttnDropout.Training() {
		opt.DropoutP = a.AttnDropout.P
	}
	if t > 1 {
		opt.Mask = causalMask(t, past, x.Device())
	}
	y := F.ScaledDotProductAttention(q, k, v, opt)
	y = y.Permute(0, 2, 1, 3).Reshape(b, t, e)
	return a.ResidDropout.Forward(a.CProj.Forward(y))
}

// causalMask is the Bool [t, past+t] mask that lets the query at position
// past+i see keys 0…past+i.
func causalMask(t, past int, dev tensor.Device) *tensor.Tensor {
	s := past + t
	m := make([]bool, t*s)
	for i := range t {
		for j := 0; j <= past+i; j++ {
			m[i*s+j] = true
		}
	}
	return tensor.FromSlice(m, t, s).ToDevice(dev)
}

// Forward maps x [*, n_embd] through the feed-forward network.
func (m *GPT2MLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	return m.Dropout.Forward(m.CProj.Forward(activation(m.Activation)(m.CFc.Forward(x))))
}

// KVCache holds the keys and values of the tokens a [GPT2] has seen, per
// layer, so that decoding one more token costs one position's work
// instead of a pass over the whole sequence. A KVCache belongs to one
// generation: it is not safe for concurrent use, and its batch size is
// fixed by the first call that fills it.
type KVCache struct {
	layers []kvLayer
	n      int
	batch  int
}

// kvLayer is one layer's cache: key and value tensors [B, H, capacity, D]
// of which the first n positions are valid. Without recording, new keys
// are written in place into spare capacity (doubling it when full); when
// autograd records, the cache is rebuilt by concatenation instead, so
// that gradients flow through it.
type kvLayer struct {
	k, v  *tensor.Tensor
	owned bool // k and v are buffers of this cache, safe to write in place
}

// NewCache returns an empty cache for m.
func (m *GPT2) NewCache() *KVCache {
	return &KVCache{layers: make([]kvLayer, len(m.Transformer.H))}
}

// Len returns the number of positions the cache holds.
func (c *KVCache) Len() int { return c.n }

// Reset empties the cache, for a new generation with the same model.
func (c *KVCache) Reset() { c.n, c.batch = 0, 0 }

// append adds k and v ([B, H, T, D]) after the first past positions and
// returns the keys and values of all past+T positions.
func (c *kvLayer) append(k, v *tensor.Tensor, past int) (*tensor.Tensor, *tensor.Tensor) {
	t := k.Size(2)
	if past == 0 {
		// Keep the first keys as they are; they move into a buffer of the
		// cache's own when more come.
		c.k, c.v, c.owned = k, v, false
		return k, v
	}
	oldK, oldV := c.k.Narrow(2, 0, past), c.v.Narrow(2, 0, past)
	if tensor.GradEnabled() && (k.RequiresGrad() || v.RequiresGrad() || oldK.RequiresGrad() || oldV.RequiresGrad()) {
		c.k, c.v, c.owned = tensor.Cat([]*tensor.Tensor{oldK, k}, 2), tensor.Cat([]*tensor.Tensor{oldV, v}, 2), false
		return c.k, c.v
	}
	need := past + t
	tensor.WithGradEnabled(false, func() {
		if !c.owned || c.k.Size(2) < need {
			capacity := max(need, 2*past, 16)
			grow := func(old *tensor.Tensor) *tensor.Tensor {
				sh := old.Shape()
				sh[2] = capacity
				buf := tensor.ZerosOf(old.DType(), sh...).ToDevice(old.Device())
				buf.Narrow(2, 0, past).CopyIn(old)
				return buf
			}
			c.k, c.v, c.owned = grow(oldK), grow(oldV), true
		}
		c.k.Narrow(2, past, t).CopyIn(k)
		c.v.Narrow(2, past, t).CopyIn(v)
	})
	return c.k.Narrow(2, 0, need), c.v.Narrow(2, 0, need)
}

// modelPanic panics with a *tensor.Error naming the model.
func modelPanic(model string, kind error, format string, args ...any) {
	panic(&tensor.Error{Op: "text." + model, Kind: kind, Msg: fmt.Sprintf(format, args...)})
}

func setInt(p *int, d int) {
	if *p == 0 {
		*p = d
	}
}

func setFloat(p *float64, d float64) {
	if *p == 0 {
		*p = d
	}
}

// dropoutP resolves a config's dropout probability: 0 is Hugging Face's
// 0.1, a negative value none.
func dropoutP(p float64) float64 {
	switch {
	case p == 0:
		return 0.1
	case p < 0:
		return 0
	}
	return p
}

// activation returns the function Hugging Face's ACT2FN names.
func activation(name string) func(*tensor.Tensor) *tensor.Tensor {
	switch name {
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return func(x *tensor.Tensor) *tensor.Tensor { return F.GELU(x, "tanh") }
	case "gelu":
		return func(x *tensor.Tensor) *tensor.Tensor { return F.GELU(x, "none") }
	case "relu":
		return (*tensor.Tensor).ReLU
	case "silu", "swish":
		return (*tensor.Tensor).SiLU
	case "tanh":
		return (*tensor.Tensor).Tanh
	}
	modelPanic("activation", tensor.ErrShape, "unknown activation function %q (want gelu_new, gelu_pytorch_tanh, gelu, relu, silu or tanh)", name)
	return nil
}
