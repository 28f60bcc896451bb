package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// mlpParamSizes is the element counts of the bench MLP's parameters
// (784-512-512-10: weights and biases), 669,706 floats in all.
var mlpParamSizes = []int{784 * 512, 512, 512 * 512, 512, 512 * 10, 10}

// BenchmarkOptimMLP times one fused step over the MLP's parameters (one
// call per parameter, as package optim makes them) with each float32
// kernel set and thread count; cpu-ms/step is the process's CPU time.
func BenchmarkOptimMLP(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	type param struct{ p, g, m, v ovec }
	var ps []param
	for _, n := range mlpParamSizes {
		mk := func(scale float64) ovec { return newOvec(b, backend.Float32, randVals(rng, n, scale)) }
		ps = append(ps, param{mk(0.05), mk(0.01), mk(0.001), mk(0)})
	}
	for _, opt := range []string{"adam", "sgd"} {
		for _, k := range append(optCandidates(), nil) {
			name := "go"
			if k != nil {
				name = k.name
			}
			for _, th := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/threads%d", opt, name, th), func(b *testing.B) {
					old := setOptimVec(k)
					defer setOptimVec(old)
					oldT := SetNumThreads(th)
					defer SetNumThreads(oldT)
					ah := backend.AdamHyper{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 10}
					sh := backend.SGDHyper{LR: 0.01, Momentum: 0.9}
					c0 := processCPU()
					for b.Loop() {
						for _, q := range ps {
							if opt == "adam" {
								Get().AdamStep(q.p.v, q.g.v, q.m.v, q.v.v, backend.View{}, ah)
							} else {
								Get().SGDStep(q.p.v, q.g.v, q.m.v, sh)
							}
						}
					}
					b.ReportMetric((processCPU()-c0)*1e3/float64(b.N), "cpu-ms/step")
				})
			}
		}
	}
}
