package functional_test

// This file holds the PyTorch-fixture harness for the package's spatial
// functions (convolutions, unfold/fold, pooling, padding, interpolation),
// and the convolution tests. The fixtures come from
// testdata/gen_spatial.py, run with Debian's PyTorch 1.13: each case gives
// the inputs (and how the op sees them: transposed, sliced), a random
// cotangent (both float32 values, exact in either dtype), and torch's
// output and gradients of Σ out·cotangent with respect to every input, in
// float64 and float32; here the same call runs in Tapir and must agree.

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/tensor"
)

type spArray struct {
	Shape []int  `json:"shape"`
	View  []any  `json:"view"`
	Data  string `json:"data"`
}

type spResult struct {
	Out     spArray  `json:"out"`
	Grads   []string `json:"grads"`
	Indices []int64  `json:"indices"`
	// GradsOmitted says why a case has no gradients to compare (torch's
	// were wrong); another test covers them.
	GradsOmitted string `json:"grads_omitted"`
}

type spCase struct {
	Name      string         `json:"name"`
	Fn        string         `json:"fn"`
	Args      map[string]any `json:"args"`
	Inputs    []spArray      `json:"inputs"`
	Float64   spResult       `json:"float64"`
	Float32   spResult       `json:"float32"`
	Cotangent string         `json:"cotangent"`
}

// spFloats decodes little-endian float64 (size 8) or float32 (size 4)
// values from base64.
func spFloats(t testing.TB, s string, size int) []float64 {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%size != 0 {
		t.Fatalf("bad fixture array (%d bytes): %v", len(b), err)
	}
	out := make([]float64, len(b)/size)
	for i := range out {
		if size == 8 {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		} else {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
		}
	}
	return out
}

// spTensor makes a tensor of dt from float64 values (rounded for Float32).
func spTensor(v []float64, dt tensor.DType, shape ...int) *tensor.Tensor {
	return tensor.FromSlice(append([]float64(nil), v...), shape...).To(dt)
}

func spInts(v any) []int {
	switch x := v.(type) {
	case nil:
		return nil
	case float64:
		return []int{int(x)}
	case []any:
		out := make([]int, len(x))
		for i, e := range x {
			out[i] = int(e.(float64))
		}
		return out
	}
	panic(fmt.Sprintf("not an int list: %v", v))
}

func spView(x *tensor.Tensor, view []any) *tensor.Tensor {
	if view == nil {
		return x
	}
	switch view[0] {
	case "T":
		return x.Transpose(-1, -2)
	case "slice":
		d, start, step := int(view[1].(float64)), int(view[2].(float64)), int(view[3].(float64))
		return x.Slice(d, start, x.Size(d), step)
	}
	panic(fmt.Sprint("unknown view ", view))
}

func spBool(a map[string]any, k string) bool { v, _ := a[k].(bool); return v }

func spConvOptions(a map[string]any) F.ConvOptions {
	o := F.ConvOptions{Stride: spInts(a["stride"]), Dilation: spInts(a["dilation"])}
	if p, ok := a["padding"].(string); ok {
		o.Same = p == "same"
	} else {
		o.Padding = spInts(a["padding"])
	}
	if g, ok := a["groups"].(float64); ok {
		o.Groups = int(g)
	}
	return o
}

func spPoolOptions(a map[string]any) F.PoolOptions {
	o := F.PoolOptions{Stride: spInts(a["stride"]), Padding: spInts(a["padding"]), Dilation: spInts(a["dilation"]), CeilMode: spBool(a, "ceil_mode")}
	if v, ok := a["count_include_pad"].(bool); ok {
		o.ExcludePadding = !v
	}
	if v, ok := a["divisor_override"].(float64); ok {
		o.DivisorOverride = int(v)
	}
	return o
}

func spOpt(x []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(x) {
		return x[i]
	}
	return nil
}

// spCall runs the Tapir function for fn; the second result is the
// indices of a max pooling.
func spCall(fn string, a map[string]any, x []*tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	switch fn {
	case "conv1d":
		return F.Conv1d(x[0], x[1], spOpt(x, 2), spConvOptions(a)), nil
	case "conv2d":
		return F.Conv2d(x[0], x[1], spOpt(x, 2), spConvOptions(a)), nil
	case "conv_transpose1d", "conv_transpose2d":
		o := F.ConvTransposeOptions{Stride: spInts(a["stride"]), Padding: spInts(a["padding"]),
			OutputPadding: spInts(a["output_padding"]), Dilation: spInts(a["dilation"])}
		if g, ok := a["groups"].(float64); ok {
			o.Groups = int(g)
		}
		if fn == "conv_transpose1d" {
			return F.ConvTranspose1d(x[0], x[1], spOpt(x, 2), o), nil
		}
		return F.ConvTranspose2d(x[0], x[1], spOpt(x, 2), o), nil
	case "unfold":
		return F.Unfold(x[0], spInts(a["kernel"]), F.FoldOptions{Dilation: spInts(a["dilation"]), Padding: spInts(a["padding"]), Stride: spInts(a["stride"])}), nil
	case "fold":
		return F.Fold(x[0], spInts(a["output_size"]), spInts(a["kernel"]), F.FoldOptions{Dilation: spInts(a["dilation"]), Padding: spInts(a["padding"]), Stride: spInts(a["stride"])}), nil
	case "max_pool1d":
		return F.MaxPool1dWithIndices(x[0], spInts(a["kernel"]), spPoolOptions(a))
	case "max_pool2d":
		return F.MaxPool2dWithIndices(x[0], spInts(a["kernel"]), spPoolOptions(a))
	case "avg_pool1d":
		return F.AvgPool1d(x[0], spInts(a["kernel"]), spPoolOptions(a)), nil
	case "avg_pool2d":
		return F.AvgPool2d(x[0], spInts(a["kernel"]), spPoolOptions(a)), nil
	case "avg_pool3d":
		return F.AvgPool3d(x[0], spInts(a["kernel"]), spPoolOptions(a)), nil
	case "adaptive_avg_pool1d":
		return F.AdaptiveAvgPool1d(x[0], spInts(a["out"])[0]), nil
	case "adaptive_avg_pool2d":
		o := spInts(a["out"])
		return F.AdaptiveAvgPool2d(x[0], o[0], o[1]), nil
	case "adaptive_avg_pool3d":
		o := spInts(a["out"])
		return F.AdaptiveAvgPool3d(x[0], o[0], o[1], o[2]), nil
	case "pad":
		v, _ := a["value"].(float64)
		return F.Pad(x[0], spInts(a["pad"]), a["mode"].(string), v), nil
	case "interpolate":
		o := F.InterpolateOptions{Size: spInts(a["size"]), AlignCorners: spBool(a, "align_corners")}
		o.Mode, _ = a["mode"].(string)
		switch s := a["scale_factor"].(type) {
		case float64:
			o.ScaleFactor = []float64{s}
		case []any:
			for _, e := range s {
				o.ScaleFactor = append(o.ScaleFactor, e.(float64))
			}
		}
		return F.Interpolate(x[0], o), nil
	}
	panic("unknown fixture function " + fn)
}

var spFixtures []spCase

func spLoad(t testing.TB) []spCase {
	t.Helper()
	if spFixtures != nil {
		return spFixtures
	}
	b, err := os.ReadFile(filepath.Join("testdata", "spatial.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []spCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	spFixtures = f.Cases
	return spFixtures
}

// spCompare checks got against want elementwise: |g − w| ≤ rtol·(|w| +
// max|want|), the second term covering results that cancel to near 0.
func spCompare(got *tensor.Tensor, want []float64, shape []int, rtol float64, what string) error {
	if shape != nil && fmt.Sprint(got.Shape()) != fmt.Sprint(shape) {
		return fmt.Errorf("%s: shape %v, want %v", what, got.Shape(), shape)
	}
	g := got.Float64s()
	if len(g) != len(want) {
		return fmt.Errorf("%s: %d elements, want %d", what, len(g), len(want))
	}
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i, w := range want {
		if math.Abs(g[i]-w) > rtol*(math.Abs(w)+scale) || math.IsNaN(g[i]) != math.IsNaN(w) {
			return fmt.Errorf("%s: element %d = %.10g, want %.10g", what, i, g[i], w)
		}
	}
	return nil
}

// spRunFixtures checks every fixture case whose function starts with one
// of prefixes, in float64 and float32.
func spRunFixtures(t *testing.T, prefixes ...string) {
	n := 0
	for _, c := range spLoad(t) {
		match := false
		for _, p := range prefixes {
			match = match || strings.HasPrefix(c.Fn, p)
		}
		if !match {
			continue
		}
		n++
		t.Run(c.Name, func(t *testing.T) {
			for _, run := range []struct {
				dt   tensor.DType
				size int
				rtol float64
				res  spResult
			}{{tensor.Float64, 8, 1e-9, c.Float64}, {tensor.Float32, 4, 1e-4, c.Float32}} {
				leaves := make([]*tensor.Tensor, len(c.Inputs))
				ins := make([]*tensor.Tensor, len(c.Inputs))
				for i, in := range c.Inputs {
					leaves[i] = spTensor(spFloats(t, in.Data, 4), run.dt, in.Shape...).SetRequiresGrad(true)
					ins[i] = spView(leaves[i], in.View)
				}
				out, idx := spCall(c.Fn, c.Args, ins)
				if out.DType() != run.dt {
					t.Fatalf("%v: output is %v", run.dt, out.DType())
				}
				if err := spCompare(out, spFloats(t, run.res.Out.Data, run.size), run.res.Out.Shape, run.rtol, run.dt.String()+" output"); err != nil {
					t.Fatal(err)
				}
				if run.res.Indices != nil {
					if idx == nil || fmt.Sprint(idx.Int64s()) != fmt.Sprint(run.res.Indices) {
						t.Fatalf("%v: indices %v, want %v", run.dt, idx, run.res.Indices)
					}
				}
				cot := spTensor(spFloats(t, c.Cotangent, 4), run.dt, out.Shape()...)
				out.BackwardWith(cot)
				if run.res.Grads == nil && run.res.GradsOmitted == "" {
					t.Fatalf("%v: the fixture has no gradients", run.dt)
				}
				for i, g := range run.res.Grads {
					if leaves[i].Grad() == nil {
						t.Fatalf("%v: input %d got no gradient", run.dt, i)
					}
					if err := spCompare(leaves[i].Grad(), spFloats(t, g, run.size), c.Inputs[i].Shape, run.rtol, fmt.Sprintf("%v gradient of input %d", run.dt, i)); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
	if n == 0 {
		t.Fatalf("no fixture cases for %v", prefixes)
	}
}

func TestSpatialFixturesConv(t *testing.T) {
	spRunFixtures(t, "conv", "unfold", "fold")
}

// spLeaf is a float64 leaf of N(0,1) values from a fixed seed.
func spLeaf(seed uint64, shape ...int) *tensor.Tensor {
	return tensor.NewGenerator(seed).Normal(tensor.Float64, 0, 1, shape...).SetRequiresGrad(true)
}

// spGradCheck runs first- and second-order gradcheck of f on in.
func spGradCheck(t *testing.T, name string, f func(in []*tensor.Tensor) *tensor.Tensor, in ...*tensor.Tensor) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		if err := autograd.GradCheck(f, in, autograd.GradCheckOptions{GradGrad: true}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConvGradCheck(t *testing.T) {
	spGradCheck(t, "conv2d", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.Conv2d(in[0], in[1], in[2], F.ConvOptions{Stride: []int{2, 1}, Padding: []int{1}})
	}, spLeaf(1, 1, 2, 4, 3), spLeaf(2, 2, 2, 2, 2), spLeaf(3, 2))
	spGradCheck(t, "conv2d/groups_dilation_transposed", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.Conv2d(in[0].Transpose(2, 3), in[1], nil, F.ConvOptions{Groups: 2, Dilation: []int{2, 1}, Same: true})
	}, spLeaf(4, 1, 4, 3, 4), spLeaf(5, 2, 2, 2, 2))
	spGradCheck(t, "conv1d", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.Conv1d(in[0], in[1], in[2], F.ConvOptions{Stride: []int{2}, Padding: []int{1}})
	}, spLeaf(6, 2, 2, 5), spLeaf(7, 3, 2, 3), spLeaf(8, 3))
	spGradCheck(t, "conv_transpose2d", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.ConvTranspose2d(in[0], in[1], in[2], F.ConvTransposeOptions{Stride: []int{2}, Padding: []int{1}, OutputPadding: []int{1, 0}, Groups: 2})
	}, spLeaf(9, 1, 2, 2, 3), spLeaf(10, 2, 1, 3, 2), spLeaf(11, 2))
	spGradCheck(t, "conv_transpose2d/outpad_ge_stride", func(in []*tensor.Tensor) *tensor.Tensor {
		return F.ConvTranspose2d(in[0], in[1], nil, F.ConvTransposeOptions{Stride: []int{1}, Dilation: []int{2}, OutputPadding: []int{1}, Padding: []int{1}})
	}, spLeaf(12, 1, 1, 2, 2), spLeaf(13, 1, 2, 2, 2))
}

// A direct loop for the convolution, from the definition
// y[n, o, i, j] = b[o] + Σ x[n, c, i·s − p + a·d, j·s − p + b·d]·w[o, c', a, b].
func TestConv2dMatchesDirectLoop(t *testing.T) {
	const n, cin, cout, h, w, k, s, p, d, g = 2, 4, 6, 7, 6, 3, 2, 2, 2, 2
	x, wt, b := spLeaf(20, n, cin, h, w), spLeaf(21, cout, cin/g, k, k), spLeaf(22, cout)
	y := F.Conv2d(x, wt, b, F.ConvOptions{Stride: []int{s}, Padding: []int{p}, Dilation: []int{d}, Groups: g})
	xv, wv, bv := x.Float64s(), wt.Float64s(), b.Float64s()
	oh, ow := (h+2*p-d*(k-1)-1)/s+1, (w+2*p-d*(k-1)-1)/s+1
	want := make([]float64, 0, n*cout*oh*ow)
	for bi := 0; bi < n; bi++ {
		for o := 0; o < cout; o++ {
			grp := o / (cout / g)
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					sum := bv[o]
					for cc := 0; cc < cin/g; cc++ {
						c := grp*(cin/g) + cc
						for a := 0; a < k; a++ {
							for e := 0; e < k; e++ {
								iy, ix := i*s-p+a*d, j*s-p+e*d
								if iy < 0 || iy >= h || ix < 0 || ix >= w {
									continue
								}
								sum += xv[((bi*cin+c)*h+iy)*w+ix] * wv[((o*(cin/g)+cc)*k+a)*k+e]
							}
						}
					}
					want = append(want, sum)
				}
			}
		}
	}
	if err := spCompare(y, want, []int{n, cout, oh, ow}, 1e-12, "conv2d"); err != nil {
		t.Fatal(err)
	}
}

// Forward passes sharing one weight from many goroutines agree with a
// serial run (and, under -race, do not race).
func TestSpatialConcurrentForward(t *testing.T) {
	w := spLeaf(60, 4, 3, 3, 3)
	xs := make([]*tensor.Tensor, 4)
	want := make([][]float64, len(xs))
	net := func(x *tensor.Tensor) *tensor.Tensor {
		y := F.Conv2d(x, w, nil, F.ConvOptions{Padding: []int{1}})
		y = F.MaxPool2d(y, []int{2})
		return F.Interpolate(F.AvgPool2d(y, []int{2}, F.PoolOptions{Stride: []int{1}}), F.InterpolateOptions{Size: []int{4, 4}, Mode: "bilinear"})
	}
	for i := range xs {
		xs[i] = spLeaf(uint64(61+i), 2, 3, 9, 9)
		want[i] = net(xs[i]).Float64s()
	}
	done := make(chan error, len(xs))
	for i := range xs {
		go func() {
			y := net(xs[i])
			done <- spCompare(y, want[i], nil, 0, fmt.Sprint("goroutine ", i))
		}()
	}
	for range xs {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// spExpectError checks that f panics with a *tensor.Error of kind
// containing every fragment of msg.
func spExpectError(t *testing.T, name string, f func(), kind error, msg ...string) {
	t.Helper()
	err := tensor.Try(f)
	if err == nil || !errors.Is(err, kind) {
		t.Errorf("%s: got %v, want a %v error", name, err, kind)
		return
	}
	for _, m := range msg {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not mention %q", name, err, m)
		}
	}
}

func TestConvErrors(t *testing.T) {
	x := tensor.Zeros(2, 4, 5, 5)
	for _, c := range []struct {
		name string
		f    func()
		kind error
		msg  []string
	}{
		{"groups", func() { F.Conv2d(x, tensor.Zeros(6, 2, 3, 3), nil, F.ConvOptions{Groups: 3}) }, tensor.ErrShape,
			[]string{"conv2d", "[2 4 5 5]", "[6 2 3 3]", "3 groups"}},
		{"out channels/groups", func() { F.Conv2d(x, tensor.Zeros(5, 2, 3, 3), nil, F.ConvOptions{Groups: 2}) }, tensor.ErrShape,
			[]string{"conv2d", "[5 2 3 3]", "not divisible by 2 groups"}},
		{"kernel too big", func() { F.Conv2d(x, tensor.Zeros(1, 4, 6, 3), nil) }, tensor.ErrShape,
			[]string{"conv2d", "[2 4 5 5]", "smaller than the kernel [6 3]"}},
		{"rank", func() { F.Conv2d(tensor.Zeros(4, 5), tensor.Zeros(1, 4, 3, 3), nil) }, tensor.ErrShape,
			[]string{"conv2d", "3-d (unbatched) or 4-d", "[4 5]"}},
		{"weight rank", func() { F.Conv1d(tensor.Zeros(1, 4, 5), tensor.Zeros(1, 4, 3, 3), nil) }, tensor.ErrShape,
			[]string{"conv1d", "[1 4 3 3]", "3-d"}},
		{"bias", func() { F.Conv2d(x, tensor.Zeros(3, 4, 3, 3), tensor.Zeros(4)) }, tensor.ErrShape,
			[]string{"conv2d", "bias of shape [4]", "3 output channels"}},
		{"dtype", func() { F.Conv2d(x, tensor.Zeros(3, 4, 3, 3).To(tensor.Float64), nil) }, tensor.ErrDType,
			[]string{"conv2d", "float32", "float64"}},
		{"same stride", func() { F.Conv2d(x, tensor.Zeros(3, 4, 3, 3), nil, F.ConvOptions{Same: true, Stride: []int{2}}) }, tensor.ErrShape,
			[]string{"conv2d", "Same padding needs stride 1"}},
		{"stride entries", func() { F.Conv2d(x, tensor.Zeros(3, 4, 3, 3), nil, F.ConvOptions{Stride: []int{1, 2, 3}}) }, tensor.ErrShape,
			[]string{"conv2d", "stride [1 2 3] has 3 entries for 2 spatial dims"}},
		{"transpose channels", func() { F.ConvTranspose2d(x, tensor.Zeros(3, 2, 3, 3), nil) }, tensor.ErrShape,
			[]string{"conv_transpose2d", "[2 4 5 5]", "[3 2 3 3]"}},
		{"transpose groups", func() { F.ConvTranspose2d(x, tensor.Zeros(4, 2, 3, 3), nil, F.ConvTransposeOptions{Groups: 3}) }, tensor.ErrShape,
			[]string{"conv_transpose2d", "not divisible by 3 groups"}},
		{"output padding", func() {
			F.ConvTranspose2d(x, tensor.Zeros(4, 2, 3, 3), nil, F.ConvTransposeOptions{Stride: []int{2}, OutputPadding: []int{2}})
		}, tensor.ErrShape, []string{"conv_transpose2d", "output padding [2 2] must be smaller"}},
		{"fold size", func() { F.Fold(tensor.Zeros(1, 4, 5), []int{3}, []int{2}) }, tensor.ErrShape, []string{"fold", "[3]"}},
	} {
		spExpectError(t, c.name, c.f, c.kind, c.msg...)
	}
}

func ExampleConv2d() {
	// a 3×3 box filter over a 4×4 image, zero-padded to keep the size
	x := tensor.Arange(0, 16, 1).To(tensor.Float32).Reshape(1, 1, 4, 4)
	w := tensor.Ones(1, 1, 3, 3)
	y := F.Conv2d(x, w, nil, F.ConvOptions{Padding: []int{1}})
	fmt.Println(y.Reshape(4, 4))
	// groups = channels: each channel has its own filter (depthwise)
	x2 := tensor.Ones(1, 3, 5, 5)
	dw := F.Conv2d(x2, tensor.Ones(3, 1, 3, 3), tensor.Zeros(3), F.ConvOptions{Groups: 3, Stride: []int{2}})
	fmt.Println(dw.Shape())
	// Output:
	// tensor([[10., 18., 24., 18.],
	//         [27., 45., 54., 39.],
	//         [51., 81., 90., 63.],
	//         [42., 66., 72., 50.]])
	// [1 3 2 2]
}

func ExampleConvTranspose2d() {
	// a stride-2 transposed convolution doubles the size
	x := tensor.Ones(1, 1, 2, 2)
	w := tensor.Ones(1, 1, 2, 2)
	fmt.Println(F.ConvTranspose2d(x, w, nil, F.ConvTransposeOptions{Stride: []int{2}}).Shape())
	// Output:
	// [1 1 4 4]
}

// BenchmarkConv2d is a ResNet-style 3×3 convolution, forward and
// backward: N=32, 64→64 channels, 56×56, padding 1.
func BenchmarkConv2d(b *testing.B) {
	const n, c, hw, k = 32, 64, 56, 3
	x := tensor.Randn(n, c, hw, hw).SetRequiresGrad(true)
	w := tensor.Randn(c, c, k, k).MulScalar(0.05).SetRequiresGrad(true)
	bias := tensor.Zeros(c).SetRequiresGrad(true)
	flops := 3 * 2.0 * n * c * c * k * k * hw * hw // forward, input and weight gradients
	g := tensor.Ones(n, c, hw, hw)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		y := F.Conv2d(x, w, bias, F.ConvOptions{Padding: []int{1}})
		y.BackwardWith(g)
		x.ZeroGrad()
		w.ZeroGrad()
		bias.ZeroGrad()
	}
	b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
