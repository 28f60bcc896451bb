package tensor

import (
	"math"
	"sort"
	"sync"

	"github.com/tapir-ml/tapir/backend"
)

// Generator is a seeded source of random tensors. It is counter-based
// (Philox4x32-10): its whole state is a seed and an offset into the
// stream, so a draw gives the same numbers on every backend and for any
// thread count, and State/SetState can rewind it exactly. Safe for
// concurrent use; concurrent draws interleave in some order.
type Generator struct {
	mu     sync.Mutex
	seed   uint64
	offset uint64
}

// DefaultSeed is the seed of the default generator until ManualSeed, the
// same value torch starts with.
const DefaultSeed = 67280421310721

var defaultGen = NewGenerator(DefaultSeed)

// NewGenerator returns a generator at the start of seed's stream.
func NewGenerator(seed uint64) *Generator { return &Generator{seed: seed} }

// DefaultGenerator is the generator that Rand, Randn, RandInt and
// Multinomial draw from.
func DefaultGenerator() *Generator { return defaultGen }

// ManualSeed restarts the default generator at seed's stream.
func ManualSeed(seed uint64) { defaultGen.ManualSeed(seed) }

// ManualSeed restarts g at seed's stream.
func (g *Generator) ManualSeed(seed uint64) {
	g.mu.Lock()
	g.seed, g.offset = seed, 0
	g.mu.Unlock()
}

// State returns the seed and the stream offset.
func (g *Generator) State() (seed, offset uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seed, g.offset
}

// SetState restores a state returned by State.
func (g *Generator) SetState(seed, offset uint64) {
	g.mu.Lock()
	g.seed, g.offset = seed, offset
	g.mu.Unlock()
}

// reserve claims the blocks for n draws and returns where they start.
func (g *Generator) reserve(n int) (seed, offset uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seed, offset = g.seed, g.offset
	g.offset += backend.Blocks(n)
	return
}

func (g *Generator) draw(op string, dt DType, dist backend.Distribution, a, b float64, shape []int) *Tensor {
	t := empty(op, CPU, dt, shape)
	seed, off := g.reserve(t.Numel())
	t.be().Random(t.view(), backend.RandomSpec{Dist: dist, A: a, B: b, Seed: seed, Offset: off})
	return t
}

// Rand returns Float32 samples from U[0, 1).
func (g *Generator) Rand(shape ...int) *Tensor {
	return g.draw("rand", Float32, backend.Uniform, 0, 1, shape)
}

// Randn returns Float32 samples from N(0, 1).
func (g *Generator) Randn(shape ...int) *Tensor {
	return g.draw("randn", Float32, backend.Normal, 0, 1, shape)
}

// Uniform returns samples of dtype dt (Float32 or Float64) from U[low, high).
func (g *Generator) Uniform(dt DType, low, high float64, shape ...int) *Tensor {
	if dt != Float32 && dt != Float64 {
		fail("uniform", ErrDType, "uniform draws Float32 or Float64, not %v", dt)
	}
	return g.draw("uniform", dt, backend.Uniform, low, high, shape)
}

// Normal returns samples of dtype dt (Float32 or Float64) from N(mean, std²).
func (g *Generator) Normal(dt DType, mean, std float64, shape ...int) *Tensor {
	if dt != Float32 && dt != Float64 {
		fail("normal", ErrDType, "normal draws Float32 or Float64, not %v", dt)
	}
	return g.draw("normal", dt, backend.Normal, mean, std, shape)
}

// RandInt returns Int64 samples uniform on [low, high).
func (g *Generator) RandInt(low, high int64, shape ...int) *Tensor {
	if high <= low {
		fail("randint", ErrShape, "empty range [%d, %d)", low, high)
	}
	return g.draw("randint", Int64, backend.Integer, float64(low), float64(high), shape)
}

// RandPerm returns a random permutation of 0…n-1 as Int64.
func (g *Generator) RandPerm(n int) *Tensor {
	keys := g.draw("randperm", Float64, backend.Uniform, 0, 1, []int{n}).Float64s()
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(i)
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	return FromSlice(idx)
}

// Multinomial draws n category indices per row of probs (1-d or 2-d,
// non-negative weights, not necessarily normalized), with or without
// replacement, as Int64 of shape [n] or [rows, n].
func (g *Generator) Multinomial(probs *Tensor, n int, replacement bool) *Tensor {
	const op = "multinomial"
	if probs.Dim() != 1 && probs.Dim() != 2 {
		fail(op, ErrShape, "probabilities must be 1-d or 2-d, not shape %v", probs.shape)
	}
	if !probs.DType().IsFloat() {
		fail(op, ErrDType, "probabilities must be floating point, not %v", probs.DType())
	}
	rows, k := 1, probs.shape[probs.Dim()-1]
	if probs.Dim() == 2 {
		rows = probs.shape[0]
	}
	if n < 0 || (!replacement && n > k) {
		fail(op, ErrShape, "cannot draw %d samples from %d categories without replacement", n, k)
	}
	w := probs.Float64s()
	u := g.draw(op, Float64, backend.Uniform, 0, 1, []int{rows, max(n, k)}).Float64s()
	out := make([]int64, rows*n)
	for r := 0; r < rows; r++ {
		row := w[r*k : (r+1)*k]
		total, nonzero := 0.0, 0
		for _, p := range row {
			if p < 0 || !isFinite(p) {
				fail(op, ErrShape, "probabilities must be finite and non-negative, got %v", p)
			}
			total += p
			if p > 0 {
				nonzero++
			}
		}
		if total <= 0 {
			fail(op, ErrShape, "row %d of probabilities sums to zero", r)
		}
		if !replacement && n > nonzero {
			fail(op, ErrShape, "cannot draw %d samples without replacement from %d non-zero categories", n, nonzero)
		}
		ur := u[r*max(n, k) : (r+1)*max(n, k)]
		if replacement {
			cdf := make([]float64, k)
			acc := 0.0
			for i, p := range row {
				acc += p / total
				cdf[i] = acc
			}
			for s := 0; s < n; s++ {
				i := sort.SearchFloat64s(cdf, ur[s])
				for i < k-1 && row[i] == 0 { // never land on a zero weight
					i++
				}
				out[r*n+s] = int64(min(i, k-1))
			}
			continue
		}
		// without replacement: the n smallest keys −ln(u)/p (an
		// exponential race) are a weighted sample without replacement
		type kv struct {
			key float64
			i   int
		}
		keys := make([]kv, 0, k)
		for i, p := range row {
			if p > 0 {
				keys = append(keys, kv{-math.Log(1-ur[i]) / p, i})
			}
		}
		sort.Slice(keys, func(a, b int) bool { return keys[a].key < keys[b].key })
		for s := 0; s < n; s++ {
			out[r*n+s] = int64(keys[s].i)
		}
	}
	if probs.Dim() == 1 {
		return FromSlice(out)
	}
	return FromSlice(out, rows, n)
}

// Rand returns Float32 samples from U[0, 1), from the default generator.
func Rand(shape ...int) *Tensor { return defaultGen.Rand(shape...) }

// Randn returns Float32 samples from N(0, 1), from the default generator.
func Randn(shape ...int) *Tensor { return defaultGen.Randn(shape...) }

// RandInt returns Int64 samples uniform on [low, high), from the default
// generator.
func RandInt(low, high int64, shape ...int) *Tensor { return defaultGen.RandInt(low, high, shape...) }

// RandPerm returns a random permutation of 0…n-1, from the default generator.
func RandPerm(n int) *Tensor { return defaultGen.RandPerm(n) }

// Multinomial draws category indices from the default generator; see
// Generator.Multinomial.
func Multinomial(probs *Tensor, n int, replacement bool) *Tensor {
	return defaultGen.Multinomial(probs, n, replacement)
}
