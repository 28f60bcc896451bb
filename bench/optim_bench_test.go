//go:build unix

package bench

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
)

// The optimizer rows: optim's fused steps (Fused in the config, one
// backend.FusedOptimizer pass per parameter) against the composed
// in-place updates, on the MLP's parameters (669,706 floats). Each also
// reports cpu-ms/step, the process's CPU time per step, steadier than the
// wall clock on a shared machine.

// processCPU is the CPU time of this process so far, in seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) * 1e-9
}

// BenchmarkOptimMLPStep is opt.Step() alone on the MLP's parameters, their
// gradients those of one training step: Adam (torch defaults) and SGD
// (lr 0.01, momentum 0.9), fused and composed.
func BenchmarkOptimMLPStep(b *testing.B) {
	for _, kind := range []string{"adam", "sgd"} {
		for _, fused := range []bool{true, false} {
			name := "composed"
			if fused {
				name = "fused"
			}
			b.Run(fmt.Sprintf("%s/%s", kind, name), func(b *testing.B) {
				w := workload(b, "mlp")
				ps := nn.Parameters(w.Model)
				var opt optim.Optimizer
				if kind == "adam" {
					opt = optim.NewAdam(ps, optim.AdamConfig{LR: 1e-3, Fused: fused})
				} else {
					opt = optim.NewSGD(ps, optim.SGDConfig{LR: 0.01, Momentum: 0.9, Fused: fused})
				}
				F.CrossEntropy(nn.Call(w.Model, w.X), w.Y).Backward()
				for range 2 { // the state's first steps
					opt.Step()
				}
				c0 := processCPU()
				for b.Loop() {
					opt.Step()
				}
				b.ReportMetric((processCPU()-c0)*1e3/float64(b.N), "cpu-ms/step")
			})
		}
	}
}

// BenchmarkMLPModuleStepFused is BenchmarkMLPModuleStep with SGD's Fused
// set, for comparison with it (the workload's torch side is unchanged:
// torch 1.13's SGD has no fused CPU path).
func BenchmarkMLPModuleStepFused(b *testing.B) {
	for _, fused := range []bool{false, true} {
		b.Run(fmt.Sprint("fused=", fused), func(b *testing.B) {
			w := workload(b, "mlp")
			opt := optim.NewSGD(nn.Parameters(w.Model), optim.SGDConfig{LR: 0.01, Momentum: 0.9, Fused: fused})
			for range 2 {
				TrainStep(w.Model, opt, w.X, w.Y)
			}
			b.ReportAllocs()
			c0 := processCPU()
			for b.Loop() {
				TrainStep(w.Model, opt, w.X, w.Y)
			}
			b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "ms/step")
			b.ReportMetric((processCPU()-c0)*1e3/float64(b.N), "cpu-ms/step")
		})
	}
}
