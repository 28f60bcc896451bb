package optim_test

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// Fit y = 2x + 1 with SGD and momentum: the usual loop of ZeroGrad,
// forward, Backward and Step.
func ExampleNewSGD() {
	x := tensor.FromSlice([]float64{-1, -0.5, 0, 0.5, 1})
	y := x.MulScalar(2).AddScalar(1)
	w := nn.NewParameter(tensor.FromSlice([]float64{0}, []int{}...))
	b := nn.NewParameter(tensor.FromSlice([]float64{0}, []int{}...))
	opt := optim.NewSGD([]*nn.Parameter{w, b}, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	for range 200 {
		opt.ZeroGrad()
		loss := x.Mul(w.Tensor).Add(b.Tensor).Sub(y).Square().Mean()
		loss.Backward()
		opt.Step()
	}
	fmt.Printf("w=%.4f b=%.4f\n", w.Item(), b.Item())
	// Output: w=2.0000 b=1.0000
}

// Two parameter groups with their own options: no weight decay on the
// bias, a smaller learning rate for the second group.
func ExampleAdamW_AddParamGroup() {
	weight := nn.NewParameter(tensor.Randn(4, 4))
	bias := nn.NewParameter(tensor.Zeros(4))
	opt := optim.NewAdamW([]*nn.Parameter{weight}, optim.AdamWConfig{LR: 1e-3})
	opt.AddParamGroup([]*nn.Parameter{bias}, optim.AdamWConfig{LR: 1e-4, NoWeightDecay: true})
	for i, g := range opt.ParamGroups() {
		c := g.Options.(*optim.AdamWConfig)
		fmt.Printf("group %d: lr=%g weight_decay=%g betas=%v\n", i, g.LR(), c.WeightDecay, c.Betas)
	}
	// Output:
	// group 0: lr=0.001 weight_decay=0.01 betas=[0.9 0.999]
	// group 1: lr=0.0001 weight_decay=0 betas=[0.9 0.999]
}

// A linear warmup followed by cosine annealing: two chainable schedulers
// on one optimizer, stepped once per epoch after the optimizer.
func ExampleNewLinearWarmup() {
	p := nn.NewParameter(tensor.Zeros(3))
	opt := optim.NewSGD([]*nn.Parameter{p}, optim.SGDConfig{LR: 0.1})
	warmup := optim.NewLinearWarmup(opt, 0.25, 3)
	cosine := optim.NewCosineAnnealingLR(opt, 8, 0)
	for epoch := range 8 {
		fmt.Printf("epoch %d: lr %.4f\n", epoch, opt.ParamGroups()[0].LR())
		opt.Step() // after the epoch's batches
		warmup.Step()
		cosine.Step()
	}
	// Output:
	// epoch 0: lr 0.0250
	// epoch 1: lr 0.0481
	// epoch 2: lr 0.0640
	// epoch 3: lr 0.0691
	// epoch 4: lr 0.0500
	// epoch 5: lr 0.0309
	// epoch 6: lr 0.0146
	// epoch 7: lr 0.0038
}

// OneCycleLR raises the LR to its peak and anneals it to far below the
// start, moving SGD's momentum the other way.
func ExampleNewOneCycleLR() {
	p := nn.NewParameter(tensor.Zeros(3))
	opt := optim.NewSGD([]*nn.Parameter{p}, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	sched := optim.NewOneCycleLR(opt, 1.0, 10)
	for step := range 10 {
		g := opt.ParamGroups()[0]
		m, _ := g.Momentum()
		if step%3 == 0 {
			fmt.Printf("step %d: lr %.4f momentum %.4f\n", step, g.LR(), m)
		}
		opt.Step()
		sched.Step()
	}
	// Output:
	// step 0: lr 0.0400 momentum 0.9500
	// step 3: lr 0.9505 momentum 0.8550
	// step 6: lr 0.3887 momentum 0.9111
	// step 9: lr 0.0000 momentum 0.9500
}

// ReduceLROnPlateau divides the LR by 10 once the validation loss has
// not improved for Patience epochs.
func ExampleNewReduceLROnPlateau() {
	p := nn.NewParameter(tensor.Zeros(3))
	opt := optim.NewSGD([]*nn.Parameter{p}, optim.SGDConfig{LR: 0.1})
	sched := optim.NewReduceLROnPlateau(opt, optim.ReduceLROnPlateauConfig{Patience: 2})
	for _, valLoss := range []float64{1.0, 0.8, 0.81, 0.8, 0.82, 0.7} {
		sched.Step(valLoss)
		fmt.Printf("loss %.2f: lr %.4g\n", valLoss, sched.LastLR()[0])
	}
	// Output:
	// loss 1.00: lr 0.1
	// loss 0.80: lr 0.1
	// loss 0.81: lr 0.1
	// loss 0.80: lr 0.1
	// loss 0.82: lr 0.01
	// loss 0.70: lr 0.01
}

// ClipGradNorm rescales the gradients so that their global norm is at
// most maxNorm, and returns the norm they had.
func ExampleClipGradNorm() {
	a := nn.NewParameter(tensor.Zeros(2))
	b := nn.NewParameter(tensor.Zeros(1))
	a.SetGrad(tensor.FromSlice([]float32{3, 0}))
	b.SetGrad(tensor.FromSlice([]float32{4}))
	total := optim.ClipGradNorm([]*nn.Parameter{a, b}, 1)
	fmt.Printf("norm before %.1f, grads now %.3f %.3f\n", total, a.Grad().Float64s(), b.Grad().Float64s())
	fmt.Println("inf norm:", optim.ClipGradNorm([]*nn.Parameter{a, b}, 10, math.Inf(1)) < 1)
	// Output:
	// norm before 5.0, grads now [0.600 0.000] [0.800]
	// inf norm: true
}

// Saving and resuming training: the optimizer's state dict is a flat map
// of tensors (safetensors can store it), restored by LoadStateDict on an
// optimizer made the same way.
func ExampleSGD_LoadStateDict() {
	p := nn.NewParameter(tensor.FromSlice([]float64{1, 2}))
	opt := optim.NewSGD([]*nn.Parameter{p}, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	p.SetGrad(tensor.FromSlice([]float64{1, 1}))
	opt.Step()
	sd := opt.StateDict()
	fmt.Println(sd["state.0.momentum_buffer"].Float64s(), sd["param_groups.0.lr"].Item())

	resumed := optim.NewSGD([]*nn.Parameter{p}, optim.SGDConfig{LR: 1})
	if err := resumed.LoadStateDict(sd); err != nil {
		fmt.Println(err)
	}
	fmt.Println(resumed.ParamGroups()[0].LR())
	delete(sd, "param_groups.0.momentum")
	fmt.Println(resumed.LoadStateDict(sd))
	// Output:
	// [1 1] 0.1
	// 0.1
	// optim: load state dict: missing keys: param_groups.0.momentum
}
