package text

import (
	"math"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/tensor"
)

// BERTConfig is a BERT encoder's shape, in the fields of Hugging Face's
// BertConfig. The zero value of each field means Hugging Face's default,
// which is BERT-base (110M parameters); see [BERTBase] and [BERTLarge].
type BERTConfig struct {
	VocabSize             int // vocab_size; 0: 30522
	HiddenSize            int // hidden_size; 0: 768
	NumHiddenLayers       int // num_hidden_layers; 0: 12
	NumAttentionHeads     int // num_attention_heads, which must divide HiddenSize; 0: 12
	IntermediateSize      int // intermediate_size; 0: 3072
	MaxPositionEmbeddings int // max_position_embeddings, the longest input; 0: 512
	TypeVocabSize         int // type_vocab_size, the number of token types; 0: 2

	// HiddenAct is hidden_act: "gelu" (the default, exact with erf),
	// "gelu_new", "relu", "silu", "tanh".
	HiddenAct string

	LayerNormEps float64 // layer_norm_eps; 0: 1e-12

	// PadTokenID is pad_token_id, the word embedding row that gets no
	// gradient (0 by default, as Hugging Face's).
	PadTokenID int

	// Dropout probabilities (hidden_dropout_prob,
	// attention_probs_dropout_prob): 0 means Hugging Face's 0.1, a
	// negative value none. Dropout acts in training mode only.
	HiddenDropoutProb, AttentionProbsDropoutProb float64

	// NoPooler leaves out the pooler (Hugging Face's
	// add_pooling_layer=False); Forward then returns a nil pooled output.
	NoPooler bool

	// InitializerRange is the standard deviation of the initial weights;
	// 0: 0.02.
	InitializerRange float64
	// Generator draws the initial weights and the dropout masks; nil means
	// tensor.DefaultGenerator().
	Generator *tensor.Generator
}

// BERTBase is bert-base-uncased's shape: 12 layers of width 768, 12 heads,
// a vocabulary of 30522.
func BERTBase() BERTConfig {
	return BERTConfig{VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, MaxPositionEmbeddings: 512, TypeVocabSize: 2, HiddenAct: "gelu",
		LayerNormEps: 1e-12, HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, InitializerRange: 0.02}
}

// BERTLarge is bert-large-uncased's shape: 24 layers of width 1024, 16
// heads.
func BERTLarge() BERTConfig {
	c := BERTBase()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 1024, 24, 16, 4096
	return c
}

func (c BERTConfig) withDefaults() BERTConfig {
	d := BERTBase()
	setInt(&c.VocabSize, d.VocabSize)
	setInt(&c.HiddenSize, d.HiddenSize)
	setInt(&c.NumHiddenLayers, d.NumHiddenLayers)
	setInt(&c.NumAttentionHeads, d.NumAttentionHeads)
	setInt(&c.IntermediateSize, d.IntermediateSize)
	setInt(&c.MaxPositionEmbeddings, d.MaxPositionEmbeddings)
	setInt(&c.TypeVocabSize, d.TypeVocabSize)
	if c.HiddenAct == "" {
		c.HiddenAct = d.HiddenAct
	}
	setFloat(&c.LayerNormEps, d.LayerNormEps)
	setFloat(&c.InitializerRange, d.InitializerRange)
	c.HiddenDropoutProb = dropoutP(c.HiddenDropoutProb)
	c.AttentionProbsDropoutProb = dropoutP(c.AttentionProbsDropoutProb)
	return c
}

func (c BERTConfig) check() {
	for _, f := range []struct {
		name string
		v    int
	}{{"VocabSize", c.VocabSize}, {"HiddenSize", c.HiddenSize}, {"NumHiddenLayers", c.NumHiddenLayers},
		{"NumAttentionHeads", c.NumAttentionHeads}, {"IntermediateSize", c.IntermediateSize},
		{"MaxPositionEmbeddings", c.MaxPositionEmbeddings}, {"TypeVocabSize", c.TypeVocabSize}} {
		if f.v < 0 {
			modelPanic("BERT", tensor.ErrShape, "config: %s is negative (%d)", f.name, f.v)
		}
	}
	if c.HiddenSize%c.NumAttentionHeads != 0 {
		modelPanic("BERT", tensor.ErrShape, "config: NumAttentionHeads %d does not divide HiddenSize %d", c.NumAttentionHeads, c.HiddenSize)
	}
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		modelPanic("BERT", tensor.ErrShape, "config: PadTokenID %d is outside the vocabulary of %d", c.PadTokenID, c.VocabSize)
	}
	activation(c.HiddenAct)
}

// BERT is Hugging Face's BertModel: embeddings, a stack of post-LayerNorm
// encoder layers, and a pooler. Its state-dict keys are Hugging Face's:
// embeddings.word_embeddings.weight, embeddings.position_embeddings.weight,
// embeddings.token_type_embeddings.weight, embeddings.LayerNorm.weight,
// encoder.layer.0.attention.self.query.weight (key, value),
// encoder.layer.0.attention.output.dense.weight,
// encoder.layer.0.attention.output.LayerNorm.weight,
// encoder.layer.0.intermediate.dense.weight,
// encoder.layer.0.output.dense.weight, encoder.layer.0.output.LayerNorm.weight,
// pooler.dense.weight, and the biases beside them.
type BERT struct {
	Embeddings *BertEmbeddings `nn:"embeddings"`
	Encoder    *BertEncoder    `nn:"encoder"`
	Pooler     *BertPooler     `nn:"pooler"` // nil with NoPooler

	Config BERTConfig `nn:"-"` // with defaults filled in
}

// BertEmbeddings sums word, position and token-type embeddings and
// normalizes them.
type BertEmbeddings struct {
	WordEmbeddings      *nn.Embedding `nn:"word_embeddings"`
	PositionEmbeddings  *nn.Embedding `nn:"position_embeddings"`
	TokenTypeEmbeddings *nn.Embedding `nn:"token_type_embeddings"`
	LayerNorm           *nn.LayerNorm `nn:"LayerNorm"`
	Dropout             *nn.Dropout   `nn:"dropout"`
}

// BertEncoder is the stack of layers.
type BertEncoder struct {
	Layer []*BertLayer `nn:"layer"`
}

// BertLayer is one encoder layer: attention, then the feed-forward
// network, each followed by a residual sum and a LayerNorm.
type BertLayer struct {
	Attention    *BertAttention    `nn:"attention"`
	Intermediate *BertIntermediate `nn:"intermediate"`
	Output       *BertOutput       `nn:"output"`
}

// BertAttention is self-attention and its output projection.
type BertAttention struct {
	Self   *BertSelfAttention `nn:"self"`
	Output *BertOutput        `nn:"output"`
}

// BertSelfAttention is multi-head attention with separate query, key and
// value projections.
type BertSelfAttention struct {
	Query   *nn.Linear  `nn:"query"`
	Key     *nn.Linear  `nn:"key"`
	Value   *nn.Linear  `nn:"value"`
	Dropout *nn.Dropout `nn:"dropout"`

	NumHeads, HeadDim int
	Generator         *tensor.Generator `nn:"-"`
}

// BertIntermediate is the feed-forward network's first half: act(dense(x)).
type BertIntermediate struct {
	Dense *nn.Linear `nn:"dense"`

	Activation string
}

// BertOutput is LayerNorm(dropout(dense(x)) + residual): Hugging Face's
// BertSelfOutput (attention.output) and BertOutput (output) alike.
type BertOutput struct {
	Dense     *nn.Linear    `nn:"dense"`
	LayerNorm *nn.LayerNorm `nn:"LayerNorm"`
	Dropout   *nn.Dropout   `nn:"dropout"`
}

// BertPooler is tanh(dense(h₀)) of the first token's hidden state.
type BertPooler struct {
	Dense *nn.Linear `nn:"dense"`
}

// NewBERT returns a BERT encoder of shape cfg, initialized as Hugging Face
// initializes one: Linear and Embedding weights from
// N(0, InitializerRange), biases 0, the padding row 0, LayerNorms 1 and 0.
// Like a fresh torch module it is in training mode: call nn.Eval before
// inference.
func NewBERT(cfg BERTConfig) *BERT {
	c := cfg.withDefaults()
	c.check()
	g := c.Generator
	std := c.InitializerRange
	h := c.HiddenSize
	linear := func(in, out int) *nn.Linear {
		l := nn.NewLinear(in, out, nn.LinearConfig{Generator: g})
		nninit.Normal(l.Weight.Tensor, 0, std, g)
		nninit.Zeros(l.Bias.Tensor)
		return l
	}
	embedding := func(num int, pad *int) *nn.Embedding {
		e := nn.NewEmbedding(num, h, nn.EmbeddingConfig{Generator: g, PaddingIdx: pad})
		nninit.Normal(e.Weight.Tensor, 0, std, g)
		if pad != nil {
			tensor.WithGradEnabled(false, func() { e.Weight.Narrow(0, *pad, 1).ZeroIn() })
		}
		return e
	}
	layerNorm := func() *nn.LayerNorm { return nn.NewLayerNormWith([]int{h}, nn.NormConfig{Eps: c.LayerNormEps}) }
	output := func(in int) *BertOutput {
		return &BertOutput{Dense: linear(in, h), LayerNorm: layerNorm(), Dropout: nn.NewDropout(c.HiddenDropoutProb, g)}
	}
	pad := c.PadTokenID
	m := &BERT{
		Embeddings: &BertEmbeddings{
			WordEmbeddings:      embedding(c.VocabSize, &pad),
			PositionEmbeddings:  embedding(c.MaxPositionEmbeddings, nil),
			TokenTypeEmbeddings: embedding(c.TypeVocabSize, nil),
			LayerNorm:           layerNorm(),
			Dropout:             nn.NewDropout(c.HiddenDropoutProb, g),
		},
		Encoder: &BertEncoder{},
		Config:  c,
	}
	for range c.NumHiddenLayers {
		m.Encoder.Layer = append(m.Encoder.Layer, &BertLayer{
			Attention: &BertAttention{
				Self: &BertSelfAttention{
					Query: linear(h, h), Key: linear(h, h), Value: linear(h, h),
					Dropout:  nn.NewDropout(c.AttentionProbsDropoutProb, g),
					NumHeads: c.NumAttentionHeads, HeadDim: h / c.NumAttentionHeads, Generator: g,
				},
				Output: output(h),
			},
			Intermediate: &BertIntermediate{Dense: linear(h, c.IntermediateSize), Activation: c.HiddenAct},
			Output:       output(c.IntermediateSize),
		})
	}
	if !c.NoPooler {
		m.Pooler = &BertPooler{Dense: linear(h, h)}
	}
	return m
}

// Forward encodes ids [B, T] (integers). tokenTypeIDs [B, T] gives each
// token's segment (nil: all 0); attentionMask [B, T] is 1 for the tokens
// to attend to and 0 for padding (nil: all 1), of any numeric or Bool
// dtype. It returns the sequence output [B, T, HiddenSize] and the pooled
// output [B, HiddenSize] (nil with NoPooler).
//
// As in Hugging Face's BertModel, masked keys get finfo(dtype).min added
// to their scores, so a row whose mask is all 0 attends to all its
// tokens uniformly rather than producing NaN.
func (m *BERT) Forward(ids, tokenTypeIDs, attentionMask *tensor.Tensor) (sequence, pooled *tensor.Tensor) {
	if ids.Dim() != 2 || ids.DType().IsFloat() || ids.DType() == tensor.Bool {
		modelPanic("BERT", tensor.ErrShape, "input ids must be an integer tensor [B, T], not %v %v", ids.DType(), ids.Shape())
	}
	for _, x := range []struct {
		name string
		t    *tensor.Tensor
	}{{"token type ids", tokenTypeIDs}, {"attention mask", attentionMask}} {
		if x.t != nil && !sameShape(x.t.Shape(), ids.Shape()) {
			modelPanic("BERT", tensor.ErrShape, "%s %v do not match the input ids %v", x.name, x.t.Shape(), ids.Shape())
		}
	}
	h := m.Embeddings.forward(ids, tokenTypeIDs)
	var mask *tensor.Tensor
	if attentionMask != nil {
		// (1 − mask)·finfo.min, shaped [B, 1, 1, T] to broadcast over
		// heads and queries.
		dt := h.DType()
		b, t := ids.Size(0), ids.Size(1)
		mask = attentionMask.To(dt).ToDevice(h.Device()).RSubScalar(1).MulScalar(finfoMin(dt)).Reshape(b, 1, 1, t)
	}
	for _, l := range m.Encoder.Layer {
		h = l.forward(h, mask)
	}
	if m.Pooler != nil {
		pooled = m.Pooler.Forward(h)
	}
	return h, pooled
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// finfoMin is the most negative finite value of a float dtype.
func finfoMin(dt tensor.DType) float64 {
	switch dt {
	case tensor.Float64:
		return -math.MaxFloat64
	case tensor.Float16:
		return -65504
	case tensor.BFloat16:
		return -3.3895313892515355e38
	}
	return -math.MaxFloat32
}

func (e *BertEmbeddings) forward(ids, tokenTypeIDs *tensor.Tensor) *tensor.Tensor {
	b, t := ids.Size(0), ids.Size(1)
	if n := e.PositionEmbeddings.NumEmbeddings; t > n {
		modelPanic("BERT", tensor.ErrIndex, "%d tokens exceed the %d positions", t, n)
	}
	pos := make([]int64, t)
	for i := range pos {
		pos[i] = int64(i)
	}
	dev := ids.Device()
	if tokenTypeIDs == nil {
		tokenTypeIDs = tensor.ZerosOf(tensor.Int64, b, t).ToDevice(dev)
	}
	x := e.WordEmbeddings.Forward(ids).
		Add(e.TokenTypeEmbeddings.Forward(tokenTypeIDs)).
		Add(e.PositionEmbeddings.Forward(tensor.FromSlice(pos, 1, t).ToDevice(dev)))
	return e.Dropout.Forward(e.LayerNorm.Forward(x))
}

// Forward runs the layer on h [B, T, HiddenSize] with no padding.
func (l *BertLayer) Forward(h *tensor.Tensor) *tensor.Tensor { return l.forward(h, nil) }

func (l *BertLayer) forward(h, mask *tensor.Tensor) *tensor.Tensor {
	a := l.Attention.Output.forward(l.Attention.Self.forward(h, mask), h)
	return l.Output.forward(l.Intermediate.Forward(a), a)
}

func (s *BertSelfAttention) forward(h, mask *tensor.Tensor) *tensor.Tensor {
	b, t, e := h.Size(0), h.Size(1), h.Size(2)
	heads := func(y *tensor.Tensor) *tensor.Tensor {
		return y.Reshape(b, t, s.NumHeads, s.HeadDim).Permute(0, 2, 1, 3)
	}
	opt := F.SDPAOptions{Mask: mask, Generator: s.Generator}
	if s.Dropout.Training() {
		opt.DropoutP = s.Dropout.P
	}
	y := F.ScaledDotProductAttention(heads(s.Query.Forward(h)), heads(s.Key.Forward(h)), heads(s.Value.Forward(h)), opt)
	return y.Permute(0, 2, 1, 3).Reshape(b, t, e)
}

// Forward is act(dense(x)).
func (i *BertIntermediate) Forward(x *tensor.Tensor) *tensor.Tensor {
	return activation(i.Activation)(i.Dense.Forward(x))
}

func (o *BertOutput) forward(x, residual *tensor.Tensor) *tensor.Tensor {
	return o.LayerNorm.Forward(o.Dropout.Forward(o.Dense.Forward(x)).Add(residual))
}

// Forward pools h [B, T, HiddenSize] into [B, HiddenSize].
func (p *BertPooler) Forward(h *tensor.Tensor) *tensor.Tensor {
	return p.Dense.Forward(h.Select(1, 0)).Tanh()
}
