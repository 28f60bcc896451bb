package text

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
)

// source is a state dict to load from: a map, or a safetensors file read
// one tensor at a time.
type source interface {
	names() []string
	shape(name string) []int
	tensor(name string) (*tensor.Tensor, error)
}

type mapSource map[string]*tensor.Tensor

func (s mapSource) names() []string {
	var out []string
	for k, t := range s {
		if t != nil {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
func (s mapSource) shape(name string) []int                    { return s[name].Shape() }
func (s mapSource) tensor(name string) (*tensor.Tensor, error) { return s[name], nil }

type fileSource struct{ f *safetensors.File }

func (s fileSource) names() []string { return s.f.Names() }
func (s fileSource) shape(name string) []int {
	info, _ := s.f.Info(name)
	return info.Shape
}
func (s fileSource) tensor(name string) (*tensor.Tensor, error) { return s.f.Tensor(name) }

// loadPlan says, for each key of a checkpoint, which key of the model it
// fills ("" to skip it).
type loadPlan func(key string, shape []int) (modelKey string, skip bool)

// loadInto copies the tensors of src into m strictly: every model key
// must be filled by exactly one source key, except those in optional;
// source keys the plan does not skip must all be used; shapes must agree.
// On error nothing is copied and the *nn.LoadError lists every bad key.
// Tensors are read and copied one at a time, so a file-backed source
// never holds a second copy of the whole model in memory.
func loadInto(m nn.Module, src source, plan loadPlan, optional ...string) error {
	dst := nn.StateDict(m)
	le := &nn.LoadError{}
	from := map[string]string{} // model key → source key
	for _, k := range src.names() {
		mk, skip := plan(k, src.shape(k))
		if skip {
			continue
		}
		t, ok := dst[mk]
		switch {
		case !ok:
			le.Unexpected = append(le.Unexpected, k)
		case from[mk] != "":
			le.Unexpected = append(le.Unexpected, fmt.Sprintf("%s (a second source for %s, after %s)", k, mk, from[mk]))
		case !slices.Equal(src.shape(k), t.Shape()):
			le.Mismatched = append(le.Mismatched, fmt.Sprintf("%s: state dict %v, module %v", k, src.shape(k), t.Shape()))
			from[mk] = k
		default:
			from[mk] = k
		}
	}
	for _, mk := range nn.StateDictKeys(m) {
		if from[mk] == "" && !slices.Contains(optional, mk) {
			le.Missing = append(le.Missing, mk)
		}
	}
	if len(le.Missing)+len(le.Unexpected)+len(le.Mismatched) > 0 {
		return le
	}
	for _, mk := range nn.StateDictKeys(m) {
		k := from[mk]
		if k == "" {
			continue
		}
		t, err := src.tensor(k)
		if err != nil {
			return fmt.Errorf("text: load %s: %w", k, err)
		}
		if err := tensor.Try(func() {
			tensor.WithGradEnabled(false, func() { dst[mk].CopyIn(t) })
		}); err != nil {
			return fmt.Errorf("text: load %s: %w", k, err)
		}
	}
	return nil
}

// LoadStateDict loads a GPT-2 checkpoint's tensors into m, strictly, by
// Hugging Face's names. It accepts the variants Hugging Face writes:
//
//   - GPT2LMHeadModel's keys (transformer.h.0.attn.c_attn.weight, …) or
//     GPT2Model's, without the "transformer." prefix (h.0.attn.c_attn.weight,
//     as in the released "gpt2" checkpoints);
//   - with or without lm_head.weight: the head is tied to
//     transformer.wte.weight, so a present lm_head.weight must equal it
//     (an untied head is an error, not silently dropped);
//   - with or without the attention-mask buffers h.N.attn.bias
//     ([1, 1, n, n]) and h.N.attn.masked_bias, which older transformers
//     saved; they are skipped (the causal mask is built, not loaded).
//
// Any other missing, unexpected or mis-shaped key is listed in a
// *nn.LoadError, and nothing is loaded. Tensors of another float dtype
// (F16, BF16) are converted to the model's.
func (m *GPT2) LoadStateDict(sd map[string]*tensor.Tensor) error {
	return m.load(mapSource(sd))
}

func (m *GPT2) load(src source) error {
	plan := func(k string, shape []int) (string, bool) {
		if k == "lm_head.weight" {
			return "", true // checked below
		}
		mk := k
		if !strings.HasPrefix(k, "transformer.") {
			mk = "transformer." + k
		}
		if rest, ok := strings.CutPrefix(mk, "transformer.h."); ok {
			if _, leaf, ok := strings.Cut(rest, "."); ok && (leaf == "attn.masked_bias" || leaf == "attn.bias" && len(shape) == 4) {
				return "", true
			}
		}
		return mk, false
	}
	names := src.names()
	if slices.Contains(names, "lm_head.weight") {
		// GPT2LMHeadModel.state_dict() lists the tied head under its own
		// name too: check that it is the embedding before loading it.
		wte := "transformer.wte.weight"
		if !slices.Contains(names, wte) {
			wte = "wte.weight"
		}
		if slices.Contains(names, wte) {
			if err := sameTensor(src, "lm_head.weight", wte); err != nil {
				return err
			}
		}
	}
	return loadInto(m, src, plan, "lm_head.weight")
}

// sameTensor returns an error unless src's tensors a and b are equal.
func sameTensor(src source, a, b string) error {
	ta, err := src.tensor(a)
	if err != nil {
		return fmt.Errorf("text: load %s: %w", a, err)
	}
	tb, err := src.tensor(b)
	if err != nil {
		return fmt.Errorf("text: load %s: %w", b, err)
	}
	same := slices.Equal(ta.Shape(), tb.Shape())
	if same {
		if err := tensor.Try(func() {
			same = ta.To(tb.DType()).ToDevice(tb.Device()).Ne(tb).To(tensor.Int64).Sum().Item() == 0
		}); err != nil {
			return fmt.Errorf("text: load %s: %w", a, err)
		}
	}
	if !same {
		return fmt.Errorf("text: load: %s %v differs from %s %v: GPT2 ties them and cannot load an untied head", a, ta.Shape(), b, tb.Shape())
	}
	return nil
}

// LoadStateDict loads a BERT checkpoint's tensors into m, strictly, by
// Hugging Face's names. It accepts the variants Hugging Face writes:
//
//   - BertModel's keys (embeddings.word_embeddings.weight, …) or those of
//     a task model built on it, prefixed "bert." (BertForMaskedLM,
//     BertForSequenceClassification, …), whose other keys (the heads:
//     cls.*, classifier.*, qa_outputs.*) are skipped;
//   - with or without the buffers embeddings.position_ids and
//     embeddings.token_type_ids, which are skipped;
//   - LayerNorm parameters named gamma and beta (checkpoints converted
//     from TensorFlow), read as weight and bias;
//   - pooler.* skipped when the model has no pooler (NoPooler).
//
// Any other missing, unexpected or mis-shaped key is listed in a
// *nn.LoadError, and nothing is loaded.
func (m *BERT) LoadStateDict(sd map[string]*tensor.Tensor) error {
	return m.load(mapSource(sd))
}

func (m *BERT) load(src source) error {
	prefixed := slices.ContainsFunc(src.names(), func(k string) bool { return strings.HasPrefix(k, "bert.") })
	plan := func(k string, _ []int) (string, bool) {
		mk := k
		if prefixed {
			var ok bool
			if mk, ok = strings.CutPrefix(k, "bert."); !ok {
				return "", true // a task head
			}
		}
		if mk == "embeddings.position_ids" || mk == "embeddings.token_type_ids" {
			return "", true
		}
		if m.Pooler == nil && strings.HasPrefix(mk, "pooler.") {
			return "", true
		}
		if base, ok := strings.CutSuffix(mk, "LayerNorm.gamma"); ok {
			mk = base + "LayerNorm.weight"
		} else if base, ok := strings.CutSuffix(mk, "LayerNorm.beta"); ok {
			mk = base + "LayerNorm.bias"
		}
		return mk, false
	}
	return loadInto(m, src, plan)
}

// LoadGPT2 builds a GPT-2 of shape cfg (see [LoadGPT2Config] to read
// Hugging Face's config.json) and loads the safetensors file path into
// it (as [GPT2.LoadStateDict], one tensor at a time), ready for inference:
// in eval mode, as Hugging Face's from_pretrained leaves a model. For a
// PyTorch .pt/.pth checkpoint, read it into a map with zoo.LoadTorch and
// call [GPT2.LoadStateDict].
func LoadGPT2(path string, cfg GPT2Config) (*GPT2, error) {
	var m *GPT2
	if err := tensor.Try(func() { m = NewGPT2(cfg) }); err != nil {
		return nil, fmt.Errorf("text: load gpt2: %w", err)
	}
	if err := loadFile(path, func(s source) error { return m.load(s) }); err != nil {
		return nil, err
	}
	nn.Eval(m)
	return m, nil
}

// LoadBERT is [LoadGPT2] for BERT: it builds a BERT of shape cfg, loads the
// safetensors file path into it (as [BERT.LoadStateDict]) and leaves it in
// eval mode.
func LoadBERT(path string, cfg BERTConfig) (*BERT, error) {
	var m *BERT
	if err := tensor.Try(func() { m = NewBERT(cfg) }); err != nil {
		return nil, fmt.Errorf("text: load bert: %w", err)
	}
	if err := loadFile(path, func(s source) error { return m.load(s) }); err != nil {
		return nil, err
	}
	nn.Eval(m)
	return m, nil
}

func loadFile(path string, load func(source) error) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("text: load %s: %w", path, err)
	}
	defer f.Close()
	if err := load(fileSource{f}); err != nil {
		return fmt.Errorf("text: load %s: %w", path, err)
	}
	return nil
}

// hfGPT2Config is the part of Hugging Face's GPT-2 config.json that
// Tapir reads; pointers tell a missing field from a zero.
type hfGPT2Config struct {
	ModelType                  string   `json:"model_type"`
	VocabSize                  int      `json:"vocab_size"`
	NPositions                 int      `json:"n_positions"`
	NCtx                       int      `json:"n_ctx"`
	NEmbd                      int      `json:"n_embd"`
	NLayer                     int      `json:"n_layer"`
	NHead                      int      `json:"n_head"`
	NInner                     *int     `json:"n_inner"`
	ActivationFunction         string   `json:"activation_function"`
	LayerNormEpsilon           float64  `json:"layer_norm_epsilon"`
	ResidPdrop                 *float64 `json:"resid_pdrop"`
	EmbdPdrop                  *float64 `json:"embd_pdrop"`
	AttnPdrop                  *float64 `json:"attn_pdrop"`
	InitializerRange           float64  `json:"initializer_range"`
	ScaleAttnWeights           *bool    `json:"scale_attn_weights"`
	ScaleAttnByInverseLayerIdx bool     `json:"scale_attn_by_inverse_layer_idx"`
	ReorderAndUpcastAttn       bool     `json:"reorder_and_upcast_attn"`
	AddCrossAttention          bool     `json:"add_cross_attention"`
	TieWordEmbeddings          *bool    `json:"tie_word_embeddings"`
}

// pdrop maps a dropout probability read from JSON to the config's
// convention: absent is the default, an explicit 0 is none.
func pdrop(p *float64) float64 {
	switch {
	case p == nil:
		return 0
	case *p == 0:
		return -1
	}
	return *p
}

// LoadGPT2Config reads a Hugging Face GPT-2 config.json. Options that
// change the model's math and that GPT2 does not implement
// (scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn,
// add_cross_attention, scale_attn_weights=false, untied embeddings) are
// errors.
func LoadGPT2Config(path string) (GPT2Config, error) {
	var h hfGPT2Config
	if err := readJSON(path, &h); err != nil {
		return GPT2Config{}, err
	}
	switch {
	case h.ModelType != "" && h.ModelType != "gpt2":
		return GPT2Config{}, fmt.Errorf("text: %s: model_type %q is not gpt2", path, h.ModelType)
	case h.ScaleAttnByInverseLayerIdx, h.ReorderAndUpcastAttn, h.AddCrossAttention,
		h.ScaleAttnWeights != nil && !*h.ScaleAttnWeights, h.TieWordEmbeddings != nil && !*h.TieWordEmbeddings:
		return GPT2Config{}, fmt.Errorf("text: %s: unsupported GPT-2 option (scale_attn_by_inverse_layer_idx, reorder_and_upcast_attn, add_cross_attention, scale_attn_weights=false or tie_word_embeddings=false)", path)
	}
	c := GPT2Config{
		VocabSize: h.VocabSize, NPositions: h.NPositions, NEmbd: h.NEmbd, NLayer: h.NLayer, NHead: h.NHead,
		Activation: h.ActivationFunction, LayerNormEps: h.LayerNormEpsilon, InitializerRange: h.InitializerRange,
		ResidPdrop: pdrop(h.ResidPdrop), EmbdPdrop: pdrop(h.EmbdPdrop), AttnPdrop: pdrop(h.AttnPdrop),
	}
	if c.NPositions == 0 {
		c.NPositions = h.NCtx
	}
	if h.NInner != nil {
		c.NInner = *h.NInner
	}
	if err := tensor.Try(func() { c.withDefaults().check() }); err != nil {
		return GPT2Config{}, fmt.Errorf("text: %s: %w", path, err)
	}
	return c, nil
}

type hfBERTConfig struct {
	ModelType                 string   `json:"model_type"`
	VocabSize                 int      `json:"vocab_size"`
	HiddenSize                int      `json:"hidden_size"`
	NumHiddenLayers           int      `json:"num_hidden_layers"`
	NumAttentionHeads         int      `json:"num_attention_heads"`
	IntermediateSize          int      `json:"intermediate_size"`
	HiddenAct                 string   `json:"hidden_act"`
	HiddenDropoutProb         *float64 `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb *float64 `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings     int      `json:"max_position_embeddings"`
	TypeVocabSize             int      `json:"type_vocab_size"`
	LayerNormEps              float64  `json:"layer_norm_eps"`
	InitializerRange          float64  `json:"initializer_range"`
	PadTokenID                *int     `json:"pad_token_id"`
	PositionEmbeddingType     string   `json:"position_embedding_type"`
	IsDecoder                 bool     `json:"is_decoder"`
}

// LoadBERTConfig reads a Hugging Face BERT config.json. Relative position
// embeddings and decoder use are errors: BERT implements the absolute
// positions of the released encoders.
func LoadBERTConfig(path string) (BERTConfig, error) {
	var h hfBERTConfig
	if err := readJSON(path, &h); err != nil {
		return BERTConfig{}, err
	}
	switch {
	case h.ModelType != "" && h.ModelType != "bert":
		return BERTConfig{}, fmt.Errorf("text: %s: model_type %q is not bert", path, h.ModelType)
	case h.PositionEmbeddingType != "" && h.PositionEmbeddingType != "absolute", h.IsDecoder:
		return BERTConfig{}, fmt.Errorf("text: %s: unsupported BERT option (position_embedding_type %q, is_decoder %v)", path, h.PositionEmbeddingType, h.IsDecoder)
	}
	c := BERTConfig{
		VocabSize: h.VocabSize, HiddenSize: h.HiddenSize, NumHiddenLayers: h.NumHiddenLayers,
		NumAttentionHeads: h.NumAttentionHeads, IntermediateSize: h.IntermediateSize,
		MaxPositionEmbeddings: h.MaxPositionEmbeddings, TypeVocabSize: h.TypeVocabSize,
		HiddenAct: h.HiddenAct, LayerNormEps: h.LayerNormEps, InitializerRange: h.InitializerRange,
		HiddenDropoutProb: pdrop(h.HiddenDropoutProb), AttentionProbsDropoutProb: pdrop(h.AttentionProbsDropoutProb),
	}
	if h.PadTokenID != nil {
		c.PadTokenID = *h.PadTokenID
	}
	if err := tensor.Try(func() { c.withDefaults().check() }); err != nil {
		return BERTConfig{}, fmt.Errorf("text: %s: %w", path, err)
	}
	return c, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("text: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("text: %s: %w", path, err)
	}
	return nil
}
