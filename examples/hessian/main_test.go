package main

import (
	"math"
	"testing"
)

// TestShortRun runs a small problem and checks what the example claims:
// HVPs agree with finite differences and with the closed-form Hessian,
// Newton-CG converges in a handful of iterations, and gradient descent
// with the same start is still far from the optimum after many more steps.
func TestShortRun(t *testing.T) {
	cfg := config{N: 200, D: 6, Lambda: 1e-3, Spread: 10, Newton: 20, GDSteps: 2000, Tol: 1e-8, Seed: 7}
	res, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.HVPvsFD > 1e-6 {
		t.Errorf("Hessian from HVPs differs from finite differences by %g", res.HVPvsFD)
	}
	if res.HVPvsExact > 1e-12 {
		t.Errorf("Hessian from HVPs differs from the closed form by %g", res.HVPvsExact)
	}
	if res.Asymmetry > 1e-12 {
		t.Errorf("Hessian from HVPs is not symmetric: %g", res.Asymmetry)
	}
	if res.MLPRelErr > 1e-6 {
		t.Errorf("MLP HVP relative error %g", res.MLPRelErr)
	}

	last := res.Newton[len(res.Newton)-1]
	if last.GradNorm >= cfg.Tol || last.Iter > 15 {
		t.Errorf("Newton-CG: ‖∇f‖ = %g after %d iterations, want < %g within 15", last.GradNorm, last.Iter, cfg.Tol)
	}
	for i := 1; i < len(res.Newton); i++ {
		if res.Newton[i].Loss > res.Newton[i-1].Loss {
			t.Errorf("Newton-CG loss rose at iteration %d: %g → %g", i, res.Newton[i-1].Loss, res.Newton[i].Loss)
		}
	}
	// Gradient descent at step 1/L decreases f monotonically (descent lemma).
	for i := 1; i < len(res.GD); i++ {
		if res.GD[i].Loss > res.GD[i-1].Loss+1e-15 {
			t.Fatalf("gradient descent loss rose at step %d: %g → %g", i, res.GD[i-1].Loss, res.GD[i].Loss)
		}
	}
	gd := res.GD[len(res.GD)-1]
	if gd.Iter < 100*last.Iter {
		t.Fatalf("gradient descent stopped after %d steps", gd.Iter)
	}
	if res.GDStepsToTol >= 0 || gd.GradNorm < 100*last.GradNorm || gd.Loss <= last.Loss {
		t.Errorf("after %d steps gradient descent has loss %.12g, ‖∇f‖ %g; Newton-CG after %d: %.12g, %g",
			gd.Iter, gd.Loss, gd.GradNorm, last.Iter, last.Loss, last.GradNorm)
	}
	if math.IsNaN(res.L) || res.L <= cfg.Lambda {
		t.Errorf("curvature bound L = %g", res.L)
	}
}
