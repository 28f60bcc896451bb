package data

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/tensor"
)

// Sampler chooses which dataset indices an epoch visits, and in what
// order (torch.utils.data.Sampler). Indices must give the same answer for
// the same epoch, so that a run can be reproduced and resumed; samplers
// that shuffle draw a new order for each epoch from their seed and the
// epoch number (the epoch counter torch's DistributedSampler.set_epoch
// sets, passed here as an argument).
type Sampler interface {
	// Len is the number of indices one epoch yields.
	Len() int
	// Indices returns the indices of the given epoch (0, 1, …).
	Indices(epoch int) []int
}

// epochSeed mixes a seed and an epoch number into the seed of that epoch's
// generator (SplitMix64's finalizer), so that nearby seeds and epochs give
// unrelated streams.
func epochSeed(seed uint64, epoch int) uint64 {
	z := seed + 0x9e3779b97f4a7c15*(uint64(epoch)+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// permutation returns a random permutation of 0…n-1 drawn with
// tensor.Generator.RandPerm from the generator of (seed, epoch).
func permutation(n int, seed uint64, epoch int) []int {
	out := make([]int, n)
	if n == 0 {
		return out
	}
	for i, v := range tensor.NewGenerator(epochSeed(seed, epoch)).RandPerm(n).Int64s() {
		out[i] = int(v)
	}
	return out
}

// SequentialSampler yields 0, 1, …, N-1 every epoch.
type SequentialSampler struct {
	N int
}

// Len returns N.
func (s SequentialSampler) Len() int { return s.N }

// Indices returns 0…N-1.
func (s SequentialSampler) Indices(int) []int {
	out := make([]int, s.N)
	for i := range out {
		out[i] = i
	}
	return out
}

// RandomSampler yields the indices 0…N-1 in a random order that changes
// with the epoch and is reproducible from Seed (torch's RandomSampler). With
// Replacement, it draws NumSamples indices uniformly with replacement
// instead.
type RandomSampler struct {
	N    int
	Seed uint64
	// Replacement draws with replacement.
	Replacement bool
	// NumSamples is the number of indices per epoch; 0 means N. Without
	// replacement a NumSamples above N repeats whole permutations, as
	// torch does.
	NumSamples int
}

// Len returns NumSamples, or N when it is 0.
func (s RandomSampler) Len() int {
	if s.NumSamples > 0 {
		return s.NumSamples
	}
	return s.N
}

// Indices returns the indices of the epoch.
func (s RandomSampler) Indices(epoch int) []int {
	n := s.Len()
	if s.N <= 0 || n == 0 {
		return []int{}
	}
	if s.Replacement {
		g := tensor.NewGenerator(epochSeed(s.Seed, epoch))
		out := make([]int, n)
		for i, v := range g.RandInt(0, int64(s.N), n).Int64s() {
			out[i] = int(v)
		}
		return out
	}
	out := make([]int, 0, n)
	for k := 0; len(out) < n; k++ {
		// each further permutation of one epoch comes from its own stream
		p := permutation(s.N, s.Seed+uint64(k)*0x632be59bd9b4e019, epoch)
		out = append(out, p[:min(len(p), n-len(out))]...)
	}
	return out
}

// WeightedRandomSampler draws NumSamples indices with probability
// proportional to Weights (torch's WeightedRandomSampler), with or without
// replacement, anew each epoch, reproducibly from Seed.
type WeightedRandomSampler struct {
	weights     *tensor.Tensor
	numSamples  int
	replacement bool
	seed        uint64
}

// NewWeightedRandomSampler returns a sampler over len(weights) indices.
// Weights need not sum to one but must be finite and non-negative with at
// least one positive; without replacement, numSamples may not exceed the
// number of positive weights. It panics otherwise, as these are programmer
// errors.
func NewWeightedRandomSampler(weights []float64, numSamples int, replacement bool, seed uint64) *WeightedRandomSampler {
	positive := 0
	for i, w := range weights {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			panic(fmt.Sprintf("data: weighted random sampler: weight %d is %v; weights must be finite and non-negative", i, w))
		}
		if w > 0 {
			positive++
		}
	}
	switch {
	case numSamples < 0:
		panic(fmt.Sprintf("data: weighted random sampler: negative number of samples %d", numSamples))
	case positive == 0 && numSamples > 0:
		panic("data: weighted random sampler: no positive weight")
	case !replacement && numSamples > positive:
		panic(fmt.Sprintf("data: weighted random sampler: cannot draw %d samples without replacement from %d positive weights", numSamples, positive))
	}
	return &WeightedRandomSampler{
		weights:     tensor.FromSlice(append([]float64(nil), weights...)),
		numSamples:  numSamples,
		replacement: replacement,
		seed:        seed,
	}
}

// Len returns the number of samples per epoch.
func (s *WeightedRandomSampler) Len() int { return s.numSamples }

// Indices returns the draws of the epoch.
func (s *WeightedRandomSampler) Indices(epoch int) []int {
	out := make([]int, s.numSamples)
	if s.numSamples == 0 {
		return out
	}
	g := tensor.NewGenerator(epochSeed(s.seed, epoch))
	for i, v := range g.Multinomial(s.weights, s.numSamples, s.replacement).Int64s() {
		out[i] = int(v)
	}
	return out
}

// DistributedSampler gives one process (Rank) of a data-parallel job of
// WorldSize processes its share of the indices 0…N-1, as torch's
// DistributedSampler: every rank permutes the indices the same way (from
// Seed and the epoch, when Shuffle), pads the list by repeating its start
// until it divides evenly (or, with DropLast, cuts its tail), and takes
// every WorldSize-th index starting at Rank. The shards of all ranks are
// disjoint and, without padding, their union is the whole permutation.
type DistributedSampler struct {
	N         int
	Rank      int
	WorldSize int
	Shuffle   bool
	Seed      uint64
	// DropLast drops the tail instead of padding.
	DropLast bool
}

func (s DistributedSampler) check() {
	if s.WorldSize <= 0 || s.Rank < 0 || s.Rank >= s.WorldSize {
		panic(fmt.Sprintf("data: distributed sampler: rank %d of world size %d is not in [0, world size)", s.Rank, s.WorldSize))
	}
}

// Len returns the number of indices each rank gets per epoch.
func (s DistributedSampler) Len() int {
	s.check()
	if s.DropLast && s.N%s.WorldSize != 0 {
		return (s.N - s.WorldSize + s.WorldSize - 1) / s.WorldSize // ceil((N-W)/W) as torch
	}
	return (s.N + s.WorldSize - 1) / s.WorldSize
}

// Indices returns this rank's indices for the epoch.
func (s DistributedSampler) Indices(epoch int) []int {
	per := s.Len()
	total := per * s.WorldSize
	var all []int
	if s.Shuffle {
		all = permutation(s.N, s.Seed, epoch)
	} else {
		all = SequentialSampler{s.N}.Indices(epoch)
	}
	if len(all) == 0 {
		return []int{}
	}
	for len(all) < total { // pad with the start, repeated if need be
		all = append(all, all[:min(len(all), total-len(all))]...)
	}
	all = all[:total]
	out := make([]int, 0, per)
	for i := s.Rank; i < total; i += s.WorldSize {
		out = append(out, all[i])
	}
	return out
}

// BatchSampler groups the indices of a Sampler into batches of Size (the
// last one shorter unless DropLast), as torch's BatchSampler.
type BatchSampler struct {
	Sampler  Sampler
	Size     int
	DropLast bool
}

// Len returns the number of batches per epoch.
func (b BatchSampler) Len() int {
	if b.Size <= 0 {
		panic(fmt.Sprintf("data: batch sampler: batch size %d must be positive", b.Size))
	}
	n := b.Sampler.Len()
	if b.DropLast {
		return n / b.Size
	}
	return (n + b.Size - 1) / b.Size
}

// Batches returns the batches of the epoch.
func (b BatchSampler) Batches(epoch int) [][]int {
	nb := b.Len()
	idx := b.Sampler.Indices(epoch)
	out := make([][]int, nb)
	for k := range out {
		end := min((k+1)*b.Size, len(idx))
		out[k] = idx[k*b.Size : end : end]
	}
	return out
}
