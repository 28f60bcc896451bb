package text

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// samplingFixture is sampling.safetensors: logits rows and, for each
// (temperature, top-k, top-p) setting, the probabilities Hugging Face's
// warpers give (NaN rows are not compared: ties at the nucleus edge).
type samplingFixture struct {
	logits   [][]float64
	settings [][3]float64
	probs    [][][]float64 // [setting][row][token]
}

func loadSampling(t *testing.T) samplingFixture {
	sd := readFixture(t, "sampling.safetensors")
	var f samplingFixture
	lg := sd["logits"]
	rows, v := lg.Size(0), lg.Size(1)
	flat := lg.Float64s()
	for r := range rows {
		f.logits = append(f.logits, flat[r*v:(r+1)*v])
	}
	st := sd["settings"].Float64s()
	for i := 0; i < len(st); i += 3 {
		f.settings = append(f.settings, [3]float64{st[i], st[i+1], st[i+2]})
		p := sd[fmt.Sprintf("probs_%d", i/3)].Float64s()
		var pr [][]float64
		for r := range rows {
			pr = append(pr, p[r*v:(r+1)*v])
		}
		f.probs = append(f.probs, pr)
	}
	return f
}

func TestWarpMatchesHuggingFace(t *testing.T) {
	f := loadSampling(t)
	for i, s := range f.settings {
		for r, row := range f.logits {
			want := f.probs[i][r]
			if math.IsNaN(want[0]) {
				continue
			}
			got := warp(row, s[0], int(s[1]), s[2])
			kept := 0
			for j := range want {
				if (got[j] == 0) != (want[j] == 0) {
					t.Errorf("setting %v row %d token %d: prob %v, HF %v (in or out of the support)", s, r, j, got[j], want[j])
					break
				}
				if math.Abs(got[j]-want[j]) > 1e-6+1e-4*want[j] {
					t.Errorf("setting %v row %d token %d: prob %v, HF %v", s, r, j, got[j], want[j])
					break
				}
				if want[j] > 0 {
					kept++
				}
			}
			t.Logf("setting %v row %d: %d tokens kept", s, r, kept)
		}
	}
}

// Samples never leave the support of Hugging Face's warped distribution,
// and their frequencies follow its probabilities.
func TestSamplingStaysInSupport(t *testing.T) {
	f := loadSampling(t)
	const n = 4000
	gen := tensor.NewGenerator(11)
	for i, s := range f.settings {
		for r, row := range f.logits {
			want := f.probs[i][r]
			if math.IsNaN(want[0]) {
				continue
			}
			probs := warp(row, s[0], int(s[1]), s[2])
			counts := make([]int, len(row))
			for _, u := range gen.Uniform(tensor.Float64, 0, 1, n).Float64s() {
				tok := pick(probs, u)
				if want[tok] == 0 {
					t.Fatalf("setting %v row %d: sampled token %d, outside Hugging Face's top-k/nucleus", s, r, tok)
				}
				counts[tok]++
			}
			for j, p := range want {
				sigma := math.Sqrt(p * (1 - p) / n)
				if d := math.Abs(float64(counts[j])/n - p); d > 5*sigma+1e-3 {
					t.Errorf("setting %v row %d token %d: frequency %v, probability %v", s, r, j, float64(counts[j])/n, p)
				}
			}
		}
	}
}

func TestPickEdges(t *testing.T) {
	probs := []float64{0, 0.25, 0, 0.75, 0}
	for _, c := range []struct {
		u    float64
		want int
	}{{0, 1}, {0.2499, 1}, {0.25, 3}, {0.9999999, 3}, {1, 3}} {
		if got := pick(probs, c.u); got != c.want {
			t.Errorf("pick(%v, %v) = %d, want %d", probs, c.u, got, c.want)
		}
	}
	if got := pick([]float64{0, 0}, 0.5); got != -1 {
		t.Errorf("pick of nothing = %d, want -1", got)
	}
	if got := argmax([]float64{1, 3, 3, 2}); got != 1 {
		t.Errorf("argmax picks the first of ties: %d", got)
	}
}

func TestGenerateSamplingDeterministic(t *testing.T) {
	m := fixtureGPT2(t)
	io := readFixture(t, "gpt2_io.safetensors")
	cfg := func(seed uint64) GenerateConfig {
		return GenerateConfig{Sample: true, Temperature: 0.8, TopK: 20, TopP: 0.9, Generator: tensor.NewGenerator(seed)}
	}
	a, err := m.Generate(io["prompt"], cfg(7))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.Generate(io["prompt"], cfg(7))
	c, _ := m.Generate(io["prompt"], cfg(8))
	if !slices.Equal(ints(a), ints(b)) {
		t.Errorf("same seed, different samples:\n%v\n%v", ints(a), ints(b))
	}
	if slices.Equal(ints(a), ints(c)) {
		t.Errorf("seeds 7 and 8 gave the same 40 samples: %v", ints(a))
	}
	// Top-1 sampling is greedy decoding.
	one, _ := m.Generate(io["prompt"], GenerateConfig{Sample: true, TopK: 1, Generator: tensor.NewGenerator(1)})
	if !slices.Equal(ints(one), ints(io["greedy"])) {
		t.Errorf("top-k 1 sampling %v, greedy %v", ints(one), ints(io["greedy"]))
	}
}

// Every token sampled with top-k is among the k most likely given its
// prefix, as a full forward pass over the prefix ranks them.
func TestGenerateSamplingTopKSupport(t *testing.T) {
	m := fixtureGPT2(t)
	io := readFixture(t, "gpt2_io.safetensors")
	const k = 3
	for seed := range uint64(5) {
		out, err := m.Generate(io["prompt"], GenerateConfig{Sample: true, Temperature: 2, TopK: k, Generator: tensor.NewGenerator(seed)})
		if err != nil {
			t.Fatal(err)
		}
		p := io["prompt"].Size(1)
		logits := m.Forward(out)
		toks := ints(out)
		w := out.Size(1)
		for r := range out.Size(0) {
			for i := p; i < w; i++ {
				row := logits.Select(0, r).Select(0, i-1).Float64s()
				sorted := slices.Clone(row)
				slices.Sort(sorted)
				kth := sorted[len(sorted)-k]
				if tok := toks[r*w+i]; row[tok] < kth {
					t.Errorf("seed %d row %d position %d: token %d (logit %v) is not in the top %d (k-th %v)", seed, r, i, tok, row[tok], k, kth)
				}
			}
		}
	}
}
