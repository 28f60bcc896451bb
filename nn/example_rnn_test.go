package nn_test

import (
	"fmt"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

func ExampleNewLSTM() {
	tensor.ManualSeed(0)
	lstm := nn.NewLSTM(8, 16, nn.RNNConfig{Layers: 2, Bidirectional: true})
	x := tensor.Randn(5, 3, 8) // [L, N, H_in]
	out, h, c := lstm.ForwardState(x, nil, nil)
	fmt.Println("output", out.Shape())
	fmt.Println("h", h.Shape(), "c", c.Shape())
	fmt.Println(nn.StateDictKeys(lstm)[:5])
	// Output:
	// output [5 3 32]
	// h [4 3 16] c [4 3 16]
	// [weight_ih_l0 weight_hh_l0 bias_ih_l0 bias_hh_l0 weight_ih_l0_reverse]
}

func ExampleGRU_ForwardState() {
	tensor.ManualSeed(0)
	gru := nn.NewGRU(4, 6, nn.RNNConfig{BatchFirst: true})
	x := tensor.Randn(2, 7, 4) // [N, L, H_in]
	h0 := tensor.Zeros(1, 2, 6)
	out, h := gru.ForwardState(x, h0)
	// with one layer and direction, the final state is the last output
	last := out.Select(1, 6)
	fmt.Println(out.Shape(), h.Shape(), last.Sub(h.Select(0, 0)).Abs().Amax().Item())
	// Output: [2 7 6] [1 2 6] 0
}

func ExamplePackPaddedSequence() {
	// three sequences of lengths 2, 3 and 1, padded to [T=3, N=3, 1]:
	// x[t][b] = 10t + b
	x := tensor.FromSlice([]float32{
		0, 1, 2,
		10, 11, 12,
		20, 21, 22,
	}, 3, 3, 1)
	p := nn.PackPaddedSequence(x, []int{2, 3, 1}, false, false)
	fmt.Println(p.Data.Float32s(), p.BatchSizes, p.SortedIndices)

	tensor.ManualSeed(0)
	lstm := nn.NewLSTM(1, 4)
	out, h, _ := lstm.ForwardPacked(p, nil, nil)
	padded, lengths := nn.PadPackedSequence(out, false, 0, 0)
	fmt.Println(padded.Shape(), lengths, h.Shape())
	// sequence 0 ends at step 1: its final state is its output there
	fmt.Println(padded.Select(0, 1).Select(0, 0).Sub(h.Select(0, 0).Select(0, 0)).Abs().Amax().Item())
	// Output:
	// [1 0 2 11 10 21] [3 2 1] [1 0 2]
	// [3 3 4] [2 3 1] [1 3 4]
	// 0
}

func ExampleLSTMCell() {
	tensor.ManualSeed(0)
	cell := nn.NewLSTMCell(3, 5)
	x := tensor.Randn(4, 2, 3) // 4 steps of a batch of 2
	var h, c *tensor.Tensor    // nil: zero states
	for t := range 4 {
		h, c = cell.ForwardState(x.Select(0, t), h, c)
	}
	fmt.Println(h.Shape(), c.Shape())
	// Output: [2 5] [2 5]
}
