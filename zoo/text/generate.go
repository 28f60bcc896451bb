package text

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/tapir-ml/tapir/tensor"
)

// GenerateConfig holds the options of [GPT2.Generate]. The zero value is
// Hugging Face's default: greedy decoding of up to 20 new tokens.
type GenerateConfig struct {
	// MaxNewTokens is the number of tokens to add to each sequence (fewer
	// if every sequence ends early); 0 means 20.
	MaxNewTokens int
	// Sample draws each token from the model's distribution, reshaped by
	// Temperature, TopK and TopP (Hugging Face's do_sample). Without it
	// decoding is greedy: the most likely token, the first on ties, and
	// the three options below are ignored.
	Sample bool
	// Temperature divides the logits; 0 means 1. Below 1 sharpens the
	// distribution, above 1 flattens it.
	Temperature float64
	// TopK keeps the K most likely tokens, and all those tied with the
	// K-th; 0 keeps all.
	TopK int
	// TopP keeps the nucleus: the most likely tokens whose probabilities,
	// after Temperature and TopK, first add up to at least TopP (always at
	// least one token); 0 or 1 keeps all.
	TopP float64
	// EOS lists the token ids that end a sequence. A sequence that has
	// ended is padded with EOS[0] while the others go on; generation
	// stops when all have ended.
	EOS []int
	// Generator draws the samples; nil means tensor.DefaultGenerator().
	// The same seed, prompt and options give the same tokens.
	Generator *tensor.Generator
}

// Generate continues each sequence of ids ([B, T] integers, or a 1-d [T]
// prompt) with new tokens, decoding incrementally through a [KVCache],
// and returns the prompts with their continuations: Int64 [B, T+n], or
// [T+n] for a 1-d prompt, where n ≤ MaxNewTokens. It records nothing for
// autograd. A bad prompt or option (or a prompt whose continuation would
// pass NPositions) is an error.
//
// Generate uses the model as it is: put it in eval mode first (nn.Eval)
// unless dropout is wanted. All prompts in a batch have the same length;
// there is no attention mask for padded prompts.
func (m *GPT2) Generate(ids *tensor.Tensor, cfg GenerateConfig) (*tensor.Tensor, error) {
	c, err := m.checkGenerate(ids, cfg)
	if err != nil {
		return nil, err
	}
	one := ids.Dim() == 1
	if one {
		ids = ids.Unsqueeze(0)
	}
	b, t := ids.Size(0), ids.Size(1)
	prompt := ids.To(tensor.Int64).Int64s()
	rows := make([][]int64, b)
	for r := range rows {
		rows[r] = append(make([]int64, 0, t+c.MaxNewTokens), prompt[r*t:(r+1)*t]...)
	}
	gen := c.Generator
	if gen == nil {
		gen = tensor.DefaultGenerator()
	}
	dev := ids.Device()
	err = tensor.Try(func() {
		tensor.WithGradEnabled(false, func() {
			cache := m.NewCache()
			logits := m.ForwardCached(ids, cache)
			done := make([]bool, b)
			next := make([]int64, b)
			for step := range c.MaxNewTokens {
				last := logits.Select(1, logits.Size(1)-1).Float64s() // [B, V]
				v := len(last) / b
				var us []float64
				if c.Sample {
					us = gen.Uniform(tensor.Float64, 0, 1, b).Float64s()
				}
				all := true
				for r := range b {
					if done[r] {
						next[r] = int64(c.EOS[0])
						continue
					}
					row := last[r*v : (r+1)*v]
					var tok int
					if c.Sample {
						tok = pick(warp(row, c.Temperature, c.TopK, c.TopP), us[r])
						if tok < 0 { // no finite logits to sample from
							tok = argmax(row)
						}
					} else {
						tok = argmax(row)
					}
					next[r] = int64(tok)
					done[r] = slices.Contains(c.EOS, tok)
					all = all && done[r]
				}
				for r := range b {
					rows[r] = append(rows[r], next[r])
				}
				if all || step == c.MaxNewTokens-1 {
					break
				}
				logits = m.ForwardCached(tensor.FromSlice(next, b, 1).ToDevice(dev), cache)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("text: generate: %w", err)
	}
	flat := make([]int64, 0, b*len(rows[0]))
	for _, r := range rows {
		flat = append(flat, r...)
	}
	out := tensor.FromSlice(flat, b, len(rows[0])).ToDevice(dev)
	if one {
		out = out.Squeeze(0)
	}
	return out, nil
}

// checkGenerate validates the prompt and fills in cfg's defaults.
func (m *GPT2) checkGenerate(ids *tensor.Tensor, cfg GenerateConfig) (GenerateConfig, error) {
	c := cfg
	fail := func(format string, args ...any) (GenerateConfig, error) {
		return c, fmt.Errorf("text: generate: "+format, args...)
	}
	if ids == nil {
		return fail("no prompt")
	}
	if (ids.Dim() != 1 && ids.Dim() != 2) || ids.DType().IsFloat() || ids.DType() == tensor.Bool {
		return fail("the prompt must be integer ids [B, T] or [T], not %v %v", ids.DType(), ids.Shape())
	}
	if ids.Numel() == 0 {
		return fail("empty prompt %v", ids.Shape())
	}
	if c.MaxNewTokens == 0 {
		c.MaxNewTokens = 20
	}
	if c.Temperature == 0 {
		c.Temperature = 1
	}
	if c.TopP == 0 {
		c.TopP = 1
	}
	switch {
	case c.MaxNewTokens < 0:
		return fail("MaxNewTokens is negative (%d)", c.MaxNewTokens)
	case !(c.Temperature > 0) || math.IsInf(c.Temperature, 0):
		return fail("Temperature must be positive and finite, not %v", c.Temperature)
	case c.TopK < 0:
		return fail("TopK is negative (%d)", c.TopK)
	case !(c.TopP > 0 && c.TopP <= 1):
		return fail("TopP must be in (0, 1], not %v", c.TopP)
	}
	vocab := m.Config.VocabSize
	for _, e := range c.EOS {
		if e < 0 || e >= vocab {
			return fail("EOS id %d is outside the vocabulary of %d", e, vocab)
		}
	}
	t := ids.Size(-1)
	if n := m.Transformer.WPE.NumEmbeddings; t+c.MaxNewTokens > n {
		return fail("a prompt of %d tokens and %d new ones pass the model's %d positions", t, c.MaxNewTokens, n)
	}
	for _, id := range ids.To(tensor.Int64).Int64s() {
		if id < 0 || id >= int64(vocab) {
			return fail("prompt id %d is outside the vocabulary of %d", id, vocab)
		}
	}
	return c, nil
}

// argmax returns the index of the largest value, the first on ties (as
// torch.argmax). NaN counts as largest, as in torch.
func argmax(row []float64) int {
	best := 0
	for i, x := range row {
		if x > row[best] || (x != x && row[best] == row[best]) {
			best = i
		}
	}
	return best
}

// warp turns one row of logits into the sampling distribution that
// Hugging Face's temperature, top-k and top-p warpers, applied in that
// order, then a softmax, give: probabilities that sum to 1, exactly 0
// for the tokens filtered out.
func warp(logits []float64, temperature float64, topK int, topP float64) []float64 {
	n := len(logits)
	s := make([]float64, n)
	for i, x := range logits {
		s[i] = x / temperature
	}
	keep := make([]bool, n)
	for i := range keep {
		keep[i] = !math.IsNaN(s[i])
	}
	if topK > 0 && topK < n {
		sorted := slices.Clone(s)
		sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
		kth := sorted[topK-1]
		for i, x := range s {
			if x < kth {
				keep[i] = false // ties with the k-th stay, as in HF's scores < kth
			}
		}
	}
	probs := softmaxKept(s, keep)
	if topP < 1 {
		order := make([]int, 0, n)
		for i := range n {
			if keep[i] {
				order = append(order, i)
			}
		}
		sort.SliceStable(order, func(a, b int) bool { return probs[order[a]] > probs[order[b]] })
		// HF removes a token when the probability mass of the tokens
		// ranked below it, itself included, is at most 1−p: keep it
		// while the mass ranked above it is below p.
		above := 0.0
		for r, i := range order {
			if r > 0 && above >= topP {
				keep[i] = false
			}
			above += probs[i]
		}
		probs = softmaxKept(s, keep)
	}
	return probs
}

// softmaxKept is the softmax of s over the kept entries, 0 elsewhere.
func softmaxKept(s []float64, keep []bool) []float64 {
	mx := math.Inf(-1)
	for i, x := range s {
		if keep[i] && x > mx {
			mx = x
		}
	}
	p := make([]float64, len(s))
	sum := 0.0
	for i, x := range s {
		if keep[i] {
			p[i] = math.Exp(x - mx)
			sum += p[i]
		}
	}
	for i := range p {
		p[i] /= sum
	}
	return p
}

// pick returns the index whose cumulative probability interval holds u in
// [0, 1): inverse-CDF sampling from probs. A token of probability 0 is
// never picked.
func pick(probs []float64, u float64) int {
	cum, last := 0.0, -1
	for i, p := range probs {
		if p <= 0 {
			continue
		}
		cum += p
		last = i
		if u < cum {
			return i
		}
	}
	return last // rounding left u just above the total; -1 if nothing can be drawn
}
