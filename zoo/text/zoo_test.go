package text_test

import (
	"math"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/tensor/safetensors"
	"github.com/tapir-ml/tapir/zoo"
)

// The re-exports in package zoo load the same checkpoint from torch.save's
// .pt file (lm_head sharing wte's storage, as in pytorch_model.bin) and
// from safetensors, and give torch's logits and greedy tokens.
func TestZooLoadsGPT2(t *testing.T) {
	cfg, err := zoo.LoadGPT2Config("testdata/gpt2_config.json")
	if err != nil {
		t.Fatal(err)
	}
	io, _, err := safetensors.Load("testdata/gpt2_io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"testdata/gpt2.pt", "testdata/gpt2.safetensors"} {
		m, err := zoo.LoadGPT2(path, cfg)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		got, want := m.Forward(io["input_ids"]).Float64s(), io["logits"].Float64s()
		for i := range want {
			if d := math.Abs(got[i] - want[i]); d > 1e-5+1e-4*math.Abs(want[i]) {
				t.Errorf("%s: logit %d: %v, torch %v", path, i, got[i], want[i])
				break
			}
		}
		out, err := m.Generate(io["prompt"], zoo.GenerateConfig{MaxNewTokens: 20})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out.Int64s(), io["greedy"].Int64s()) {
			t.Errorf("%s: greedy %v, torch %v", path, out.Int64s(), io["greedy"].Int64s())
		}
	}
	bcfg, err := zoo.LoadBERTConfig("testdata/bert_config.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zoo.LoadBERT("testdata/gpt2.pt", bcfg); err == nil {
		t.Error("GPT-2 weights loaded into BERT")
	}
	if _, err := zoo.LoadBERT("testdata/bert.safetensors", bcfg); err != nil {
		t.Error(err)
	}
	tok, err := zoo.LoadTokenizer("testdata/vocab.json", "testdata/merges.txt")
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != cfg.VocabSize {
		t.Errorf("tokenizer vocabulary %d, model %d", tok.VocabSize(), cfg.VocabSize)
	}
}
