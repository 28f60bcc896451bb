package autograd_test

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

func ts(x ...*tensor.Tensor) []*tensor.Tensor { return x }

func vals(t *tensor.Tensor) []float64 { return t.Float64s() }

func near(t *testing.T, got, want []float64, tol float64, what string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > tol*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func mustFail(t *testing.T, kind error, substr string, f func()) {
	t.Helper()
	err := tensor.Try(f)
	if err == nil {
		t.Fatalf("no error; want %v", kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error %q is not %v", err, kind)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not mention %q", err, substr)
	}
}

func TestBackwardAccumulatesIntoLeaves(t *testing.T) {
	x := tensor.FromSlice([]float64{1, 2, 3}).SetRequiresGrad(true)
	// d/dx Σ x² = 2x, twice: accumulates
	for i := 0; i < 2; i++ {
		x.Square().Sum().Backward()
	}
	near(t, vals(x.Grad()), []float64{4, 8, 12}, 0, "accumulated grad")
	x.ZeroGrad()
	if x.Grad() != nil {
		t.Fatal("ZeroGrad left a gradient")
	}
	// a leaf used twice in one graph gets the sum of both paths
	y := x.Mul(x).Add(x.MulScalar(3)).Sum()
	y.Backward()
	near(t, vals(x.Grad()), []float64{5, 7, 9}, 0, "two paths")
}

func TestBackwardWithAndRetainGraph(t *testing.T) {
	x := tensor.FromSlice([]float64{1, 2}).SetRequiresGrad(true)
	y := x.Exp()
	autograd.Backward(ts(y), ts(tensor.FromSlice([]float64{1, 10})), autograd.GradOptions{RetainGraph: true})
	near(t, vals(x.Grad()), []float64{math.E, 10 * math.Exp(2)}, 1e-15, "first pass")
	y.BackwardWith(tensor.FromSlice([]float64{1, 0}))
	near(t, vals(x.Grad()), []float64{2 * math.E, 10 * math.Exp(2)}, 1e-15, "second pass")
	// the graph is freed now
	mustFail(t, tensor.ErrAutograd, "second time", func() { y.BackwardWith(tensor.FromSlice([]float64{1, 1})) })
	// non-scalar Backward needs a gradient
	mustFail(t, tensor.ErrShape, "scalar", func() { x.Exp().Backward() })
	mustFail(t, tensor.ErrAutograd, "does not require grad", func() { tensor.Ones(2).Sum().Backward() })
}

func TestRetainGradAndNonLeafGrad(t *testing.T) {
	x := tensor.FromSlice([]float64{0.5, -1}).SetRequiresGrad(true)
	h := x.MulScalar(3)
	h.RetainGrad()
	h.Tanh().Sum().Backward()
	want := []float64{1 - math.Pow(math.Tanh(1.5), 2), 1 - math.Pow(math.Tanh(-3), 2)}
	near(t, vals(h.Grad()), want, 1e-15, "retained grad")
	near(t, vals(x.Grad()), []float64{3 * want[0], 3 * want[1]}, 1e-15, "leaf grad")
	if h.Grad().RequiresGrad() {
		t.Fatal("a retained grad from a plain backward requires grad")
	}
}

func TestGradOfIntermediateAndUnused(t *testing.T) {
	x := tensor.FromSlice([]float64{1, 2}).SetRequiresGrad(true)
	z := tensor.FromSlice([]float64{5}).SetRequiresGrad(true)
	h := x.Square()
	y := h.Sum().MulScalar(2)
	g := autograd.Grad(ts(y), ts(h, x), nil, autograd.GradOptions{RetainGraph: true})
	near(t, vals(g[0]), []float64{2, 2}, 0, "dy/dh")
	near(t, vals(g[1]), []float64{4, 8}, 0, "dy/dx")
	if x.Grad() != nil {
		t.Fatal("Grad accumulated into a leaf")
	}
	mustFail(t, tensor.ErrAutograd, "not used", func() { autograd.Grad(ts(y), ts(z), nil, autograd.GradOptions{RetainGraph: true}) })
	g = autograd.Grad(ts(y), ts(x, z), nil, autograd.GradOptions{AllowUnused: true})
	if g[1] != nil {
		t.Fatal("unused input got a gradient")
	}
}

func TestFunctionWithDoubleBackward(t *testing.T) {
	// a cube written as a Function; its backward is in tensor ops, so it
	// can be differentiated again
	cube := &autograd.Function{
		Name: "Cube",
		Forward: func(ctx *autograd.Context, in []*tensor.Tensor) []*tensor.Tensor {
			ctx.SaveForBackward(in[0])
			ctx.Set("power", 3.0)
			return ts(in[0].PowScalar(3))
		},
		Backward: func(ctx *autograd.Context, g []*tensor.Tensor) []*tensor.Tensor {
			x := ctx.SavedTensors()[0]
			p := ctx.Get("power").(float64)
			if !ctx.NeedsInputGrad(0) {
				return ts(nil)
			}
			return ts(g[0].Mul(x.Square()).MulScalar(p))
		},
	}
	x := tensor.FromSlice([]float64{2, -1}).SetRequiresGrad(true)
	y := cube.Apply(x)[0]
	if y.GradFn().Name() != "CubeBackward0" {
		t.Fatalf("node name %q", y.GradFn().Name())
	}
	g := autograd.Grad(ts(y.Sum()), ts(x), nil, autograd.GradOptions{CreateGraph: true})[0]
	near(t, vals(g), []float64{12, 3}, 0, "3x²")
	gg := autograd.Grad(ts(g.Sum()), ts(x), nil, autograd.GradOptions{})[0]
	near(t, vals(gg), []float64{12, -6}, 0, "6x")
	if err := autograd.GradCheck(func(in []*tensor.Tensor) *tensor.Tensor { return cube.Apply(in[0])[0] },
		ts(rnd(4)), autograd.GradCheckOptions{GradGrad: true}); err != nil {
		t.Fatal(err)
	}
	// inputs that need no grad: the function runs, nothing records
	if cube.Apply(tensor.Ones(2))[0].RequiresGrad() {
		t.Fatal("output requires grad with no input requiring it")
	}
}

func TestFunctionSavedTensorModifiedInPlace(t *testing.T) {
	id := &autograd.Function{
		Forward: func(ctx *autograd.Context, in []*tensor.Tensor) []*tensor.Tensor {
			ctx.SaveForBackward(in[1])
			return ts(in[0].Mul(in[1]))
		},
		Backward: func(ctx *autograd.Context, g []*tensor.Tensor) []*tensor.Tensor {
			return ts(g[0].Mul(ctx.SavedTensors()[0]), nil)
		},
	}
	x := tensor.FromSlice([]float64{1, 2}).SetRequiresGrad(true)
	w := tensor.FromSlice([]float64{3, 4})
	y := id.Apply(x, w)[0].Sum()
	w.AddScalarIn(1)
	mustFail(t, tensor.ErrInPlace, "modified by an in-place operation", func() { y.Backward() })
}

func TestInPlaceVersionCheck(t *testing.T) {
	x := tensor.FromSlice([]float64{0.1, 0.2}).SetRequiresGrad(true)
	y := x.Exp() // saves its output
	z := y.Sum()
	y.AddScalarIn(1) // overwrites what Exp saved
	mustFail(t, tensor.ErrInPlace, "ExpBackward0", func() { z.Backward() })

	// a leaf that requires grad cannot be written while recording...
	mustFail(t, tensor.ErrAutograd, "leaf", func() { x.AddScalarIn(1) })
	// ...but can inside NoGrad (an optimizer step)
	autograd.NoGrad(func() { x.AddScalarIn(1) })
	near(t, vals(x), []float64{1.1, 1.2}, 1e-15, "updated leaf")

	// in-place on a non-leaf rebases its grad_fn: gradients stay right
	a := tensor.FromSlice([]float64{1, 2}).SetRequiresGrad(true)
	h := a.MulScalar(2)
	h.MulIn(a) // h = 2a·a
	if h.GradFn().Op() != "Mul" {
		t.Fatalf("grad_fn after MulIn is %s", h.GradFn().Op())
	}
	h.Sum().Backward()
	near(t, vals(a.Grad()), []float64{4, 8}, 0, "d(2a²)/da")

	// in-place into a tensor that needs no grad, by one that does: the
	// old values are what w's gradient needs (PyTorch: buf.mul_(w) gives
	// w.grad = old buf = [4, 5, 6], buf = [4, 10, 18])
	w := tensor.FromSlice([]float64{1, 2, 3}).SetRequiresGrad(true)
	buf := tensor.FromSlice([]float64{4, 5, 6})
	buf.MulIn(w).Sum().Backward()
	near(t, vals(w.Grad()), []float64{4, 5, 6}, 0, "gradient through buf.MulIn(w)")
	near(t, vals(buf), []float64{4, 10, 18}, 0, "buf after MulIn")
	if buf.GradFn() == nil || buf.GradFn().Op() != "Mul" {
		t.Fatal("buf did not take MulIn's grad_fn")
	}
}

func TestCheckpointMatchesPlainBackward(t *testing.T) {
	w := rnd(4, 4)
	x := rnd(3, 4)
	block := func(in []*tensor.Tensor) []*tensor.Tensor {
		h := in[0].MatMul(in[1]).Tanh()
		// a draw from the default generator: the rerun must see the same
		mask := tensor.Rand(h.Shape()...).GtScalar(0.3).To(tensor.Float64)
		return ts(h.Mul(mask).MatMul(in[1]).Sum())
	}
	tensor.ManualSeed(99)
	plain := block(ts(x, w))[0]
	gp := autograd.Grad(ts(plain), ts(x, w), nil, autograd.GradOptions{})
	tensor.ManualSeed(99)
	ck := autograd.Checkpoint(block, x, w)[0]
	if ck.Item() != plain.Item() {
		t.Fatalf("checkpointed forward %v, plain %v", ck.Item(), plain.Item())
	}
	if ck.GradFn().Name() != "CheckpointBackward0" {
		t.Fatalf("node %s", ck.GradFn().Name())
	}
	tensor.Rand(5) // move the generator on: the rerun must restore it
	gc := autograd.Grad(ts(ck), ts(x, w), nil, autograd.GradOptions{})
	for i := range gp {
		near(t, vals(gc[i]), vals(gp[i]), 1e-14, "checkpoint gradient")
	}
}

func TestDetectAnomalyNamesTheOp(t *testing.T) {
	autograd.DetectAnomaly(true)
	defer autograd.DetectAnomaly(false)
	x := tensor.FromSlice([]float64{0, 1}).SetRequiresGrad(true)
	y := x.Sqrt().Sum() // d√x/dx = ∞ at 0
	err := tensor.Try(func() { y.Backward() })
	if !errors.Is(err, tensor.ErrAnomaly) {
		t.Fatalf("got %v, want an anomaly error", err)
	}
	for _, want := range []string{"SqrtBackward0", "autograd_test.go"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("anomaly error does not mention %q:\n%v", want, err)
		}
	}
}

func TestNoGradScope(t *testing.T) {
	w := tensor.Ones(2).SetRequiresGrad(true)
	var y *tensor.Tensor
	autograd.NoGrad(func() {
		if autograd.IsGradEnabled() {
			t.Error("grad enabled inside NoGrad")
		}
		y = w.MulScalar(2)
		autograd.EnableGrad(func() {
			if !w.MulScalar(2).RequiresGrad() {
				t.Error("EnableGrad inside NoGrad did not record")
			}
		})
	})
	if y.RequiresGrad() {
		t.Fatal("an op inside NoGrad recorded")
	}
	if !autograd.IsGradEnabled() || !w.MulScalar(2).RequiresGrad() {
		t.Fatal("grad mode not restored")
	}
	// a panic inside the scope still restores the mode
	_ = tensor.Try(func() { autograd.NoGrad(func() { w.Reshape(3) }) })
	if !autograd.IsGradEnabled() {
		t.Fatal("grad mode not restored after a panic")
	}
}

// TestConcurrentInferenceWhileTraining runs 8 goroutines of inference on
// shared parameters inside NoGrad while another goroutine trains them. The
// readers must never record (their scope is theirs alone) and the trainer
// must always record; run with -race. Parameter reads and the optimizer
// write are ordered by an RWMutex, as a Go service would do; everything
// else (graph recording, grad mode, pools, generator) is the library's to
// keep race-free.
func TestConcurrentInferenceWhileTraining(t *testing.T) {
	gen := tensor.NewGenerator(1)
	w1 := gen.Normal(tensor.Float32, 0, 0.3, 8, 16).SetRequiresGrad(true)
	w2 := gen.Normal(tensor.Float32, 0, 0.3, 16, 4).SetRequiresGrad(true)
	x := gen.Normal(tensor.Float32, 0, 1, 32, 8)
	target := x.MatMul(gen.Normal(tensor.Float32, 0, 1, 8, 4))
	var mu sync.RWMutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 16)
	for r := 0; r < 8; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				autograd.NoGrad(func() {
					mu.RLock()
					out := x.MatMul(w1).ReLU().MatMul(w2).Softmax(1)
					mu.RUnlock()
					if out.RequiresGrad() {
						errs <- "inference recorded a graph"
					}
					if s := out.Sum().Item(); math.Abs(s-32) > 1e-3 {
						errs <- "softmax rows do not sum to 1"
					}
				})
			}
		}()
	}
	var first, last float64
	for step := 0; step < 60; step++ {
		mu.RLock()
		loss := x.MatMul(w1).ReLU().MatMul(w2).Sub(target).Square().Mean()
		mu.RUnlock()
		if !loss.RequiresGrad() {
			t.Fatal("training step did not record while others ran NoGrad")
		}
		loss.Backward()
		mu.Lock()
		autograd.NoGrad(func() {
			for _, p := range ts(w1, w2) {
				p.AddScaledIn(p.Grad(), -0.05)
				p.ZeroGrad()
			}
		})
		mu.Unlock()
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if !(last < first*0.8) {
		t.Fatalf("training did not reduce the loss: %v → %v", first, last)
	}
}
