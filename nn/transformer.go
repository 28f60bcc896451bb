package nn

import (
	"reflect"

	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// DefaultTransformerDropout is the dropout probability of torch's
// Transformer layers (0.1), which a nil TransformerConfig.Dropout means.
const DefaultTransformerDropout = 0.1

// Prob returns a pointer to p, for TransformerConfig.Dropout, whose nil
// means torch's default: TransformerConfig{Dropout: nn.Prob(0)} turns
// dropout off.
func Prob(p float64) *float64 { return &p }

// TransformerConfig holds the options of the Transformer layers; the zero
// value is torch's default.
type TransformerConfig struct {
	// Dropout is the dropout probability after the attention blocks, in
	// the feed-forward block and on the attention weights while
	// training; nil means torch's 0.1 (DefaultTransformerDropout). Set
	// it with Prob: Prob(0) for none.
	Dropout *float64
	// Activation is the feed-forward block's nonlinearity, "relu" (the
	// default, also "") or "gelu" (exact, as torch's F.gelu).
	Activation string
	// ActivationFunc, when not nil, is used instead of Activation (torch
	// accepts a callable as well as a name).
	ActivationFunc func(x *tensor.Tensor) *tensor.Tensor
	// LayerNormEps is the eps of the layer norms; 0 means torch's 1e-5.
	LayerNormEps float64
	// BatchFirst takes and returns batched tensors as [N, L, E] instead
	// of torch's default [L, N, E].
	BatchFirst bool
	// NormFirst normalizes before the attention and feed-forward blocks
	// (pre-norm) instead of after them (torch's norm_first).
	NormFirst bool
	// Generator draws the initial weights and the dropout masks; nil
	// means tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// resolved fills in torch's defaults and returns the dropout probability
// and the activation.
func (c *TransformerConfig) resolved(layer string) (p float64, act func(*tensor.Tensor) *tensor.Tensor) {
	p = DefaultTransformerDropout
	if c.Dropout != nil {
		p = *c.Dropout
	}
	if !(p >= 0 && p <= 1) {
		layerPanic(layer, tensor.ErrShape, "dropout probability has to be between 0 and 1, but got %v", p)
	}
	if c.LayerNormEps == 0 {
		c.LayerNormEps = F.DefaultEps
	}
	switch {
	case c.ActivationFunc != nil:
		act = c.ActivationFunc
	case c.Activation == "" || c.Activation == "relu":
		act = F.ReLU
	case c.Activation == "gelu":
		act = func(x *tensor.Tensor) *tensor.Tensor { return F.GELU(x, "none") }
	default:
		layerPanic(layer, tensor.ErrShape, "activation should be relu/gelu, not %q", c.Activation)
	}
	return p, act
}

func transformerConfig(cfg []TransformerConfig) TransformerConfig {
	if len(cfg) > 0 {
		return cfg[0]
	}
	return TransformerConfig{}
}

// EncoderMasks are the optional masks of an encoder layer or stack.
type EncoderMasks struct {
	// Mask is the self-attention mask, [S, S] or [N·heads, S, S]: a Bool
	// mask forbids attention where true, a floating one is added to the
	// scores (torch's src_mask / mask); see MHAOptions.AttnMask.
	Mask *tensor.Tensor
	// KeyPaddingMask is [N, S] ([S] unbatched): true (Bool) marks padding
	// positions to ignore, a floating mask is added (torch's
	// src_key_padding_mask).
	KeyPaddingMask *tensor.Tensor
	// IsCausal applies the causal mask (position i sees j ≤ i) without
	// building it; it cannot be combined with Mask.
	IsCausal bool
}

// DecoderMasks are the optional masks of a decoder layer or stack (torch's
// tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask);
// each is read as the matching MHAOptions field.
type DecoderMasks struct {
	TgtMask              *tensor.Tensor // [T, T] or [N·heads, T, T]
	MemoryMask           *tensor.Tensor // [T, S] or [N·heads, T, S]
	TgtKeyPaddingMask    *tensor.Tensor // [N, T]
	MemoryKeyPaddingMask *tensor.Tensor // [N, S]
	TgtIsCausal          bool           // the causal self-attention mask, instead of TgtMask
}

// TransformerEncoderLayer is self-attention followed by a feed-forward
// block, each with a residual connection and a LayerNorm
// (torch.nn.TransformerEncoderLayer):
//
//	post-norm: x = norm1(x + dropout1(self_attn(x)))
//	           x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))
//	NormFirst: x = x + dropout1(self_attn(norm1(x))); x = x + ff(norm2(x))
//
// Input and output are [S, N, E] ([N, S, E] with BatchFirst, [S, E]
// unbatched). Its members carry torch's names: self_attn, linear1,
// dropout, linear2, norm1, norm2, dropout1, dropout2.
type TransformerEncoderLayer struct {
	SelfAttn *MultiheadAttention
	Linear1  *Linear // E → dim_feedforward
	Dropout  *Dropout
	Linear2  *Linear // dim_feedforward → E
	Norm1    *LayerNorm
	Norm2    *LayerNorm
	Dropout1 *Dropout
	Dropout2 *Dropout

	NormFirst  bool
	Activation func(x *tensor.Tensor) *tensor.Tensor
}

// NewTransformerEncoderLayer returns an encoder layer of width dModel with
// heads attention heads and a feed-forward block of width dimFF (torch's
// default is 2048), initialized as torch initializes its parts.
func NewTransformerEncoderLayer(dModel, heads, dimFF int, cfg ...TransformerConfig) *TransformerEncoderLayer {
	const name = "TransformerEncoderLayer"
	c := transformerConfig(cfg)
	p, act := c.resolved(name)
	if dimFF <= 0 {
		layerPanic(name, tensor.ErrShape, "dim_feedforward %d must be positive", dimFF)
	}
	g := c.Generator
	return &TransformerEncoderLayer{
		SelfAttn:   NewMultiheadAttention(dModel, heads, AttentionConfig{Dropout: p, BatchFirst: c.BatchFirst, Generator: g}),
		Linear1:    NewLinear(dModel, dimFF, LinearConfig{Generator: g}),
		Dropout:    NewDropout(p, g),
		Linear2:    NewLinear(dimFF, dModel, LinearConfig{Generator: g}),
		Norm1:      NewLayerNormWith([]int{dModel}, NormConfig{Eps: c.LayerNormEps}),
		Norm2:      NewLayerNormWith([]int{dModel}, NormConfig{Eps: c.LayerNormEps}),
		Dropout1:   NewDropout(p, g),
		Dropout2:   NewDropout(p, g),
		NormFirst:  c.NormFirst,
		Activation: act,
	}
}

// SetTraining switches the layer's dropouts and attention between
// training and evaluation; [Train] and [Eval] call it.
func (l *TransformerEncoderLayer) SetTraining(on bool) {
	setTraining(on, l.SelfAttn, l.Dropout, l.Dropout1, l.Dropout2)
}

// Forward runs the layer on src with no masks.
func (l *TransformerEncoderLayer) Forward(src *tensor.Tensor) *tensor.Tensor {
	return l.ForwardMasked(src, EncoderMasks{})
}

// ForwardMasked runs the layer on src with masks (torch's forward(src,
// src_mask, src_key_padding_mask)).
func (l *TransformerEncoderLayer) ForwardMasked(src *tensor.Tensor, masks EncoderMasks) *tensor.Tensor {
	x := src
	if l.NormFirst {
		x = x.Add(l.selfAttention(Call(l.Norm1, x), masks))
		return x.Add(l.feedForward(Call(l.Norm2, x)))
	}
	x = Call(l.Norm1, x.Add(l.selfAttention(x, masks)))
	return Call(l.Norm2, x.Add(l.feedForward(x)))
}

func (l *TransformerEncoderLayer) selfAttention(x *tensor.Tensor, m EncoderMasks) *tensor.Tensor {
	y, _ := l.SelfAttn.Forward(x, x, x, MHAOptions{AttnMask: m.Mask, KeyPaddingMask: m.KeyPaddingMask, IsCausal: m.IsCausal, NoWeights: true})
	return Call(l.Dropout1, y)
}

func (l *TransformerEncoderLayer) feedForward(x *tensor.Tensor) *tensor.Tensor {
	return Call(l.Dropout2, feedForward(x, l.Linear1, l.Dropout, l.Linear2, l.Activation))
}

// feedForward is linear2(dropout(act(linear1(x)))).
func feedForward(x *tensor.Tensor, linear1 *Linear, dropout *Dropout, linear2 *Linear, act func(*tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	if act == nil {
		act = F.ReLU
	}
	return Call(linear2, Call(dropout, act(Call(linear1, x))))
}

// TransformerDecoderLayer is self-attention, attention to the encoder's
// output (the memory) and a feed-forward block, each with a residual
// connection and a LayerNorm (torch.nn.TransformerDecoderLayer):
//
//	post-norm: x = norm1(x + dropout1(self_attn(x)))
//	           x = norm2(x + dropout2(multihead_attn(x, memory)))
//	           x = norm3(x + dropout3(linear2(dropout(act(linear1(x))))))
//
// and with NormFirst each block reads the normalized x and adds to x.
// tgt and the output are [T, N, E] ([N, T, E] with BatchFirst, [T, E]
// unbatched), memory [S, N, E]. Its members carry torch's names:
// self_attn, multihead_attn, linear1, dropout, linear2, norm1, norm2,
// norm3, dropout1, dropout2, dropout3. It has two inputs, so it is not a
// [Layer].
type TransformerDecoderLayer struct {
	SelfAttn      *MultiheadAttention
	MultiheadAttn *MultiheadAttention
	Linear1       *Linear // E → dim_feedforward
	Dropout       *Dropout
	Linear2       *Linear // dim_feedforward → E
	Norm1         *LayerNorm
	Norm2         *LayerNorm
	Norm3         *LayerNorm
	Dropout1      *Dropout
	Dropout2      *Dropout
	Dropout3      *Dropout

	NormFirst  bool
	Activation func(x *tensor.Tensor) *tensor.Tensor
}

// NewTransformerDecoderLayer returns a decoder layer of width dModel with
// heads attention heads and a feed-forward block of width dimFF,
// initialized as torch initializes its parts.
func NewTransformerDecoderLayer(dModel, heads, dimFF int, cfg ...TransformerConfig) *TransformerDecoderLayer {
	const name = "TransformerDecoderLayer"
	c := transformerConfig(cfg)
	p, act := c.resolved(name)
	if dimFF <= 0 {
		layerPanic(name, tensor.ErrShape, "dim_feedforward %d must be positive", dimFF)
	}
	g := c.Generator
	ac := AttentionConfig{Dropout: p, BatchFirst: c.BatchFirst, Generator: g}
	nc := NormConfig{Eps: c.LayerNormEps}
	return &TransformerDecoderLayer{
		SelfAttn:      NewMultiheadAttention(dModel, heads, ac),
		MultiheadAttn: NewMultiheadAttention(dModel, heads, ac),
		Linear1:       NewLinear(dModel, dimFF, LinearConfig{Generator: g}),
		Dropout:       NewDropout(p, g),
		Linear2:       NewLinear(dimFF, dModel, LinearConfig{Generator: g}),
		Norm1:         NewLayerNormWith([]int{dModel}, nc),
		Norm2:         NewLayerNormWith([]int{dModel}, nc),
		Norm3:         NewLayerNormWith([]int{dModel}, nc),
		Dropout1:      NewDropout(p, g),
		Dropout2:      NewDropout(p, g),
		Dropout3:      NewDropout(p, g),
		NormFirst:     c.NormFirst,
		Activation:    act,
	}
}

// SetTraining switches the layer's dropouts and attentions between
// training and evaluation; [Train] and [Eval] call it.
func (l *TransformerDecoderLayer) SetTraining(on bool) {
	setTraining(on, l.SelfAttn, l.MultiheadAttn, l.Dropout, l.Dropout1, l.Dropout2, l.Dropout3)
}

// setTraining sets the mode of the layers' parts that have one. [Train]
// and [Eval] find only modules that hold parameters, so a layer passes
// the mode on to its Dropout members itself.
func setTraining(on bool, parts ...Trainer) {
	for _, p := range parts {
		if p != nil && !reflect.ValueOf(p).IsNil() {
			p.SetTraining(on)
		}
	}
}

// Forward runs the layer on tgt, attending to memory, with the masks
// given (at most one DecoderMasks).
func (l *TransformerDecoderLayer) Forward(tgt, memory *tensor.Tensor, masks ...DecoderMasks) *tensor.Tensor {
	var m DecoderMasks
	if len(masks) > 0 {
		m = masks[0]
	}
	x := tgt
	if l.NormFirst {
		x = x.Add(l.selfAttention(Call(l.Norm1, x), m))
		x = x.Add(l.crossAttention(Call(l.Norm2, x), memory, m))
		return x.Add(l.feedForward(Call(l.Norm3, x)))
	}
	x = Call(l.Norm1, x.Add(l.selfAttention(x, m)))
	x = Call(l.Norm2, x.Add(l.crossAttention(x, memory, m)))
	return Call(l.Norm3, x.Add(l.feedForward(x)))
}

func (l *TransformerDecoderLayer) selfAttention(x *tensor.Tensor, m DecoderMasks) *tensor.Tensor {
	y, _ := l.SelfAttn.Forward(x, x, x, MHAOptions{AttnMask: m.TgtMask, KeyPaddingMask: m.TgtKeyPaddingMask, IsCausal: m.TgtIsCausal, NoWeights: true})
	return Call(l.Dropout1, y)
}

func (l *TransformerDecoderLayer) crossAttention(x, memory *tensor.Tensor, m DecoderMasks) *tensor.Tensor {
	y, _ := l.MultiheadAttn.Forward(x, memory, memory, MHAOptions{AttnMask: m.MemoryMask, KeyPaddingMask: m.MemoryKeyPaddingMask, NoWeights: true})
	return Call(l.Dropout2, y)
}

func (l *TransformerDecoderLayer) feedForward(x *tensor.Tensor) *tensor.Tensor {
	return Call(l.Dropout3, feedForward(x, l.Linear1, l.Dropout, l.Linear2, l.Activation))
}

// optionalLayer turns a nil pointer inside a Layer into a nil Layer.
func optionalLayer(l Layer) Layer {
	if l == nil {
		return nil
	}
	if v := reflect.ValueOf(l); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return l
}

// TransformerEncoder is a stack of encoder layers and an optional final
// normalization (torch.nn.TransformerEncoder). Shapes are the layers':
// [S, N, E] in and out ([N, S, E] with BatchFirst). The layers are named
// layers.0, layers.1, … and the final norm norm, as in torch.
type TransformerEncoder struct {
	Layers []*TransformerEncoderLayer
	Norm   Layer // applied to the last layer's output; nil for none
}

// NewTransformerEncoder stacks numLayers layers, each made by calling
// layer, and applies norm (a *LayerNorm usually; nil for none) to the
// result. torch deep-copies one layer, so its layers start out equal;
// here each call of layer initializes a layer of its own.
func NewTransformerEncoder(layer func() *TransformerEncoderLayer, numLayers int, norm Layer) *TransformerEncoder {
	if numLayers < 0 {
		layerPanic("TransformerEncoder", tensor.ErrShape, "negative number of layers %d", numLayers)
	}
	e := &TransformerEncoder{Norm: optionalLayer(norm)}
	for range numLayers {
		e.Layers = append(e.Layers, layer())
	}
	return e
}

// Forward runs src through the layers with no masks.
func (e *TransformerEncoder) Forward(src *tensor.Tensor) *tensor.Tensor {
	return e.ForwardMasked(src, EncoderMasks{})
}

// ForwardMasked runs src through the layers, each with the same masks
// (torch's forward(src, mask, src_key_padding_mask)). The layers are
// called with their hooks, as [Call] does.
func (e *TransformerEncoder) ForwardMasked(src *tensor.Tensor, masks EncoderMasks) *tensor.Tensor {
	x := src
	for _, l := range e.Layers {
		x = CallFunc(l, x, func(x *tensor.Tensor) *tensor.Tensor { return l.ForwardMasked(x, masks) })
	}
	if e.Norm != nil {
		x = Call(e.Norm, x)
	}
	return x
}

// TransformerDecoder is a stack of decoder layers and an optional final
// normalization (torch.nn.TransformerDecoder). tgt and the output are
// [T, N, E], memory [S, N, E] ([N, T, E] and [N, S, E] with BatchFirst).
// The layers are named layers.0, layers.1, … and the final norm norm.
type TransformerDecoder struct {
	Layers []*TransformerDecoderLayer
	Norm   Layer // applied to the last layer's output; nil for none
}

// NewTransformerDecoder stacks numLayers layers, each made by calling
// layer, and applies norm (nil for none) to the result; see
// [NewTransformerEncoder].
func NewTransformerDecoder(layer func() *TransformerDecoderLayer, numLayers int, norm Layer) *TransformerDecoder {
	if numLayers < 0 {
		layerPanic("TransformerDecoder", tensor.ErrShape, "negative number of layers %d", numLayers)
	}
	d := &TransformerDecoder{Norm: optionalLayer(norm)}
	for range numLayers {
		d.Layers = append(d.Layers, layer())
	}
	return d
}

// Forward runs tgt through the layers, each attending to memory with the
// same masks (at most one DecoderMasks).
func (d *TransformerDecoder) Forward(tgt, memory *tensor.Tensor, masks ...DecoderMasks) *tensor.Tensor {
	x := tgt
	for _, l := range d.Layers {
		x = l.Forward(x, memory, masks...)
	}
	if d.Norm != nil {
		x = Call(d.Norm, x)
	}
	return x
}

// TransformerMasks are the optional masks of [Transformer.Forward]: the
// encoder's (Src…), the decoder's self-attention's (Tgt…) and the
// decoder's attention to the memory (Memory…), read as in [EncoderMasks]
// and [DecoderMasks].
type TransformerMasks struct {
	SrcMask, TgtMask, MemoryMask                               *tensor.Tensor
	SrcKeyPaddingMask, TgtKeyPaddingMask, MemoryKeyPaddingMask *tensor.Tensor
	TgtIsCausal                                                bool
}

// Transformer is the encoder-decoder model of "Attention Is All You
// Need" (torch.nn.Transformer): an encoder stack and a decoder stack,
// each with a final LayerNorm. src is [S, N, E], tgt and the output
// [T, N, E] ([N, S, E], [N, T, E] with BatchFirst).
type Transformer struct {
	Encoder *TransformerEncoder
	Decoder *TransformerDecoder

	DModel, NHead int
	BatchFirst    bool
}

// NewTransformer returns a Transformer of width dModel with heads heads,
// numEncoderLayers and numDecoderLayers layers and feed-forward blocks of
// width dimFF (torch's defaults: 512, 8, 6, 6, 2048). As torch does, every
// parameter with two or more dims is then re-drawn Xavier-uniform.
func NewTransformer(dModel, heads, numEncoderLayers, numDecoderLayers, dimFF int, cfg ...TransformerConfig) *Transformer {
	c := transformerConfig(cfg)
	eps := c.LayerNormEps
	if eps == 0 {
		eps = F.DefaultEps
	}
	t := &Transformer{
		Encoder: NewTransformerEncoder(func() *TransformerEncoderLayer {
			return NewTransformerEncoderLayer(dModel, heads, dimFF, c)
		}, numEncoderLayers, NewLayerNormWith([]int{dModel}, NormConfig{Eps: eps})),
		Decoder: NewTransformerDecoder(func() *TransformerDecoderLayer {
			return NewTransformerDecoderLayer(dModel, heads, dimFF, c)
		}, numDecoderLayers, NewLayerNormWith([]int{dModel}, NormConfig{Eps: eps})),
		DModel: dModel, NHead: heads, BatchFirst: c.BatchFirst,
	}
	for _, p := range Parameters(t) {
		if p.Dim() > 1 {
			nninit.XavierUniform(p.Tensor, 1, c.Generator)
		}
	}
	return t
}

// Forward encodes src and decodes tgt against it with the masks given (at
// most one TransformerMasks).
func (t *Transformer) Forward(src, tgt *tensor.Tensor, masks ...TransformerMasks) *tensor.Tensor {
	var m TransformerMasks
	if len(masks) > 0 {
		m = masks[0]
	}
	batched := src.Dim() == 3
	bdim := 1
	if t.BatchFirst {
		bdim = 0
	}
	if batched && (tgt.Dim() != 3 || src.Size(bdim) != tgt.Size(bdim)) {
		layerPanic("Transformer", tensor.ErrShape, "src %v and tgt %v: the batch sizes must be equal", src.Shape(), tgt.Shape())
	}
	if src.Dim() == 0 || tgt.Dim() == 0 || src.Size(-1) != t.DModel || tgt.Size(-1) != t.DModel {
		layerPanic("Transformer", tensor.ErrShape, "src %v and tgt %v must both end in d_model %d", src.Shape(), tgt.Shape(), t.DModel)
	}
	memory := t.Encoder.ForwardMasked(src, EncoderMasks{Mask: m.SrcMask, KeyPaddingMask: m.SrcKeyPaddingMask})
	return t.Decoder.Forward(tgt, memory, DecoderMasks{
		TgtMask: m.TgtMask, MemoryMask: m.MemoryMask,
		TgtKeyPaddingMask: m.TgtKeyPaddingMask, MemoryKeyPaddingMask: m.MemoryKeyPaddingMask,
		TgtIsCausal: m.TgtIsCausal,
	})
}
