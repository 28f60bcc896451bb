package optim_test

import (
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// allocCases are the configurations whose Step allocations are measured:
// each optimizer with its most expensive options.
var allocCases = []struct {
	name string
	opts opts
}{
	{"sgd", opts{"lr": 0.01}},
	{"sgd", opts{"lr": 0.01, "momentum": 0.9, "nesterov": true, "weight_decay": 0.1}},
	{"adam", opts{}},
	{"adam", opts{"amsgrad": true, "weight_decay": 0.1}},
	{"adamw", opts{}},
	{"rmsprop", opts{"momentum": 0.9, "centered": true}},
	{"adagrad", opts{}},
	{"adadelta", opts{}},
}

// TestStepAllocations reports how many Go heap allocations a steady-state
// Step makes on the fixture's problem (three parameters with gradients
// and one without). No tensor buffer is allocated (the state and scratch
// tensors are made on the first step) except AMSGrad's maximum; what
// remains are the small objects that package tensor's in-place ops
// allocate per call. The figures are logged, not asserted.
func TestStepAllocations(t *testing.T) {
	fx := loadOptimFixture(t)
	ref := tensor.ZerosOf(tensor.Float64, 3, 2)
	perOp := testing.AllocsPerRun(50, func() { ref.AddIn(ref) })
	t.Logf("one in-place op (AddIn): %.0f allocations", perOp)
	for _, c := range allocCases {
		pr := newProblem(fx, tensor.Float64)
		o := newOptimizer(c.name, [][]*nn.Parameter{pr.params}, []opts{c.opts})
		pr.step(o)
		pr.step(o) // state made; gradients stay as they are from here on
		allocs := testing.AllocsPerRun(50, o.Step)
		t.Logf("%-8s %v: %.0f allocations per Step (3 parameters updated)", c.name, c.opts, allocs)
	}
}

func BenchmarkStep(b *testing.B) {
	fx := loadOptimFixture(b)
	for _, c := range allocCases {
		b.Run(c.name, func(b *testing.B) {
			pr := newProblem(fx, tensor.Float64)
			o := newOptimizer(c.name, [][]*nn.Parameter{pr.params}, []opts{c.opts})
			pr.step(o)
			b.ReportAllocs()
			for b.Loop() {
				o.Step()
			}
		})
	}
}

// BenchmarkAdamLarge steps Adam on a 1M-element float32 parameter.
func BenchmarkAdamLarge(b *testing.B) {
	p := nn.NewParameter(tensor.Randn(1000, 1000))
	p.SetGrad(tensor.Randn(1000, 1000))
	o := optim.NewAdam([]*nn.Parameter{p}, optim.AdamConfig{})
	o.Step()
	b.ReportAllocs()
	b.SetBytes(4 * 1000 * 1000)
	for b.Loop() {
		o.Step()
	}
}
