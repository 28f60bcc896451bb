package nn

import (
	"fmt"
	"slices"
	"sort"

	"github.com/tapir-ml/tapir/tensor"
)

// PackedSequence is a batch of sequences of different lengths, packed so
// that a recurrent layer runs each only as far as it goes
// (torch.nn.utils.rnn.PackedSequence). Make one with
// [PackPaddedSequence] or [PackSequence], run it through
// [LSTM.ForwardPacked] (or RNN's, GRU's), and unpack the result with
// [PadPackedSequence].
//
// The sequences are ordered by decreasing length and Data holds their
// steps time-major: first step 0 of every sequence, then step 1 of every
// sequence that has one, and so on; BatchSizes[t] is how many sequences
// have a step t. When the batch was not given in that order,
// SortedIndices[i] is the original batch index of the i-th sequence in
// sorted order and UnsortedIndices is its inverse permutation; both are
// nil when the batch was taken as already sorted.
type PackedSequence struct {
	Data            *tensor.Tensor // [Σ lengths, *]
	BatchSizes      []int          // non-increasing, BatchSizes[0] = batch size
	SortedIndices   []int
	UnsortedIndices []int
}

// Lengths returns each sequence's length, in the batch's original order.
func (p *PackedSequence) Lengths() []int {
	n := 0
	if len(p.BatchSizes) > 0 {
		n = p.BatchSizes[0]
	}
	sorted := make([]int, n)
	for _, b := range p.BatchSizes {
		for i := range b {
			sorted[i]++
		}
	}
	if p.UnsortedIndices == nil {
		return sorted
	}
	out := make([]int, n)
	for b, j := range p.UnsortedIndices {
		out[b] = sorted[j]
	}
	return out
}

// check panics unless p is a consistent packed batch.
func (p *PackedSequence) check(op string) {
	bad := func(format string, args ...any) {
		panic(&tensor.Error{Op: op, Kind: tensor.ErrShape, Msg: "packed sequence: " + fmt.Sprintf(format, args...)})
	}
	if p == nil || p.Data == nil {
		bad("no data")
	}
	if len(p.BatchSizes) == 0 {
		bad("no batch sizes")
	}
	sum := 0
	for t, b := range p.BatchSizes {
		if b <= 0 || (t > 0 && b > p.BatchSizes[t-1]) {
			bad("batch sizes %v must be positive and non-increasing", p.BatchSizes)
		}
		sum += b
	}
	if p.Data.Dim() == 0 || p.Data.Size(0) != sum {
		bad("data %v does not hold Σ batch sizes = %d steps", p.Data.Shape(), sum)
	}
	n := p.BatchSizes[0]
	if (p.SortedIndices == nil) != (p.UnsortedIndices == nil) ||
		p.SortedIndices != nil && (len(p.SortedIndices) != n || len(p.UnsortedIndices) != n) {
		bad("sorted indices %v and unsorted indices %v must both be permutations of the batch of %d, or both nil",
			p.SortedIndices, p.UnsortedIndices, n)
	}
	for i, j := range p.SortedIndices {
		if j < 0 || j >= n || p.UnsortedIndices[j] != i {
			bad("unsorted indices %v are not the inverse of sorted indices %v", p.UnsortedIndices, p.SortedIndices)
		}
	}
}

// packedIndex is idx as an Int64 tensor on dev.
func packedIndex(idx []int, dev tensor.Device) *tensor.Tensor {
	v := make([]int64, len(idx))
	for i, j := range idx {
		v[i] = int64(j)
	}
	return tensor.FromSlice(v, len(v)).ToDevice(dev)
}

// PackPaddedSequence packs a padded batch x of sequences with the given
// lengths (torch.nn.utils.rnn.pack_padded_sequence). x is [T, N, *], or
// [N, T, *] with batchFirst; sequence b is x[:lengths[b], b]. With
// enforceSorted the lengths must be non-increasing and the result has no
// sorted indices; otherwise the batch is sorted by decreasing length
// (stably) and the permutation recorded, so that [PadPackedSequence] and
// the final states of ForwardPacked come back in the original order. It is
// differentiable with respect to x.
func PackPaddedSequence(x *tensor.Tensor, lengths []int, batchFirst, enforceSorted bool) *PackedSequence {
	const op = "nn.PackPaddedSequence"
	fail := func(format string, args ...any) {
		panic(&tensor.Error{Op: op, Kind: tensor.ErrShape, Msg: fmt.Sprintf(format, args...)})
	}
	if x.Dim() < 2 {
		fail("input %v must have at least 2 dims, [T, N, *] or [N, T, *]", x.Shape())
	}
	steps, n := x.Size(0), x.Size(1)
	if batchFirst {
		steps, n = n, steps
	}
	if len(lengths) != n || n == 0 {
		fail("%d lengths for a batch of %d sequences (input %v)", len(lengths), n, x.Shape())
	}
	for _, l := range lengths {
		if l <= 0 || l > steps {
			fail("lengths %v must lie in [1, %d] (input %v)", lengths, steps, x.Shape())
		}
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	var sorted, unsorted []int
	if enforceSorted {
		for i := 1; i < n; i++ {
			if lengths[i] > lengths[i-1] {
				fail("lengths %v must be sorted in decreasing order when enforceSorted is true", lengths)
			}
		}
	} else {
		sort.SliceStable(order, func(a, b int) bool { return lengths[order[a]] > lengths[order[b]] })
		sorted = order
		unsorted = make([]int, n)
		for i, b := range sorted {
			unsorted[b] = i
		}
	}
	longest := lengths[order[0]]
	bs := make([]int, longest)
	var rows []int
	for t := range longest {
		for _, b := range order {
			if lengths[b] <= t {
				break
			}
			bs[t]++
			if batchFirst {
				rows = append(rows, b*steps+t)
			} else {
				rows = append(rows, t*n+b)
			}
		}
	}
	rest := x.Shape()[2:]
	flat := x.Reshape(append([]int{steps * n}, rest...)...)
	data := flat.IndexSelect(0, packedIndex(rows, x.Device()))
	return &PackedSequence{Data: data, BatchSizes: bs, SortedIndices: sorted, UnsortedIndices: unsorted}
}

// PadPackedSequence unpacks p into a padded batch
// (torch.nn.utils.rnn.pad_packed_sequence): [T, N, *], or [N, T, *] with
// batchFirst, in the batch's original order, with paddingValue after each
// sequence's end. T is the longest length, or totalLength when that is
// larger than 0 (it must not be shorter than the longest sequence). It
// also returns the lengths in the original order. It is differentiable
// with respect to p.Data.
func PadPackedSequence(p *PackedSequence, batchFirst bool, paddingValue float64, totalLength int) (*tensor.Tensor, []int) {
	const op = "nn.PadPackedSequence"
	p.check(op)
	longest := len(p.BatchSizes)
	steps := longest
	if totalLength > 0 {
		if totalLength < longest {
			panic(&tensor.Error{Op: op, Kind: tensor.ErrShape, Msg: fmt.Sprintf(
				"totalLength %d is shorter than the longest sequence, %d", totalLength, longest)})
		}
		steps = totalLength
	}
	n := p.BatchSizes[0]
	rows := p.Data.Size(0)
	rest := p.Data.Shape()[1:]
	// One gather from the data with a padding row appended: index rows
	// (the padding row) stands for every position past a sequence's end.
	pad := tensor.FullOf(p.Data.DType(), paddingValue, append([]int{1}, rest...)...).ToDevice(p.Data.Device())
	src := tensor.Cat([]*tensor.Tensor{p.Data, pad}, 0)
	offs := make([]int, longest)
	for t := 1; t < longest; t++ {
		offs[t] = offs[t-1] + p.BatchSizes[t-1]
	}
	idx := make([]int, steps*n)
	for t := range steps {
		for b := range n {
			j := b
			if p.UnsortedIndices != nil {
				j = p.UnsortedIndices[b]
			}
			at := t*n + b
			if batchFirst {
				at = b*steps + t
			}
			idx[at] = rows
			if t < longest && j < p.BatchSizes[t] {
				idx[at] = offs[t] + j
			}
		}
	}
	out := src.IndexSelect(0, packedIndex(idx, p.Data.Device()))
	shape := []int{steps, n}
	if batchFirst {
		shape = []int{n, steps}
	}
	return out.Reshape(append(shape, rest...)...), p.Lengths()
}

// PadSequence stacks sequences of different lengths, each [L_i, *], into
// one padded batch [T, N, *] ([N, T, *] with batchFirst), T being the
// longest length, with paddingValue after each one's end
// (torch.nn.utils.rnn.pad_sequence). It is differentiable.
func PadSequence(seqs []*tensor.Tensor, batchFirst bool, paddingValue float64) *tensor.Tensor {
	const op = "nn.PadSequence"
	if len(seqs) == 0 {
		panic(&tensor.Error{Op: op, Kind: tensor.ErrShape, Msg: "no sequences"})
	}
	rest := seqs[0].Shape()
	if len(rest) == 0 {
		panic(&tensor.Error{Op: op, Kind: tensor.ErrShape, Msg: "sequences must have at least 1 dim, [L, *]"})
	}
	rest = rest[1:]
	longest := 0
	for _, s := range seqs {
		if s.Dim() != len(rest)+1 || !slices.Equal(s.Shape()[1:], rest) {
			panic(&tensor.Error{Op: op, Kind: tensor.ErrShape, Msg: fmt.Sprintf(
				"sequences must share their trailing dims: %v and %v", seqs[0].Shape(), s.Shape())})
		}
		longest = max(longest, s.Size(0))
	}
	parts := make([]*tensor.Tensor, len(seqs))
	for i, s := range seqs {
		parts[i] = s
		if short := longest - s.Size(0); short > 0 {
			pad := tensor.FullOf(s.DType(), paddingValue, append([]int{short}, rest...)...).ToDevice(s.Device())
			parts[i] = tensor.Cat([]*tensor.Tensor{s, pad}, 0)
		}
	}
	dim := 1
	if batchFirst {
		dim = 0
	}
	return tensor.Stack(parts, dim)
}

// PackSequence packs sequences of different lengths, each [L_i, *]
// (torch.nn.utils.rnn.pack_sequence): [PadSequence] then
// [PackPaddedSequence], with the same meaning of enforceSorted.
func PackSequence(seqs []*tensor.Tensor, enforceSorted bool) *PackedSequence {
	lengths := make([]int, len(seqs))
	for i, s := range seqs {
		if s.Dim() == 0 {
			panic(&tensor.Error{Op: "nn.PackSequence", Kind: tensor.ErrShape, Msg: "sequences must have at least 1 dim, [L, *]"})
		}
		lengths[i] = s.Size(0)
	}
	return PackPaddedSequence(PadSequence(seqs, false, 0), lengths, false, enforceSorted)
}
