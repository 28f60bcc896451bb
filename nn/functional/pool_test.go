package functional_test

import (
	"fmt"
	"testing"

	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

func TestSpatialFixturesPool(t *testing.T) {
	spRunFixtures(t, "max_pool", "avg_pool", "adaptive_avg_pool")
}

func TestPoolGradCheck(t *testing.T) {
	spGradCheck(t, "max_pool2d", func(in []*tensor.Tensor) *tensor.Tensor {
		y := F.MaxPool2d(in[0], []int{3, 2}, F.PoolOptions{Stride: []int{2, 1}, Padding: []int{1}, CeilMode: true})
		return y.Mul(y) // so that the second derivative is not zero
	}, spLeaf(30, 1, 2, 5, 4))
	spGradCheck(t, "max_pool1d/dilated_transposed", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.MaxPool1d(in[0].Transpose(0, 1), []int{2}, F.PoolOptions{Stride: []int{1}, Dilation: []int{2}}).Square()
	}, spLeaf(31, 6, 2))
	spGradCheck(t, "avg_pool2d", func(in []*tensor.Tensor) *tensor.Tensor {
		y := F.AvgPool2d(in[0], []int{3}, F.PoolOptions{Stride: []int{2}, Padding: []int{1}, CeilMode: true, ExcludePadding: true})
		return y.Mul(y)
	}, spLeaf(32, 1, 2, 5, 4))
	spGradCheck(t, "avg_pool1d/divisor", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.AvgPool1d(in[0], []int{2}, F.PoolOptions{Stride: []int{1}, Padding: []int{1}, DivisorOverride: 3}).Square()
	}, spLeaf(33, 2, 5))
	spGradCheck(t, "adaptive_avg_pool2d", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.AdaptiveAvgPool2d(in[0], 2, 3).Square()
	}, spLeaf(34, 1, 2, 5, 4))
	spGradCheck(t, "adaptive_avg_pool1d", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.AdaptiveAvgPool1d(in[0], 3).Square()
	}, spLeaf(35, 2, 7))
	spGradCheck(t, "avg_pool3d", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.AvgPool3d(in[0], []int{2, 3, 2}, F.PoolOptions{Stride: []int{1, 2, 2}, Padding: []int{1}, CeilMode: true}).Square()
	}, spLeaf(37, 1, 2, 3, 5, 4))
	spGradCheck(t, "adaptive_avg_pool3d", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.AdaptiveAvgPool3d(in[0], 2, 3, 2).Square()
	}, spLeaf(38, 2, 3, 5, 3))
}

// Adaptive pooling against a direct loop over torch's bins
// [⌊i·n/out⌋, ⌈(i+1)·n/out⌉).
func TestAdaptiveAvgPool2dMatchesBins(t *testing.T) {
	for _, c := range []struct{ h, w, oh, ow int }{{7, 5, 3, 2}, {5, 7, 7, 9}, {6, 6, 3, 3}, {4, 9, 1, 1}, {3, 3, 3, 3}} {
		x := spLeaf(36, 2, 3, c.h, c.w)
		y := F.AdaptiveAvgPool2d(x, c.oh, c.ow)
		xv := x.Float64s()
		var want []float64
		for p := 0; p < 6; p++ {
			for i := 0; i < c.oh; i++ {
				for j := 0; j < c.ow; j++ {
					y0, y1 := i*c.h/c.oh, ((i+1)*c.h+c.oh-1)/c.oh
					x0, x1 := j*c.w/c.ow, ((j+1)*c.w+c.ow-1)/c.ow
					s := 0.0
					for a := y0; a < y1; a++ {
						for b := x0; b < x1; b++ {
							s += xv[(p*c.h+a)*c.w+b]
						}
					}
					want = append(want, s/float64((y1-y0)*(x1-x0)))
				}
			}
		}
		if err := spCompare(y, want, []int{2, 3, c.oh, c.ow}, 1e-13, fmt.Sprint(c)); err != nil {
			t.Error(err)
		}
	}
}

func TestPoolErrors(t *testing.T) {
	x := tensor.Zeros(1, 2, 4, 4)
	for _, c := range []struct {
		name string
		f    func()
		msg  []string
	}{
		{"max rank", func() { F.MaxPool2d(tensor.Zeros(4, 4), []int{2}) }, []string{"max_pool2d", "[4 4]", "3-d (unbatched) or 4-d"}},
		{"max kernel", func() { F.MaxPool2d(x, []int{5}) }, []string{"max_pool", "[1 2 4 4]", "too small for the kernel [5 5]"}},
		{"max padding", func() { F.MaxPool2d(x, []int{2}, F.PoolOptions{Padding: []int{2}}) }, []string{"max_pool", "padding [2 2] must be at most half the kernel [2 2]"}},
		{"max avg options", func() { F.MaxPool2d(x, []int{2}, F.PoolOptions{ExcludePadding: true}) }, []string{"max_pool2d", "average pooling only"}},
		{"max kernel entries", func() { F.MaxPool1d(tensor.Zeros(1, 2, 4), []int{2, 2}) }, []string{"max_pool1d", "kernel [2 2] has 2 entries for 1 spatial dims"}},
		{"avg rank", func() { F.AvgPool2d(tensor.Zeros(1, 1, 1, 4, 4), []int{2}) }, []string{"avg_pool2d", "[1 1 1 4 4]"}},
		{"avg kernel", func() { F.AvgPool2d(x, []int{3, 5}) }, []string{"avg_pool2d", "[1 2 4 4]", "too small for the kernel [3 5]"}},
		{"avg padding", func() { F.AvgPool2d(x, []int{3}, F.PoolOptions{Padding: []int{2}}) }, []string{"avg_pool2d", "padding [2 2] must be at most half"}},
		{"avg dilation", func() { F.AvgPool2d(x, []int{2}, F.PoolOptions{Dilation: []int{2}}) }, []string{"avg_pool2d", "no dilation"}},
		{"adaptive rank", func() { F.AdaptiveAvgPool2d(tensor.Zeros(4, 4), 2, 2) }, []string{"adaptive_avg_pool2d", "[4 4]"}},
		{"adaptive size", func() { F.AdaptiveAvgPool2d(x, -1, 2) }, []string{"adaptive_avg_pool2d", "[1 2 4 4]", "-1"}},
		{"adaptive empty", func() { F.AdaptiveAvgPool1d(tensor.Zeros(1, 2, 0), 2) }, []string{"adaptive_avg_pool1d", "[1 2 0]"}},
		{"avg3d rank", func() { F.AvgPool3d(tensor.Zeros(4, 4), []int{2}) }, []string{"avg_pool3d", "[4 4]", "4-d (unbatched) or 5-d"}},
		{"avg3d kernel", func() { F.AvgPool3d(tensor.Zeros(1, 1, 2, 4, 4), []int{3, 2, 2}) }, []string{"avg_pool3d", "[1 1 2 4 4]", "too small for the kernel [3 2 2]"}},
		{"adaptive3d rank", func() { F.AdaptiveAvgPool3d(tensor.Zeros(1, 1, 2, 2, 2, 2), 2, 2, 2) }, []string{"adaptive_avg_pool3d", "[1 1 2 2 2 2]"}},
		{"adaptive3d size", func() { F.AdaptiveAvgPool3d(tensor.Zeros(1, 2, 3, 4), 1, -2, 1) }, []string{"adaptive_avg_pool3d", "[1 2 3 4]", "-2"}},
	} {
		spExpectError(t, c.name, c.f, tensor.ErrShape, c.msg...)
	}
}

func ExampleMaxPool2d() {
	x := tensor.FromSlice([]float32{
		1, 5, 2, 0,
		3, 4, 8, 1,
		0, 2, 1, 7,
		6, 1, 3, 2}, 1, 1, 4, 4)
	fmt.Println(F.MaxPool2d(x, []int{2}).Reshape(2, 2))
	// a 3×3 window moving by 2, padded by 1, keeping a last partial window
	fmt.Println(F.MaxPool2d(x, []int{3}, F.PoolOptions{Stride: []int{2}, Padding: []int{1}, CeilMode: true}).Shape())
	// Output:
	// tensor([[5., 8.],
	//         [6., 7.]])
	// [1 1 3 3]
}

func ExampleAvgPool2d() {
	x := tensor.Ones(1, 1, 3, 3)
	// the zero padding counts in each average unless ExcludePadding is set
	fmt.Println(F.AvgPool2d(x, []int{2}, F.PoolOptions{Stride: []int{2}, Padding: []int{1}}).Reshape(2, 2))
	fmt.Println(F.AvgPool2d(x, []int{2}, F.PoolOptions{Stride: []int{2}, Padding: []int{1}, ExcludePadding: true}).Reshape(2, 2))
	// Output:
	// tensor([[0.2500, 0.5000],
	//         [0.5000, 1.0000]])
	// tensor([[1., 1.],
	//         [1., 1.]])
}

func ExampleAdaptiveAvgPool2d() {
	// global average pooling: one value per channel
	x := tensor.Arange(0, 8, 1).To(tensor.Float32).Reshape(1, 2, 2, 2)
	fmt.Println(F.AdaptiveAvgPool2d(x, 1, 1).Flatten(1, -1))
	// Output:
	// tensor([[1.5000, 5.5000]])
}
