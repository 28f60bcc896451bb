package data

import (
	"errors"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func TestStackSamples(t *testing.T) {
	s := []Sample{
		{Input: tensor.FromSlice([]float32{1, 2, 3, 4}, 1, 2, 2), Target: Label(3)},
		{Input: tensor.FromSlice([]float32{5, 6, 7, 8}, 1, 2, 2), Target: Label(1)},
	}
	b, err := StackSamples(s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Input.Shape(), []int{2, 1, 2, 2}) || !slices.Equal(b.Input.Float32s(), []float32{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("input %v", b.Input)
	}
	if b.Target.DType() != tensor.Int64 || !slices.Equal(b.Target.Shape(), []int{2}) || !slices.Equal(b.Target.Int64s(), []int64{3, 1}) {
		t.Fatalf("target %v", b.Target)
	}
	// unlabelled
	b, err = StackSamples([]Sample{{Input: tensor.Zeros(2)}, {Input: tensor.Ones(2)}})
	if err != nil || b.Target != nil || !slices.Equal(b.Input.Shape(), []int{2, 2}) {
		t.Fatalf("unlabelled: %v %v", b, err)
	}
	for name, bad := range map[string][]Sample{
		"empty":          nil,
		"shapes differ":  {{Input: tensor.Zeros(2)}, {Input: tensor.Zeros(3)}},
		"target missing": {{Input: tensor.Zeros(2), Target: Label(1)}, {Input: tensor.Zeros(2)}},
		"nil input":      {{Input: nil}},
	} {
		if _, err := StackSamples(bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLabels(t *testing.T) {
	l := Labels([]uint8{9, 0, 4})
	if l.DType() != tensor.Int64 || !slices.Equal(l.Int64s(), []int64{9, 0, 4}) {
		t.Fatalf("%v", l)
	}
	if x := Label(7); x.Dim() != 0 || x.DType() != tensor.Int64 || x.Item() != 7 {
		t.Fatalf("Label(7) = %v", x)
	}
}

func TestPadSequencesMatchesTorch(t *testing.T) {
	fx := loadFixtures(t).PadSequence
	var seqs []*tensor.Tensor
	for _, s := range fx.Seqs {
		var v []float32
		for _, row := range s {
			for _, x := range row {
				v = append(v, float32(x))
			}
		}
		seqs = append(seqs, tensor.FromSlice(v, len(s), len(s[0])))
	}
	for _, c := range []struct {
		batchFirst bool
		want       fixtureTensor
	}{{true, fx.BatchFirst}, {false, fx.TimeFirst}} {
		p, lengths := PadSequences(seqs, c.batchFirst, fx.Pad)
		assertClose(t, "pad_sequence", p, c.want, 0)
		if !slices.Equal(lengths, []int{3, 1, 2}) {
			t.Fatalf("lengths %v", lengths)
		}
	}
}

func TestPadSequencesInt64AndGrad(t *testing.T) {
	// token ids stay Int64; hand-worked: [[1 2 3] [4 0 0]] with pad 0
	p, l := PadSequences([]*tensor.Tensor{tensor.FromSlice([]int64{1, 2, 3}), tensor.FromSlice([]int64{4})}, true, 0)
	if p.DType() != tensor.Int64 || !slices.Equal(p.Int64s(), []int64{1, 2, 3, 4, 0, 0}) || !slices.Equal(l, []int{3, 1}) {
		t.Fatalf("%v %v", p, l)
	}
	// gradients reach each sequence's own elements, not the padding
	a := tensor.FromSlice([]float32{1, 2}, 2, 1).SetRequiresGrad(true)
	b := tensor.FromSlice([]float32{3}, 1, 1).SetRequiresGrad(true)
	q, _ := PadSequences([]*tensor.Tensor{a, b}, false, 0) // [2, 2, 1]
	q.Mul(tensor.FromSlice([]float32{10, 20, 30, 40}, 2, 2, 1)).Sum().Backward()
	// q[t][b]: a occupies (0,0),(1,0) → weights 10, 30; b occupies (0,1) → 20
	if !slices.Equal(a.Grad().Float32s(), []float32{10, 30}) || !slices.Equal(b.Grad().Float32s(), []float32{20}) {
		t.Fatalf("grads %v %v", a.Grad(), b.Grad())
	}
	err := tensor.Try(func() { PadSequences([]*tensor.Tensor{tensor.Zeros(2, 3), tensor.Zeros(2, 4)}, true, 0) })
	if !errors.Is(err, tensor.ErrShape) {
		t.Fatalf("mismatched trailing shapes: %v", err)
	}
}
