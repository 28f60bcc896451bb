package optim_test

import (
	"testing"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// mlpShapes are the parameters of a 784-512-512-10 MLP (nn.Linear's
// weight [out, in] and bias [out]): 669,706 float32 elements.
var mlpShapes = [][]int{{512, 784}, {512}, {512, 512}, {512}, {10, 512}, {10}}

func mlpParams() []*nn.Parameter {
	tensor.ManualSeed(1)
	var ps []*nn.Parameter
	for _, sh := range mlpShapes {
		p := nn.NewParameter(tensor.Randn(sh...).MulScalar(0.05))
		p.SetGrad(tensor.Randn(sh...).MulScalar(0.01))
		ps = append(ps, p)
	}
	return ps
}

// BenchmarkOptimStepMLP times one optimizer Step over the MLP's
// parameters (gradients fixed), with the fused update ("fused", Fused
// set) and with the composed in-place ops ("composed", the default):
// ns/op is per step. cpu-ns/step is the process's CPU time per step
// (user+system, all threads), steadier than wall time on a shared
// machine. Compare with testdata/torch_step_bench.py.
func BenchmarkOptimStepMLP(b *testing.B) {
	mk := map[string]func(ps []*nn.Parameter, noFused bool) optim.Optimizer{
		"adam": func(ps []*nn.Parameter, noFused bool) optim.Optimizer {
			return optim.NewAdam(ps, optim.AdamConfig{LR: 1e-3, Fused: !noFused})
		},
		"adamw": func(ps []*nn.Parameter, noFused bool) optim.Optimizer {
			return optim.NewAdamW(ps, optim.AdamWConfig{LR: 1e-3, Fused: !noFused})
		},
		"sgd_momentum": func(ps []*nn.Parameter, noFused bool) optim.Optimizer {
			return optim.NewSGD(ps, optim.SGDConfig{LR: 0.01, Momentum: 0.9, Fused: !noFused})
		},
	}
	for _, name := range []string{"adam", "adamw", "sgd_momentum"} {
		for _, path := range []string{"fused", "composed"} {
			b.Run(name+"/"+path, func(b *testing.B) {
				o := mk[name](mlpParams(), path == "composed")
				o.Step() // make the state
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					o.Step()
				}
				if cpu := cpuTime() - cpu0; cpu > 0 {
					b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/step")
				}
			})
		}
	}
}
