package functional_test

import (
	"fmt"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestSpatialFixturesPad(t *testing.T) {
	spRunFixtures(t, "pad")
}

func TestPadGradCheck(t *testing.T) {
	spGradCheck(t, "reflect", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.Pad(in[0], []int{2, 1, 1, 2}, "reflect", 0).Square()
	}, spLeaf(40, 1, 2, 3, 4))
	spGradCheck(t, "replicate_transposed", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.Pad(in[0].Transpose(1, 2), []int{1, 2}, "replicate", 0).Square()
	}, spLeaf(41, 2, 3, 2))
	spGradCheck(t, "constant_negative", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.Pad(in[0], []int{-1, 2, 1, 0}, "constant", 0.5).Square()
	}, spLeaf(42, 3, 4))
	spGradCheck(t, "circular", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.Pad(in[0], []int{3, 1}, "circular", 0).Square()
	}, spLeaf(43, 2, 3))
}

func TestPadErrors(t *testing.T) {
	x := tensor.Zeros(1, 2, 3, 4)
	for _, c := range []struct {
		name string
		f    func()
		msg  []string
	}{
		{"odd length", func() { F.Pad(x, []int{1, 2, 3}, "constant", 0) }, []string{"pad", "[1 2 3]", "[1 2 3 4]"}},
		{"too long", func() { F.Pad(tensor.Zeros(2), []int{1, 1, 1, 1}, "", 0) }, []string{"pad", "[1 1 1 1]", "[2]"}},
		{"reflect too wide", func() { F.Pad(x, []int{4, 0}, "reflect", 0) }, []string{"pad", "reflect pad (4, 0) of dim 3", "[1 2 3 4]"}},
		{"reflect value", func() { F.Pad(x, []int{1, 1}, "reflect", 2) }, []string{"pad", "takes no fill value"}},
		{"circular too wide", func() { F.Pad(x, []int{0, 0, 0, 4}, "circular", 0) }, []string{"pad", "circular pad (0, 4) of dim 2"}},
		{"negative size", func() { F.Pad(x, []int{-3, -2}, "constant", 0) }, []string{"pad", "negative size"}},
		{"mode", func() { F.Pad(x, []int{1, 1}, "wrap", 0) }, []string{"pad", `unknown mode "wrap"`}},
	} {
		spExpectError(t, c.name, c.f, tensor.ErrShape, c.msg...)
	}
}

func ExamplePad() {
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 1, 2, 3)
	// pad lists start at the last dim: (left, right) of the columns
	fmt.Println(F.Pad(x, []int{2, 1}, "reflect", 0).Squeeze(0))
	fmt.Println(F.Pad(x, []int{1, 1, 1, 0}, "constant", -1).Squeeze(0))
	// Output:
	// tensor([[3., 2., 1., 2., 3., 2.],
	//         [6., 5., 4., 5., 6., 5.]])
	// tensor([[-1., -1., -1., -1., -1.],
	//         [-1.,  1.,  2.,  3., -1.],
	//         [-1.,  4.,  5.,  6., -1.]])
}
