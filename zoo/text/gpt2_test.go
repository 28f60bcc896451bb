package text

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// Logits are compared at rtol 1e-4 with a small absolute floor for
// logits near zero (float32 sums of a different order).
const (
	rtol = 1e-4
	atol = 1e-5
)

func fixtureGPT2(t testing.TB) *GPT2 {
	t.Helper()
	cfg, err := LoadGPT2Config("testdata/gpt2_config.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadGPT2("testdata/gpt2.safetensors", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGPT2LogitsMatchTorch(t *testing.T) {
	m := fixtureGPT2(t)
	io := readFixture(t, "gpt2_io.safetensors")
	var logits *tensor.Tensor
	tensor.WithGradEnabled(false, func() { logits = m.Forward(io["input_ids"]) })
	assertClose(t, "logits", logits, io["logits"], rtol, atol)

	// A 1-d input is one sequence.
	row := m.Forward(io["input_ids"].Select(0, 1))
	assertClose(t, "1-d logits", row, io["logits"].Select(0, 1), rtol, atol)

	// In float64 too, through the cache as well.
	nn.To(m, tensor.Float64)
	logits = m.Forward(io["input_ids"])
	if logits.DType() != tensor.Float64 {
		t.Errorf("float64 model gives %v logits", logits.DType())
	}
	assertClose(t, "float64 logits", logits, io["logits"], rtol, atol)
	out, err := m.Generate(io["prompt"], GenerateConfig{})
	if err != nil || !slices.Equal(ints(out), ints(io["greedy"])) {
		t.Errorf("float64 greedy: %v, %v", err, out)
	}
}

func TestGPT2GreedyMatchesTorch(t *testing.T) {
	m := fixtureGPT2(t)
	io := readFixture(t, "gpt2_io.safetensors")
	for _, c := range []struct{ prompt, want string }{{"prompt", "greedy"}, {"prompt1", "greedy1"}} {
		out, err := m.Generate(io[c.prompt], GenerateConfig{MaxNewTokens: 20})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ints(out), ints(io[c.want]); !slices.Equal(got, want) {
			t.Errorf("%s: greedy tokens\n%v, torch gives\n%v", c.prompt, got, want)
		}
		if !slices.Equal(out.Shape(), io[c.want].Shape()) {
			t.Errorf("%s: shape %v, want %v", c.prompt, out.Shape(), io[c.want].Shape())
		}
	}
	// The zero config is 20 greedy tokens too, and a 1-d prompt gives a
	// 1-d result.
	out, err := m.Generate(io["prompt1"].Select(0, 0), GenerateConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ints(out), ints(io["greedy1"]); !slices.Equal(got, want) || out.Dim() != 1 {
		t.Errorf("1-d prompt: %v %v, want %v", out.Shape(), got, want)
	}
}

// Each cached decoding step's logits match torch's cached step (which the
// generator checked against full recomputation).
func TestGPT2CachedStepsMatchTorch(t *testing.T) {
	m := fixtureGPT2(t)
	io := readFixture(t, "gpt2_io.safetensors")
	greedy, steps := io["greedy"], io["step_logits"]
	p := io["prompt"].Size(1)
	cache := m.NewCache()
	tensor.WithGradEnabled(false, func() {
		logits := m.ForwardCached(io["prompt"], cache)
		for s := range steps.Size(1) {
			assertClose(t, "step logits", logits.Select(1, logits.Size(1)-1), steps.Select(1, s), rtol, atol)
			if cache.Len() != p+s {
				t.Fatalf("step %d: cache.Len() = %d, want %d", s, cache.Len(), p+s)
			}
			logits = m.ForwardCached(greedy.Narrow(1, p+s, 1), cache)
		}
	})
}

// testGPT2 is a small random GPT-2 for property tests.
func testGPT2(seed uint64) *GPT2 {
	m := NewGPT2(GPT2Config{VocabSize: 61, NPositions: 40, NEmbd: 24, NLayer: 3, NHead: 3,
		InitializerRange: 0.3, Generator: tensor.NewGenerator(seed)})
	nn.Eval(m)
	return m
}

// Decoding through the KV cache, in chunks of any length, gives the logits
// of a full pass over the whole sequence.
func TestGPT2CacheEqualsRecompute(t *testing.T) {
	m := testGPT2(1)
	ids := tensor.NewGenerator(2).RandInt(0, 61, 2, 30)
	full := m.Forward(ids)
	for _, chunks := range [][]int{
		{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		{5, 1, 1, 3, 2, 7, 1, 10},
		{17, 13},
		{30},
	} {
		cache := m.NewCache()
		at := 0
		tensor.WithGradEnabled(false, func() {
			for _, n := range chunks {
				got := m.ForwardCached(ids.Narrow(1, at, n), cache)
				if _, _, err := closeTo(got, full.Narrow(1, at, n), 1e-5, 1e-5); err != nil {
					t.Errorf("chunks %v: positions %d..%d: %v", chunks, at, at+n, err)
				}
				at += n
			}
		})
		if cache.Len() != 30 {
			t.Errorf("chunks %v: cache.Len() = %d", chunks, cache.Len())
		}
	}
	// With autograd recording, the cache concatenates instead of writing
	// in place, and gradients flow through it.
	cache := m.NewCache()
	a := m.ForwardCached(ids.Narrow(1, 0, 20), cache)
	b := m.ForwardCached(ids.Narrow(1, 20, 10), cache)
	if _, _, err := closeTo(b, full.Narrow(1, 20, 10), 1e-5, 1e-5); err != nil {
		t.Errorf("recording: %v", err)
	}
	a.Sum().Add(b.Sum()).Backward()
	if g := m.Transformer.H[0].Attn.CAttn.Weight.Grad(); g == nil {
		t.Error("no gradient reached c_attn through the cache")
	}
}

// Greedy generation through the cache equals a loop of full forward
// passes that appends the argmax each time.
func TestGPT2GenerateEqualsNaiveLoop(t *testing.T) {
	m := testGPT2(3)
	prompt := tensor.NewGenerator(4).RandInt(0, 61, 3, 4)
	out, err := m.Generate(prompt, GenerateConfig{MaxNewTokens: 25})
	if err != nil {
		t.Fatal(err)
	}
	ids := prompt
	for range 25 {
		last := m.Forward(ids).Select(1, ids.Size(1)-1)
		ids = tensor.Cat([]*tensor.Tensor{ids, last.ArgMax(-1).Unsqueeze(1)}, 1)
	}
	if !slices.Equal(ints(out), ints(ids)) {
		t.Errorf("cached greedy %v\nnaive loop    %v", ints(out), ints(ids))
	}
}

func TestGPT2GenerateEOS(t *testing.T) {
	m := fixtureGPT2(t)
	io := readFixture(t, "gpt2_io.safetensors")
	greedy := ints(io["greedy"])
	n := io["greedy"].Size(1)
	p := io["prompt"].Size(1)
	// Row 0's 4th new token ends that row; row 1 goes on, unless it
	// emits the same token.
	eos := int(greedy[p+3])
	out, err := m.Generate(io["prompt"], GenerateConfig{MaxNewTokens: 20, EOS: []int{eos}})
	if err != nil {
		t.Fatal(err)
	}
	got := ints(out)
	w := out.Size(1)
	end1 := slices.Index(greedy[n+p:2*n], int64(eos))
	if end1 < 0 {
		if w != n {
			t.Fatalf("width %d, want %d: row 1 never emits %d", w, n, eos)
		}
		if !slices.Equal(got[w:], greedy[n:]) {
			t.Errorf("row 1: %v, want %v", got[w:], greedy[n:])
		}
	}
	for i := range w {
		want := greedy[i]
		if i > p+3 {
			want = int64(eos)
		}
		if got[i] != want {
			t.Errorf("row 0: %v, want greedy up to the EOS then EOS padding: %v", got[:w], greedy[:n])
			break
		}
	}
	// When every row ends, generation stops.
	one, err := m.Generate(io["prompt"].Narrow(0, 0, 1), GenerateConfig{MaxNewTokens: 20, EOS: []int{eos}})
	if err != nil {
		t.Fatal(err)
	}
	if one.Size(1) != p+4 {
		t.Errorf("one row with EOS at new token 4: length %d, want %d", one.Size(1), p+4)
	}
}

func TestGenerateErrors(t *testing.T) {
	m := testGPT2(1)
	ok := tensor.FromSlice([]int64{1, 2, 3}, 1, 3)
	tests := []struct {
		name string
		ids  *tensor.Tensor
		cfg  GenerateConfig
		want string
	}{
		{"nil", nil, GenerateConfig{}, "no prompt"},
		{"float", tensor.Zeros(1, 3), GenerateConfig{}, "integer"},
		{"3-d", tensor.ZerosOf(tensor.Int64, 1, 1, 3), GenerateConfig{}, "integer"},
		{"empty", tensor.ZerosOf(tensor.Int64, 1, 0), GenerateConfig{}, "empty"},
		{"too long", ok, GenerateConfig{MaxNewTokens: 38}, "positions"},
		{"negative", ok, GenerateConfig{MaxNewTokens: -1}, "negative"},
		{"temperature", ok, GenerateConfig{Sample: true, Temperature: -1}, "Temperature"},
		{"top-p", ok, GenerateConfig{Sample: true, TopP: 1.5}, "TopP"},
		{"top-k", ok, GenerateConfig{Sample: true, TopK: -2}, "TopK"},
		{"eos", ok, GenerateConfig{EOS: []int{61}}, "EOS"},
		{"id", tensor.FromSlice([]int64{1, 99}, 1, 2), GenerateConfig{}, "outside the vocabulary"},
	}
	for _, tc := range tests {
		_, err := m.Generate(tc.ids, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "text: generate: ") {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := m.Generate(ok, GenerateConfig{MaxNewTokens: 37}); err != nil {
		t.Errorf("exactly filling the context: %v", err)
	}
	// Forward panics with a *tensor.Error past the context.
	err := tensor.Try(func() { m.Forward(tensor.ZerosOf(tensor.Int64, 1, 41)) })
	if !errors.Is(err, tensor.ErrIndex) {
		t.Errorf("41 tokens in 40 positions: %v", err)
	}
}

// gpt2Keys are Hugging Face's GPT2LMHeadModel state-dict keys for a
// 2-layer model, less the attention-mask buffers.
func gpt2Keys(t *testing.T) []string {
	sd := readFixture(t, "gpt2.safetensors")
	var keys []string
	for k := range sd {
		if !strings.HasSuffix(k, ".attn.bias") && !strings.HasSuffix(k, "masked_bias") {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func TestGPT2Names(t *testing.T) {
	m := NewGPT2(GPT2Config{VocabSize: 557, NPositions: 32, NEmbd: 32, NLayer: 2, NHead: 2})
	keys := nn.StateDictKeys(m)
	sorted := slices.Sorted(slices.Values(keys))
	if want := gpt2Keys(t); !slices.Equal(sorted, want) {
		t.Errorf("state dict keys\n%q\nHugging Face's\n%q", sorted, want)
	}
	sd := nn.StateDict(m)
	if s := sd["transformer.h.0.attn.c_attn.weight"].Shape(); !slices.Equal(s, []int{32, 96}) {
		t.Errorf("c_attn.weight shape %v, want Conv1D's [32 96]", s)
	}
	if !m.LMHead.Weight.SharesStorage(m.Transformer.WTE.Weight.Tensor) {
		t.Error("lm_head is not tied to wte")
	}
	if n := len(nn.Parameters(m)); n != len(keys)-1 {
		t.Errorf("%d parameters for %d keys: the tied head should count once", n, len(keys))
	}
}

func TestGPT2StateDictVariants(t *testing.T) {
	full := readFixture(t, "gpt2.safetensors")
	io := readFixture(t, "gpt2_io.safetensors")
	cfg, err := LoadGPT2Config("testdata/gpt2_config.json")
	if err != nil {
		t.Fatal(err)
	}
	without := func(sd map[string]*tensor.Tensor, drop func(string) bool) map[string]*tensor.Tensor {
		out := map[string]*tensor.Tensor{}
		for k, v := range sd {
			if !drop(k) {
				out[k] = v
			}
		}
		return out
	}
	noHead := without(full, func(k string) bool { return k == "lm_head.weight" })
	noBuffers := without(full, func(k string) bool { return strings.HasSuffix(k, ".attn.bias") || strings.HasSuffix(k, "masked_bias") })
	bare := map[string]*tensor.Tensor{} // GPT2Model's keys, as the hub's "gpt2" checkpoint
	for k, v := range noHead {
		bare[strings.TrimPrefix(k, "transformer.")] = v
	}
	f16 := map[string]*tensor.Tensor{}
	for k, v := range noBuffers {
		f16[k] = v.To(tensor.Float64)
	}
	for name, sd := range map[string]map[string]*tensor.Tensor{
		"full": full, "no lm_head": noHead, "no buffers": noBuffers, "GPT2Model keys": bare, "float64": f16,
	} {
		m := NewGPT2(cfg)
		nn.Eval(m)
		if err := m.LoadStateDict(sd); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		assertClose(t, name, m.Forward(io["input_ids"]), io["logits"], rtol, atol)
	}

	bad := func(name string, sd map[string]*tensor.Tensor, want ...string) {
		t.Helper()
		m := NewGPT2(cfg)
		before := m.Transformer.WTE.Weight.Float32s()
		err := m.LoadStateDict(sd)
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to mention %q", name, err, w)
			}
		}
		if !slices.Equal(before, m.Transformer.WTE.Weight.Float32s()) {
			t.Errorf("%s: a failed load changed the weights", name)
		}
	}
	untied := maps.Clone(full)
	untied["lm_head.weight"] = full["lm_head.weight"].MulScalar(2)
	bad("untied head", untied, "lm_head.weight", "tie")
	missing := maps.Clone(noHead)
	delete(missing, "transformer.h.1.mlp.c_fc.bias")
	delete(missing, "transformer.ln_f.weight")
	bad("missing", missing, "missing keys", "transformer.h.1.mlp.c_fc.bias", "transformer.ln_f.weight")
	extra := maps.Clone(noHead)
	extra["transformer.h.2.ln_1.weight"] = tensor.Ones(32)
	bad("unexpected", extra, "unexpected keys", "transformer.h.2.ln_1.weight")
	shaped := maps.Clone(noHead)
	shaped["transformer.h.0.attn.c_attn.weight"] = full["transformer.h.0.attn.c_attn.weight"].T()
	bad("transposed Conv1D", shaped, "c_attn.weight", "[96 32]")
	twice := maps.Clone(noHead)
	twice["wpe.weight"] = full["transformer.wpe.weight"]
	bad("two names for one key", twice, "wpe.weight")

	var le *nn.LoadError
	if err := NewGPT2(cfg).LoadStateDict(missing); !errors.As(err, &le) || len(le.Missing) != 2 {
		t.Errorf("missing keys: %v, want an *nn.LoadError with 2 missing", err)
	}
	if _, err := LoadGPT2("testdata/absent.safetensors", cfg); err == nil {
		t.Error("absent file: no error")
	}
	if _, err := LoadGPT2("testdata/bert.safetensors", cfg); err == nil || !strings.Contains(err.Error(), "unexpected") {
		t.Errorf("BERT weights into GPT2: %v", err)
	}
}

func TestGPT2Config(t *testing.T) {
	cfg, err := LoadGPT2Config("testdata/gpt2_config.json")
	if err != nil {
		t.Fatal(err)
	}
	want := GPT2Config{VocabSize: 557, NPositions: 32, NEmbd: 32, NLayer: 2, NHead: 2, Activation: "gelu_new",
		LayerNormEps: 1e-5, ResidPdrop: 0.1, EmbdPdrop: 0.1, AttnPdrop: 0.1, InitializerRange: 0.02}
	if cfg != want {
		t.Errorf("LoadGPT2Config = %+v, want %+v", cfg, want)
	}
	if d := (GPT2Config{}).withDefaults(); d != GPT2Small() {
		t.Errorf("zero config = %+v, want GPT2Small %+v", d, GPT2Small())
	}
	if p := (GPT2Config{ResidPdrop: -1}).withDefaults(); p.ResidPdrop != 0 || p.AttnPdrop != 0.1 {
		t.Errorf("negative dropout: %+v", p)
	}
	for _, bad := range []GPT2Config{{NEmbd: 30, NHead: 4}, {Activation: "swoosh"}, {NLayer: -1}} {
		if err := tensor.Try(func() { NewGPT2(bad) }); err == nil {
			t.Errorf("NewGPT2(%+v): no panic", bad)
		}
	}
	for _, js := range []string{
		`{"model_type": "bert"}`, `{"scale_attn_by_inverse_layer_idx": true}`, `{"tie_word_embeddings": false}`,
		`{"n_embd": 30, "n_head": 4}`, `{"n_embd": `,
	} {
		path := t.TempDir() + "/config.json"
		if err := writeFile(path, js); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadGPT2Config(path); err == nil {
			t.Errorf("config %s: no error", js)
		}
	}
}

// One model serves concurrent generations, each with its own cache, and
// concurrent BERT passes: the results are those of sequential calls.
func TestConcurrentInference(t *testing.T) {
	m := fixtureGPT2(t)
	bert := fixtureBERT(t)
	io := readFixture(t, "gpt2_io.safetensors")
	bio := readFixture(t, "bert_io.safetensors")
	want := ints(io["greedy"])
	seqWant := bio["sequence_output"]
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g%2 == 0 {
				out, err := m.Generate(io["prompt"], GenerateConfig{MaxNewTokens: 20})
				if err != nil || !slices.Equal(ints(out), want) {
					t.Errorf("goroutine %d: %v %v", g, err, out)
				}
				return
			}
			seq, _ := bert.Forward(bio["input_ids"], bio["token_type_ids"], bio["attention_mask"])
			if _, _, err := closeTo(seq, seqWant, rtol, atol); err != nil {
				t.Errorf("goroutine %d: %v", g, err)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkGPT2Decode(b *testing.B) {
	m := NewGPT2(GPT2Config{VocabSize: 1000, NPositions: 256, NEmbd: 128, NLayer: 4, NHead: 4, Generator: tensor.NewGenerator(1)})
	nn.Eval(m)
	prompt := tensor.NewGenerator(2).RandInt(0, 1000, 1, 8)
	for b.Loop() {
		if _, err := m.Generate(prompt, GenerateConfig{MaxNewTokens: 64}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Seconds())/float64(b.N)/64*1e3, "ms/token")
}
