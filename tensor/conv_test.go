package tensor_test

// Unfold, Fold and MaxPool against direct loops written here from their
// definitions (the window o·stride − padding + j·dilation), on
// contiguous and transposed inputs, one and two spatial dims; the
// gradients against the same loops run backwards; and the errors.

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// win is a window over the [H, W] dims of an [N, C, H, W] input; a 1-d
// case has H = 1 and a kernel of height 1.
type win struct{ k, s, p, d [2]int }

func (w win) out(h, wd int) (int, int) {
	o := func(n, i int) int {
		c := 0
		for c*w.s[i]+(w.k[i]-1)*w.d[i] <= n-1+2*w.p[i] {
			c++
		}
		return c
	}
	return o(h, 0), o(wd, 1)
}

// refUnfold is im2col by definition: for every block and tap, the input
// element it lands on, or 0.
func refUnfold(x []float64, n, c, h, wd int, w win) []float64 {
	oh, ow := w.out(h, wd)
	k := w.k[0] * w.k[1]
	out := make([]float64, n*c*k*oh*ow)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			for ki := 0; ki < w.k[0]; ki++ {
				for kj := 0; kj < w.k[1]; kj++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							iy := oy*w.s[0] - w.p[0] + ki*w.d[0]
							ix := ox*w.s[1] - w.p[1] + kj*w.d[1]
							if iy < 0 || iy >= h || ix < 0 || ix >= wd {
								continue
							}
							row := (b*c+ch)*k + ki*w.k[1] + kj
							out[row*oh*ow+oy*ow+ox] = x[((b*c+ch)*h+iy)*wd+ix]
						}
					}
				}
			}
		}
	}
	return out
}

// refFold is col2im by definition: the transpose of refUnfold's copy.
func refFold(cols []float64, n, c, h, wd int, w win) []float64 {
	oh, ow := w.out(h, wd)
	k := w.k[0] * w.k[1]
	out := make([]float64, n*c*h*wd)
	for b := 0; b < n; b++ {
		for ch := 0; ch < c; ch++ {
			for ki := 0; ki < w.k[0]; ki++ {
				for kj := 0; kj < w.k[1]; kj++ {
					for oy := 0; oy < oh; oy++ {
						for ox := 0; ox < ow; ox++ {
							iy := oy*w.s[0] - w.p[0] + ki*w.d[0]
							ix := ox*w.s[1] - w.p[1] + kj*w.d[1]
							if iy < 0 || iy >= h || ix < 0 || ix >= wd {
								continue
							}
							row := (b*c+ch)*k + ki*w.k[1] + kj
							out[((b*c+ch)*h+iy)*wd+ix] += cols[row*oh*ow+oy*ow+ox]
						}
					}
				}
			}
		}
	}
	return out
}

// refMaxPool returns the maxima, their flat spatial positions, and how
// many windows pick each input element.
func refMaxPool(x []float64, n, c, h, wd, oh, ow int, w win) (vals []float64, idx []int64, hits []float64) {
	hits = make([]float64, len(x))
	for pl := 0; pl < n*c; pl++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best, at := math.Inf(-1), -1
				for ki := 0; ki < w.k[0]; ki++ {
					for kj := 0; kj < w.k[1]; kj++ {
						iy := oy*w.s[0] - w.p[0] + ki*w.d[0]
						ix := ox*w.s[1] - w.p[1] + kj*w.d[1]
						if iy < 0 || iy >= h || ix < 0 || ix >= wd {
							continue
						}
						if v := x[pl*h*wd+iy*wd+ix]; at < 0 || v > best {
							best, at = v, iy*wd+ix
						}
					}
				}
				vals = append(vals, best)
				idx = append(idx, int64(at))
				hits[pl*h*wd+at]++
			}
		}
	}
	return vals, idx, hits
}

type windowCase struct {
	name   string
	shape  []int // the input's shape as the op sees it
	trans  bool  // the input is a transposed view of its last two dims
	w      win
	ceil   bool
	oh, ow int // MaxPool's output size (0: floor mode's)
}

func (c windowCase) dims() (n, ch, h, wd int) {
	if len(c.shape) == 3 {
		return c.shape[0], c.shape[1], 1, c.shape[2]
	}
	return c.shape[0], c.shape[1], c.shape[2], c.shape[3]
}

// args are the window's arguments in the op's own rank.
func (c windowCase) args() (k, s, p, d []int) {
	if len(c.shape) == 3 {
		return []int{c.w.k[1]}, []int{c.w.s[1]}, []int{c.w.p[1]}, []int{c.w.d[1]}
	}
	return c.w.k[:], c.w.s[:], c.w.p[:], c.w.d[:]
}

// input makes a float64 input of the case's shape with distinct values,
// as a transposed view when asked.
func (c windowCase) input() (*tensor.Tensor, []float64) {
	gen := tensor.NewGenerator(77)
	if !c.trans {
		x := gen.Normal(tensor.Float64, 0, 1, c.shape...)
		return x, x.Float64s()
	}
	sh := append([]int(nil), c.shape...)
	r := len(sh)
	sh[r-1], sh[r-2] = sh[r-2], sh[r-1]
	x := gen.Normal(tensor.Float64, 0, 1, sh...).Transpose(-1, -2)
	return x, x.Float64s()
}

var windowCases = []windowCase{
	{name: "3x2", shape: []int{2, 3, 5, 4}, w: win{[2]int{3, 2}, [2]int{1, 1}, [2]int{0, 0}, [2]int{1, 1}}},
	{name: "stride2_pad1", shape: []int{1, 2, 7, 6}, w: win{[2]int{3, 3}, [2]int{2, 2}, [2]int{1, 1}, [2]int{1, 1}}},
	{name: "dilated_transposed", shape: []int{2, 2, 9, 8}, trans: true, w: win{[2]int{3, 2}, [2]int{2, 3}, [2]int{1, 1}, [2]int{2, 3}}},
	{name: "1x1", shape: []int{1, 3, 4, 4}, w: win{[2]int{1, 1}, [2]int{1, 1}, [2]int{0, 0}, [2]int{1, 1}}},
	{name: "1d", shape: []int{3, 2, 11}, w: win{[2]int{1, 3}, [2]int{1, 2}, [2]int{0, 1}, [2]int{1, 2}}},
	{name: "1d_transposed", shape: []int{2, 4, 6}, trans: true, w: win{[2]int{1, 2}, [2]int{1, 1}, [2]int{0, 1}, [2]int{1, 1}}},
}

func winClose(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestUnfoldFoldMatchDefinition(t *testing.T) {
	for _, c := range windowCases {
		t.Run(c.name, func(t *testing.T) {
			n, ch, h, wd := c.dims()
			k, s, p, d := c.args()
			x, xv := c.input()
			x.SetRequiresGrad(false)
			leaf := x.Detach().SetRequiresGrad(true)
			u := tensor.Unfold(leaf, k, d, p, s)
			oh, ow := c.w.out(h, wd)
			kk := c.w.k[0] * c.w.k[1]
			if want := []int{n, ch * kk, oh * ow}; fmt.Sprint(u.Shape()) != fmt.Sprint(want) {
				t.Fatalf("unfold shape %v, want %v", u.Shape(), want)
			}
			winClose(t, "unfold", u.Float64s(), refUnfold(xv, n, ch, h, wd, c.w), 0)

			// Fold of random columns, and the gradient of Unfold (a Fold
			// of the cotangent), both against refFold
			cols := tensor.NewGenerator(5).Normal(tensor.Float64, 0, 1, u.Shape()...)
			size := c.shape[2:]
			f := tensor.Fold(cols.Transpose(0, 1).Contiguous().Transpose(0, 1), size, k, d, p, s)
			if fmt.Sprint(f.Shape()) != fmt.Sprint(c.shape) {
				t.Fatalf("fold shape %v, want %v", f.Shape(), c.shape)
			}
			want := refFold(cols.Float64s(), n, ch, h, wd, c.w)
			winClose(t, "fold", f.Float64s(), want, 1e-14)
			u.BackwardWith(cols)
			winClose(t, "unfold grad", leaf.Grad().Float64s(), want, 1e-14)
			if got := u.GradFn().Name(); got != "Im2ColBackward0" {
				t.Errorf("node name %q", got)
			}

			// float32 runs the same kernels
			u32 := tensor.Unfold(x.To(tensor.Float32), k, d, p, s)
			if u32.DType() != tensor.Float32 {
				t.Fatalf("float32 unfold gave %v", u32.DType())
			}
			winClose(t, "unfold float32", u32.Float64s(), refUnfold(x.To(tensor.Float32).Float64s(), n, ch, h, wd, c.w), 0)
		})
	}
}

func TestMaxPoolMatchesDefinition(t *testing.T) {
	cases := append([]windowCase{}, windowCases...)
	cases = append(cases,
		windowCase{name: "ceil", shape: []int{1, 2, 7, 6}, ceil: true, oh: 4, ow: 3, w: win{[2]int{3, 3}, [2]int{2, 2}, [2]int{1, 0}, [2]int{1, 1}}},
		windowCase{name: "ceil_1d", shape: []int{2, 1, 5}, ceil: true, ow: 3, w: win{[2]int{1, 2}, [2]int{1, 2}, [2]int{0, 0}, [2]int{1, 1}}},
		// torch drops a ceil-mode window that would start in the right padding
		windowCase{name: "ceil_drop", shape: []int{1, 1, 5, 5}, ceil: true, oh: 3, ow: 3, w: win{[2]int{2, 2}, [2]int{2, 2}, [2]int{1, 1}, [2]int{1, 1}}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, ch, h, wd := c.dims()
			k, s, p, d := c.args()
			if c.name == "1x1" || c.name == "3x2" {
				s = nil // defaults to the kernel
				c.w.s = c.w.k
			}
			x, xv := c.input()
			leaf := x.Detach().SetRequiresGrad(true)
			v, i := tensor.MaxPool(leaf, k, s, p, d, c.ceil)
			oh, ow := c.w.out(h, wd)
			if c.ceil {
				oh, ow = max(c.oh, 1), c.ow
			}
			wantV, wantI, hits := refMaxPool(xv, n, ch, h, wd, oh, ow, c.w)
			winClose(t, "values", v.Float64s(), wantV, 0)
			if got := i.Int64s(); fmt.Sprint(got) != fmt.Sprint(wantI) {
				t.Fatalf("indices %v, want %v", got, wantI)
			}
			if len(c.shape) == 4 && (v.Size(2) != oh || v.Size(3) != ow) {
				t.Fatalf("output shape %v, want [.. %d %d]", v.Shape(), oh, ow)
			}
			// the gradient of Σ values lands once per window that picks
			// an element
			v.Sum().Backward()
			winClose(t, "grad", leaf.Grad().Float64s(), hits, 0)
		})
	}
}

func TestWindowOpsHalf(t *testing.T) {
	x := tensor.NewGenerator(3).Normal(tensor.Float32, 0, 1, 1, 2, 4, 4)
	h := x.To(tensor.BFloat16)
	u := tensor.Unfold(h, []int{2}, nil, []int{1}, nil)
	if u.DType() != tensor.BFloat16 {
		t.Fatalf("unfold of bfloat16 gave %v", u.DType())
	}
	winClose(t, "unfold bf16", u.Float64s(), tensor.Unfold(h.To(tensor.Float32), []int{2}, nil, []int{1}, nil).Float64s(), 0)
	v, _ := tensor.MaxPool(h, []int{2}, nil, nil, nil, false)
	if v.DType() != tensor.BFloat16 {
		t.Fatalf("max_pool of bfloat16 gave %v", v.DType())
	}
}

func TestWindowOpsErrors(t *testing.T) {
	x4 := tensor.Zeros(1, 2, 3, 3)
	for _, c := range []struct {
		name string
		f    func()
		kind error
		msg  string
	}{
		{"unfold rank", func() { tensor.Unfold(tensor.Zeros(2, 3), []int{1}, nil, nil, nil) }, tensor.ErrShape, "unfold: expected a 3-d"},
		{"unfold too small", func() { tensor.Unfold(x4, []int{4}, nil, nil, nil) }, tensor.ErrShape, "smaller than the kernel [4 4]"},
		{"unfold kernel len", func() { tensor.Unfold(x4, []int{1, 2, 3}, nil, nil, nil) }, tensor.ErrShape, "kernel [1 2 3] has 3 entries for 2 spatial dims"},
		{"unfold stride 0", func() { tensor.Unfold(x4, []int{1}, nil, nil, []int{0}) }, tensor.ErrShape, "stride [0] must be at least 1"},
		{"unfold int", func() { tensor.Unfold(x4.To(tensor.Int64), []int{1}, nil, nil, nil) }, tensor.ErrDType, "int64"},
		{"fold blocks", func() { tensor.Fold(tensor.Zeros(1, 4, 5), []int{3, 3}, []int{2}, nil, nil, nil) }, tensor.ErrShape, "has 4 block positions, not 5"},
		{"fold channels", func() { tensor.Fold(tensor.Zeros(1, 6, 4), []int{3, 3}, []int{2}, nil, nil, nil) }, tensor.ErrShape, "not a multiple of the kernel size"},
		{"fold rank", func() { tensor.Fold(x4, []int{3, 3}, []int{2}, nil, nil, nil) }, tensor.ErrShape, "expected a 3-d"},
		{"max_pool padding", func() { tensor.MaxPool(x4, []int{2}, nil, []int{2}, nil, false) }, tensor.ErrShape, "padding [2 2] must be at most half the kernel [2 2]"},
		{"max_pool too small", func() { tensor.MaxPool(x4, []int{4}, nil, nil, nil, false) }, tensor.ErrShape, "too small for the kernel [4 4]"},
		{"max_pool only padding", func() { tensor.MaxPool(tensor.Zeros(1, 1, 1), []int{2}, []int{1}, []int{1}, []int{2}, false) }, tensor.ErrShape, "covers only padding"},
		{"max_pool rank", func() { tensor.MaxPool(tensor.Zeros(1, 1, 2, 2, 2), []int{2}, nil, nil, nil, false) }, tensor.ErrShape, "shape [1 1 2 2 2]"},
	} {
		err := tensor.Try(c.f)
		if err == nil || !errors.Is(err, c.kind) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v, want a %v error containing %q", c.name, err, c.kind, c.msg)
		}
	}
}

func ExampleUnfold() {
	// the 2×2 blocks of a 3×3 image, one block per column
	x := tensor.Arange(1, 10, 1).To(tensor.Float32).Reshape(1, 1, 3, 3)
	cols := tensor.Unfold(x, []int{2, 2}, nil, nil, nil)
	fmt.Println(cols.Squeeze(0))
	// Fold sums the blocks back: inner pixels were in more blocks
	fmt.Println(tensor.Fold(cols, []int{3, 3}, []int{2, 2}, nil, nil, nil).Reshape(3, 3))
	// Output:
	// tensor([[1., 2., 4., 5.],
	//         [2., 3., 5., 6.],
	//         [4., 5., 7., 8.],
	//         [5., 6., 8., 9.]])
	// tensor([[ 1.,  4.,  3.],
	//         [ 8., 20., 12.],
	//         [ 7., 16.,  9.]])
}

func ExampleMaxPool() {
	x := tensor.FromSlice([]float32{1, 5, 2, 0, 3, 4, 8, 1, 0, 2, 1, 7, 6, 1, 3, 2}, 1, 1, 4, 4)
	v, i := tensor.MaxPool(x, []int{2}, nil, nil, nil, false)
	fmt.Println(v.Reshape(2, 2))
	fmt.Println(i.Reshape(2, 2))
	// Output:
	// tensor([[5., 8.],
	//         [6., 7.]])
	// tensor([[ 1,  6],
	//         [12, 11]])
}
