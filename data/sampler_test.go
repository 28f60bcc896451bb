package data

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func isPermutation(xs []int, n int) bool {
	if len(xs) != n {
		return false
	}
	seen := make([]bool, n)
	for _, x := range xs {
		if x < 0 || x >= n || seen[x] {
			return false
		}
		seen[x] = true
	}
	return true
}

func TestSequentialSampler(t *testing.T) {
	s := SequentialSampler{N: 4}
	if got := s.Indices(3); !slices.Equal(got, []int{0, 1, 2, 3}) || s.Len() != 4 {
		t.Fatalf("got %v (len %d)", got, s.Len())
	}
}

func TestRandomSampler(t *testing.T) {
	const n, epochs = 10, 3000
	s := RandomSampler{N: n, Seed: 42}
	first := make([]int, n) // how often each index comes first
	prev := []int(nil)
	same := 0
	for e := range epochs {
		p := s.Indices(e)
		if !isPermutation(p, n) {
			t.Fatalf("epoch %d: %v is not a permutation", e, p)
		}
		if e < 5 && !slices.Equal(p, s.Indices(e)) {
			t.Fatalf("epoch %d is not reproducible", e)
		}
		if slices.Equal(p, prev) {
			same++
		}
		prev = p
		first[p[0]]++
	}
	if same > 2 { // 10! orders: two equal consecutive epochs are a bug
		t.Fatalf("%d epochs repeated the one before", same)
	}
	// chi-square, 9 degrees of freedom: p = 0.001 at 27.88
	chi := 0.0
	exp := float64(epochs) / n
	for _, c := range first {
		chi += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi > 27.88 {
		t.Fatalf("first positions %v are not uniform (χ² = %.1f)", first, chi)
	}
	if slices.Equal(RandomSampler{N: n, Seed: 1}.Indices(0), RandomSampler{N: n, Seed: 2}.Indices(0)) &&
		slices.Equal(RandomSampler{N: n, Seed: 1}.Indices(1), RandomSampler{N: n, Seed: 2}.Indices(1)) {
		t.Fatal("seeds 1 and 2 agree")
	}

	// more samples than N without replacement: whole permutations, then a part
	long := RandomSampler{N: 4, Seed: 1, NumSamples: 10}.Indices(0)
	if len(long) != 10 || !isPermutation(long[:4], 4) || !isPermutation(long[4:8], 4) {
		t.Fatalf("NumSamples 10 of 4: %v", long)
	}
	// with replacement: values in range, all of them hit
	rep := RandomSampler{N: 5, Seed: 1, Replacement: true, NumSamples: 1000}.Indices(0)
	counts := make([]int, 5)
	for _, v := range rep {
		counts[v]++
	}
	for i, c := range counts {
		if math.Abs(float64(c)-200) > 5*math.Sqrt(1000*0.2*0.8) {
			t.Fatalf("with replacement, index %d drawn %d times of 1000", i, c)
		}
	}
}

func TestWeightedRandomSampler(t *testing.T) {
	w := []float64{1, 2, 3, 4, 0}
	const n = 20000
	s := NewWeightedRandomSampler(w, n, true, 7)
	counts := make([]int, len(w))
	for _, v := range s.Indices(0) {
		counts[v]++
	}
	for i, c := range counts {
		p := w[i] / 10
		sd := math.Sqrt(n * p * (1 - p))
		if math.Abs(float64(c)-n*p) > 5*sd+1e-9 {
			t.Errorf("index %d: %d draws, expected %.0f ± %.0f", i, c, n*p, sd)
		}
	}
	if slices.Equal(s.Indices(0), s.Indices(1)) || !slices.Equal(s.Indices(3), s.Indices(3)) {
		t.Fatal("epochs must differ and each epoch must be reproducible")
	}

	// without replacement: the first draw is ∝ weights, and a full draw
	// is a permutation of the positive-weight indices
	first := make([]int, len(w))
	const epochs = 6000
	nr := NewWeightedRandomSampler(w, 4, false, 8)
	for e := range epochs {
		idx := nr.Indices(e)
		if !isPermutation(idx, 4) {
			t.Fatalf("epoch %d: %v is not a permutation of the positive-weight indices", e, idx)
		}
		first[idx[0]]++
	}
	for i, c := range first {
		p := w[i] / 10
		sd := math.Sqrt(epochs * p * (1 - p))
		if math.Abs(float64(c)-epochs*p) > 5*sd+1e-9 {
			t.Errorf("without replacement, index %d first %d times, expected %.0f ± %.0f", i, c, epochs*p, sd)
		}
	}

	for name, f := range map[string]func(){
		"negative weight":        func() { NewWeightedRandomSampler([]float64{1, -1}, 1, true, 0) },
		"NaN weight":             func() { NewWeightedRandomSampler([]float64{math.NaN()}, 1, true, 0) },
		"all zero":               func() { NewWeightedRandomSampler([]float64{0, 0}, 1, true, 0) },
		"too many w/o replacing": func() { NewWeightedRandomSampler([]float64{1, 0, 1}, 3, false, 0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestDistributedSamplerMatchesTorch(t *testing.T) {
	fx := loadFixtures(t)
	for _, c := range fx.Distributed {
		t.Run(fmt.Sprintf("n=%d,world=%d,droplast=%v", c.N, c.World, c.DropLast), func(t *testing.T) {
			for rank, want := range c.Ranks {
				s := DistributedSampler{N: c.N, Rank: rank, WorldSize: c.World, DropLast: c.DropLast}
				if s.Len() != c.Len {
					t.Fatalf("rank %d: Len %d, torch %d", rank, s.Len(), c.Len)
				}
				if got := s.Indices(0); !slices.Equal(got, want) {
					t.Fatalf("rank %d: %v, torch %v", rank, got, want)
				}
			}
		})
	}
}

func TestDistributedSamplerShufflePartition(t *testing.T) {
	for _, c := range []struct {
		n, world int
		dropLast bool
	}{{12, 4, false}, {10, 3, false}, {10, 3, true}, {3, 5, false}} {
		t.Run(fmt.Sprintf("n=%d,world=%d,droplast=%v", c.n, c.world, c.dropLast), func(t *testing.T) {
			for epoch := range 3 {
				var all []int
				count := make([]int, c.n)
				for r := range c.world {
					s := DistributedSampler{N: c.n, Rank: r, WorldSize: c.world, Shuffle: true, Seed: 5, DropLast: c.dropLast}
					idx := s.Indices(epoch)
					if len(idx) != s.Len() {
						t.Fatalf("rank %d: %d indices, Len %d", r, len(idx), s.Len())
					}
					all = append(all, idx...)
					for _, i := range idx {
						count[i]++
					}
				}
				per := (c.n + c.world - 1) / c.world
				switch {
				case c.dropLast:
					// disjoint, n − n mod world of them
					if len(all) != c.n-c.n%c.world {
						t.Fatalf("drop last: %d indices", len(all))
					}
					for i, k := range count {
						if k > 1 {
							t.Fatalf("index %d in %d shards", i, k)
						}
					}
				default:
					// every index at least once; the padding repeats per·world − n of them once more
					if len(all) != per*c.world {
						t.Fatalf("%d indices, want %d", len(all), per*c.world)
					}
					extra := 0
					for i, k := range count {
						if k == 0 {
							t.Fatalf("index %d in no shard", i)
						}
						extra += k - 1
					}
					if extra != per*c.world-c.n {
						t.Fatalf("%d repeats, want %d", extra, per*c.world-c.n)
					}
				}
			}
			a := DistributedSampler{N: c.n, Rank: 0, WorldSize: c.world, Shuffle: true, Seed: 5}
			if c.n > 5 && slices.Equal(a.Indices(0), a.Indices(1)) && slices.Equal(a.Indices(1), a.Indices(2)) {
				t.Fatal("shuffle does not change with the epoch")
			}
		})
	}
}

func TestDistributedSamplerRankCheck(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("rank 2 of 2: no panic")
		}
	}()
	DistributedSampler{N: 4, Rank: 2, WorldSize: 2}.Len()
}

func TestBatchSampler(t *testing.T) {
	b := BatchSampler{Sampler: SequentialSampler{N: 5}, Size: 2}
	if got := b.Batches(0); !slices.EqualFunc(got, [][]int{{0, 1}, {2, 3}, {4}}, slices.Equal) || b.Len() != 3 {
		t.Fatalf("%v, len %d", got, b.Len())
	}
	b.DropLast = true
	if got := b.Batches(0); !slices.EqualFunc(got, [][]int{{0, 1}, {2, 3}}, slices.Equal) || b.Len() != 2 {
		t.Fatalf("drop last: %v, len %d", got, b.Len())
	}
}
