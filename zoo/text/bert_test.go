package text

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

func fixtureBERT(t testing.TB) *BERT {
	t.Helper()
	cfg, err := LoadBERTConfig("testdata/bert_config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadBERT("testdata/bert.safetensors", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBERTMatchesTorch(t *testing.T) {
	m := fixtureBERT(t)
	io := readFixture(t, "bert_io.safetensors")
	seq, pooled := m.Forward(io["input_ids"], io["token_type_ids"], io["attention_mask"])
	assertClose(t, "sequence output", seq, io["sequence_output"], rtol, atol)
	assertClose(t, "pooled output", pooled, io["pooled_output"], rtol, atol)

	// nil token types are all 0, a nil mask all 1.
	seq, pooled = m.Forward(io["input_ids"], nil, nil)
	assertClose(t, "sequence output, defaults", seq, io["sequence_output_defaults"], rtol, atol)
	assertClose(t, "pooled output, defaults", pooled, io["pooled_output_defaults"], rtol, atol)

	// A Bool mask and Int32 ids work the same.
	seq, _ = m.Forward(io["input_ids"].To(tensor.Int32), io["token_type_ids"], io["attention_mask"].To(tensor.Bool))
	assertClose(t, "Bool mask", seq, io["sequence_output"], rtol, atol)

	nn.To(m, tensor.Float64)
	seq, pooled = m.Forward(io["input_ids"], io["token_type_ids"], io["attention_mask"])
	assertClose(t, "float64 sequence output", seq, io["sequence_output"], rtol, atol)
	assertClose(t, "float64 pooled output", pooled, io["pooled_output"], rtol, atol)
}

func TestBERTNames(t *testing.T) {
	m := NewBERT(BERTConfig{VocabSize: 97, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4,
		IntermediateSize: 64, MaxPositionEmbeddings: 40})
	sd := readFixture(t, "bert.safetensors")
	delete(sd, "embeddings.position_ids")
	want := slices.Sorted(maps.Keys(sd))
	got := slices.Sorted(slices.Values(nn.StateDictKeys(m)))
	if !slices.Equal(got, want) {
		t.Errorf("state dict keys\n%q\nHugging Face's\n%q", got, want)
	}
	if !slices.Contains(got, "encoder.layer.1.attention.output.LayerNorm.weight") {
		t.Error("no capitalized LayerNorm key")
	}
	if w := m.Embeddings.WordEmbeddings.Weight; w.Select(0, 0).Abs().Sum().Item() != 0 {
		t.Error("the padding row of the word embeddings is not zero")
	}
}

func TestBERTStateDictVariants(t *testing.T) {
	full := readFixture(t, "bert.safetensors")
	io := readFixture(t, "bert_io.safetensors")
	cfg, err := LoadBERTConfig("testdata/bert_config.json")
	if err != nil {
		t.Fatal(err)
	}
	// BertForMaskedLM-style: "bert." prefix, a head, legacy gamma/beta.
	task := map[string]*tensor.Tensor{"cls.predictions.bias": tensor.Zeros(97), "cls.predictions.transform.dense.weight": tensor.Zeros(32, 32)}
	for k, v := range full {
		k = strings.Replace(k, "LayerNorm.weight", "LayerNorm.gamma", 1)
		k = strings.Replace(k, "LayerNorm.bias", "LayerNorm.beta", 1)
		task["bert."+k] = v
	}
	noBuffer := maps.Clone(full)
	delete(noBuffer, "embeddings.position_ids")
	for name, sd := range map[string]map[string]*tensor.Tensor{"full": full, "task model": task, "no position_ids": noBuffer} {
		m := NewBERT(cfg)
		nn.Eval(m)
		if err := m.LoadStateDict(sd); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		seq, pooled := m.Forward(io["input_ids"], io["token_type_ids"], io["attention_mask"])
		assertClose(t, name, seq, io["sequence_output"], rtol, atol)
		assertClose(t, name+" pooled", pooled, io["pooled_output"], rtol, atol)
	}

	// Without a pooler, the pooler's weights are skipped.
	np := cfg
	np.NoPooler = true
	m, err := LoadBERT("testdata/bert.safetensors", np)
	if err != nil {
		t.Fatal(err)
	}
	seq, pooled := m.Forward(io["input_ids"], io["token_type_ids"], io["attention_mask"])
	if pooled != nil {
		t.Error("NoPooler: pooled output is not nil")
	}
	assertClose(t, "no pooler", seq, io["sequence_output"], rtol, atol)

	missing := maps.Clone(full)
	delete(missing, "encoder.layer.1.attention.self.key.bias")
	delete(missing, "pooler.dense.weight")
	if err := NewBERT(cfg).LoadStateDict(missing); err == nil || !strings.Contains(err.Error(), "encoder.layer.1.attention.self.key.bias") ||
		!strings.Contains(err.Error(), "pooler.dense.weight") {
		t.Errorf("missing keys: %v", err)
	}
	extra := maps.Clone(full)
	extra["cls.predictions.bias"] = tensor.Zeros(97) // a head without the "bert." prefix is not skipped
	if err := NewBERT(cfg).LoadStateDict(extra); err == nil || !strings.Contains(err.Error(), "cls.predictions.bias") {
		t.Errorf("unexpected key: %v", err)
	}
	small := cfg
	small.VocabSize = 96
	if _, err := LoadBERT("testdata/bert.safetensors", small); err == nil || !strings.Contains(err.Error(), "word_embeddings") {
		t.Errorf("wrong vocabulary size: %v", err)
	}
}

func TestBERTConfig(t *testing.T) {
	cfg, err := LoadBERTConfig("testdata/bert_config.json")
	if err != nil {
		t.Fatal(err)
	}
	want := BERTConfig{VocabSize: 97, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 64,
		MaxPositionEmbeddings: 40, TypeVocabSize: 2, HiddenAct: "gelu", LayerNormEps: 1e-12,
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, InitializerRange: 0.02}
	if cfg != want {
		t.Errorf("LoadBERTConfig = %+v, want %+v", cfg, want)
	}
	if d := (BERTConfig{}).withDefaults(); d != BERTBase() {
		t.Errorf("zero config = %+v, want BERTBase %+v", d, BERTBase())
	}
	for _, js := range []string{`{"model_type": "gpt2"}`, `{"position_embedding_type": "relative_key"}`, `{"hidden_act": "swoosh"}`} {
		path := t.TempDir() + "/config.json"
		if err := writeFile(path, js); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadBERTConfig(path); err == nil {
			t.Errorf("config %s: no error", js)
		}
	}
	m := fixtureBERT(t)
	for name, f := range map[string]func(){
		"float ids":     func() { m.Forward(tensor.Zeros(1, 3), nil, nil) },
		"mask shape":    func() { m.Forward(tensor.ZerosOf(tensor.Int64, 1, 3), nil, tensor.Ones(1, 4)) },
		"too long":      func() { m.Forward(tensor.ZerosOf(tensor.Int64, 1, 41), nil, nil) },
		"bad head size": func() { NewBERT(BERTConfig{HiddenSize: 30, NumAttentionHeads: 4}) },
	} {
		if err := tensor.Try(f); err == nil {
			t.Errorf("%s: no panic", name)
		}
	}
}

// The model trains: a gradient reaches every parameter, and dropout is on
// in training mode only.
func TestBERTTrains(t *testing.T) {
	m := NewBERT(BERTConfig{VocabSize: 20, HiddenSize: 16, NumHiddenLayers: 1, NumAttentionHeads: 2,
		IntermediateSize: 32, MaxPositionEmbeddings: 8, Generator: tensor.NewGenerator(1)})
	ids := tensor.FromSlice([]int64{1, 2, 3, 4, 5, 6}, 2, 3)
	seq, pooled := m.Forward(ids, nil, nil)
	seq2, _ := m.Forward(ids, nil, nil)
	if slices.Equal(seq.Float32s(), seq2.Float32s()) {
		t.Error("training mode: two passes agree, dropout is off")
	}
	seq.Square().Mean().Add(pooled.Sum()).Backward()
	for _, p := range nn.NamedParameters(m) {
		if p.P.Grad() == nil {
			t.Errorf("%s: no gradient", p.Name)
		}
	}
	nn.Eval(m)
	a, _ := m.Forward(ids, nil, nil)
	b, _ := m.Forward(ids, nil, nil)
	if !slices.Equal(a.Float32s(), b.Float32s()) {
		t.Error("eval mode: two passes differ")
	}
}
