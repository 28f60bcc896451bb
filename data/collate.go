package data

import (
	"fmt"

	"github.com/tapir-ml/tapir/tensor"
)

// Sample is an (input, target) pair: the sample type of the datasets in
// this package, and, stacked by [StackSamples], their batch type. For
// classification the Target of one sample is a 0-d Int64 class index and
// that of a batch an Int64 tensor [B], which is what a cross-entropy loss
// takes. Target is nil for unlabelled data.
type Sample struct {
	Input, Target *tensor.Tensor
}

// StackTensors stacks tensors of one shape along a new leading dim, torch's
// default_collate for tensors: n tensors of shape S give one of [n, S…].
// Shapes that differ are an error naming the offending sample.
func StackTensors(ts []*tensor.Tensor) (*tensor.Tensor, error) {
	if len(ts) == 0 {
		return nil, fmt.Errorf("data: stack: no tensors")
	}
	for i, t := range ts {
		if t == nil {
			return nil, fmt.Errorf("data: stack: tensor %d is nil", i)
		}
		if !sameShape(t.Shape(), ts[0].Shape()) {
			return nil, fmt.Errorf("data: stack: tensor %d has shape %v, tensor 0 has shape %v; pad variable-length samples (PadSequences) or resize them first", i, t.Shape(), ts[0].Shape())
		}
	}
	var out *tensor.Tensor
	if err := tensor.Try(func() { out = tensor.Stack(ts, 0) }); err != nil {
		return nil, fmt.Errorf("data: stack: %w", err)
	}
	return out, nil
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// StackSamples is a collate function for Samples: it stacks the inputs and
// the targets separately, so n samples with inputs [C, H, W] and 0-d
// targets give a batch with Input [n, C, H, W] and Target [n]. Targets must
// be all nil or all set.
func StackSamples(samples []Sample) (Sample, error) {
	if len(samples) == 0 {
		return Sample{}, fmt.Errorf("data: stack samples: empty batch")
	}
	in := make([]*tensor.Tensor, len(samples))
	var tg []*tensor.Tensor
	if samples[0].Target != nil {
		tg = make([]*tensor.Tensor, len(samples))
	}
	for i, s := range samples {
		in[i] = s.Input
		if (s.Target == nil) != (tg == nil) {
			return Sample{}, fmt.Errorf("data: stack samples: sample %d has a target and sample 0 has none, or the other way round", i)
		}
		if tg != nil {
			tg[i] = s.Target
		}
	}
	var b Sample
	var err error
	if b.Input, err = StackTensors(in); err != nil {
		return Sample{}, fmt.Errorf("data: stack samples: inputs: %w", err)
	}
	if tg != nil {
		if b.Target, err = StackTensors(tg); err != nil {
			return Sample{}, fmt.Errorf("data: stack samples: targets: %w", err)
		}
	}
	return b, nil
}

// Labels returns class labels as an Int64 tensor [len(labels)], the target
// a classification loss takes.
func Labels[I ~int | ~int64 | ~int32 | ~uint8](labels []I) *tensor.Tensor {
	out := make([]int64, len(labels))
	for i, l := range labels {
		out[i] = int64(l)
	}
	return tensor.FromSlice(out)
}

// Label returns one class label as a 0-d Int64 tensor.
func Label(l int) *tensor.Tensor { return tensor.FullOf(tensor.Int64, float64(l)) }

// PadSequences pads tensors of shapes [Lᵢ, *] (a common trailing shape, any
// lengths) with padValue to the longest length L and stacks them, as
// torch.nn.utils.rnn.pad_sequence: the result is [B, L, *] when batchFirst,
// else [L, B, *]. lengths holds each Lᵢ, for masking or packing. The dtype
// is the sequences' (they must share one); gradients flow to the inputs.
// It panics with a *tensor.Error (ErrShape) when the trailing shapes
// differ or a tensor is 0-d, as tensor ops do.
func PadSequences(seqs []*tensor.Tensor, batchFirst bool, padValue float64) (padded *tensor.Tensor, lengths []int) {
	if len(seqs) == 0 {
		panic(&tensor.Error{Op: "pad_sequences", Kind: tensor.ErrShape, Msg: "no sequences"})
	}
	first := seqs[0]
	if first.Dim() == 0 {
		panic(&tensor.Error{Op: "pad_sequences", Kind: tensor.ErrShape, Msg: "sequences must have a length dim, got a 0-d tensor"})
	}
	trail := first.Shape()[1:]
	lengths = make([]int, len(seqs))
	maxLen := 0
	for i, s := range seqs {
		sh := s.Shape()
		if len(sh) == 0 || !sameShape(sh[1:], trail) {
			panic(&tensor.Error{Op: "pad_sequences", Kind: tensor.ErrShape,
				Msg: fmt.Sprintf("sequence %d has shape %v; every sequence must be [L, %v…]", i, sh, trail)})
		}
		if s.DType() != first.DType() {
			panic(&tensor.Error{Op: "pad_sequences", Kind: tensor.ErrDType,
				Msg: fmt.Sprintf("sequence %d is %v, sequence 0 is %v", i, s.DType(), first.DType())})
		}
		lengths[i] = sh[0]
		maxLen = max(maxLen, sh[0])
	}
	full := make([]*tensor.Tensor, len(seqs))
	for i, s := range seqs {
		if lengths[i] == maxLen {
			full[i] = s
			continue
		}
		padShape := append([]int{maxLen - lengths[i]}, trail...)
		full[i] = tensor.Cat([]*tensor.Tensor{s, tensor.FullOf(s.DType(), padValue, padShape...)}, 0)
	}
	dim := 1
	if batchFirst {
		dim = 0
	}
	return tensor.Stack(full, dim), lengths
}
