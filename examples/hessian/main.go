// Command hessian shows second-order differentiation in Tapir: gradients
// of gradients. autograd.Grad with CreateGraph returns a gradient that is
// itself recorded, so differentiating ⟨∇f, v⟩ once more gives the
// Hessian-vector product H·v without ever forming H.
//
// On an L2-regularised logistic regression (float64) the program
//
//  1. assembles the full Hessian one column per Hessian-vector product and
//     checks it against central finite differences of the gradient and
//     against the closed form Xᵀ·diag(σ(1−σ))·X/n + λI;
//  2. checks one Hessian-vector product of a small tanh MLP built from
//     nn.Linear layers against finite differences of its gradient;
//  3. minimises the logistic loss with Newton-CG, whose inner conjugate
//     gradient solves H·p = −∇f using only Hessian-vector products, and
//     with gradient descent at step 1/L (L, the largest curvature, found by
//     power iteration on Hessian-vector products), and prints both runs
//     side by side.
//
// Run it with
//
//	go run ./examples/hessian
//	go run ./examples/hessian -n 2000 -d 20 -lambda 1e-4
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
)

// config holds the command-line options.
type config struct {
	N       int     // data points
	D       int     // features (a bias column is added)
	Lambda  float64 // L2 penalty λ
	Spread  float64 // feature j is scaled by Spread^(j/(D−1)): it sets the conditioning
	Newton  int     // most Newton iterations
	GDSteps int     // most gradient-descent steps
	Tol     float64 // stop when ‖∇f‖ falls below Tol
	Seed    uint64
	Out     io.Writer // progress and tables; nil means io.Discard
}

// iterate is one row of an optimiser's trace.
type iterate struct {
	Iter     int
	Loss     float64
	GradNorm float64
	HVPs     int     // Hessian-vector products used so far (Newton-CG)
	Step     float64 // the line search's step length that led here (Newton-CG; 0 at the start)
}

// result is what run measured.
type result struct {
	// Largest absolute differences between Hessians of the logistic loss at
	// a random point: columns of HVPs against central finite differences
	// of the gradient, and against the closed form; and the largest
	// asymmetry |H − Hᵀ| of the HVP Hessian.
	HVPvsFD, HVPvsExact, Asymmetry float64
	// MLP: relative error of one HVP against finite differences.
	MLPRelErr float64

	L, Mu float64 // largest and smallest curvature of f (power iteration)

	Newton []iterate // Newton-CG, from the start point
	GD     []iterate // gradient descent, every step

	// GDStepsToTol is the number of gradient-descent steps that reached
	// ‖∇f‖ < Tol, or −1 if GDSteps were not enough.
	GDStepsToTol int
	// GDStepsToNewtonLoss: steps until GD's loss came within 1e-8 of
	// Newton's final loss, or −1.
	GDStepsToNewtonLoss int
}

func main() {
	var cfg config
	flag.IntVar(&cfg.N, "n", 500, "data points")
	flag.IntVar(&cfg.D, "d", 10, "features (a bias column is added)")
	flag.Float64Var(&cfg.Lambda, "lambda", 1e-3, "L2 penalty λ")
	flag.Float64Var(&cfg.Spread, "spread", 10, "ratio of the largest to the smallest feature scale (conditioning)")
	flag.IntVar(&cfg.Newton, "newton", 20, "most Newton-CG iterations")
	flag.IntVar(&cfg.GDSteps, "steps", 60000, "most gradient-descent steps")
	flag.Float64Var(&cfg.Tol, "tol", 1e-8, "stop when the gradient norm falls below this")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	flag.Parse()
	cfg.Out = os.Stdout
	start := time.Now()
	if _, err := run(cfg); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("total time %v\n", time.Since(start).Round(time.Millisecond))
}

// problem is the logistic regression: rows of X (with a trailing column of
// ones) and labels y in {−1, +1}.
type problem struct {
	X, Y   *tensor.Tensor // [n, d+1], [n]
	lambda float64
}

// loss is f(w) = mean(log(1 + exp(−y·Xw))) + λ/2·‖w‖², recorded when w
// requires grad.
func (p *problem) loss(w *tensor.Tensor) *tensor.Tensor {
	margins := p.X.MatMul(w).Mul(p.Y)
	return margins.Neg().Softplus().Mean().Add(w.Square().Sum().MulScalar(p.lambda / 2))
}

// grad returns ∇f(w) as a tensor that is itself recorded (CreateGraph), so
// it can be differentiated again, together with f(w).
func (p *problem) grad(w *tensor.Tensor) (g, f *tensor.Tensor) {
	f = p.loss(w)
	g = autograd.Grad([]*tensor.Tensor{f}, []*tensor.Tensor{w}, nil, autograd.GradOptions{CreateGraph: true})[0]
	return g, f
}

// hvp returns H·v given the recorded gradient g of w: the gradient of the
// scalar ⟨g, v⟩ with respect to w. The graph is retained, so one
// gradient serves many products.
func hvp(g, w *tensor.Tensor, v []float64) []float64 {
	gv := g.Mul(tensor.FromSlice(v)).Sum()
	return autograd.Grad([]*tensor.Tensor{gv}, []*tensor.Tensor{w}, nil, autograd.GradOptions{RetainGraph: true})[0].Float64s()
}

// plainGrad is ∇f(w) without recording the backward pass.
func (p *problem) plainGrad(w []float64) (g []float64, f float64) {
	wt := tensor.FromSlice(w).SetRequiresGrad(true)
	ft := p.loss(wt)
	return autograd.Grad([]*tensor.Tensor{ft}, []*tensor.Tensor{wt}, nil, autograd.GradOptions{})[0].Float64s(), ft.Item()
}

func newProblem(g *tensor.Generator, n, d int, lambda, spread float64) *problem {
	scale := make([]float64, d)
	for j := range scale {
		e := 0.0
		if d > 1 {
			e = float64(j) / float64(d-1)
		}
		scale[j] = math.Pow(spread, e)
	}
	z := g.Normal(tensor.Float64, 0, 1, n, d).Float64s()
	// Correlate neighbouring features a little and scale them, so that the
	// problem is not trivially conditioned.
	x := make([]float64, n*(d+1))
	for i := range n {
		for j := range d {
			v := z[i*d+j]
			if j > 0 {
				v = 0.8*v + 0.6*z[i*d+j-1]
			}
			x[i*(d+1)+j] = v * scale[j]
		}
		x[i*(d+1)+d] = 1
	}
	wTrue := g.Normal(tensor.Float64, 0, 1, d+1).Float64s()
	for j := range d {
		wTrue[j] /= scale[j]
	}
	u := g.Uniform(tensor.Float64, 0, 1, n).Float64s()
	y := make([]float64, n)
	for i := range n {
		s := 0.0
		for j := range d + 1 {
			s += x[i*(d+1)+j] * wTrue[j]
		}
		y[i] = -1
		if u[i] < 1/(1+math.Exp(-2*s)) {
			y[i] = 1
		}
	}
	return &problem{X: tensor.FromSlice(x, n, d+1), Y: tensor.FromSlice(y), lambda: lambda}
}

func run(cfg config) (*result, error) {
	if cfg.N < 2 || cfg.D < 1 || cfg.Lambda <= 0 || cfg.Spread < 1 {
		return nil, errors.New("hessian: need n ≥ 2, d ≥ 1, lambda > 0 and spread ≥ 1")
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	gen := tensor.NewGenerator(cfg.Seed)
	prob := newProblem(gen, cfg.N, cfg.D, cfg.Lambda, cfg.Spread)
	k := cfg.D + 1
	res := &result{}
	fmt.Fprintf(out, "logistic regression: %d points, %d weights, λ = %g, float64\n\n", cfg.N, k, cfg.Lambda)

	// 1. The full Hessian at a random point, three ways.
	w0 := gen.Normal(tensor.Float64, 0, 0.5, k).Float64s()
	hHVP := hessianByHVP(prob, w0)
	hFD := hessianByFD(prob, w0, 1e-5)
	hExact := prob.exactHessian(w0)
	res.HVPvsFD = maxAbsDiff(hHVP, hFD)
	res.HVPvsExact = maxAbsDiff(hHVP, hExact)
	res.Asymmetry = asymmetry(hHVP, k)
	fmt.Fprintf(out, "Hessian (%d×%d) from %d Hessian-vector products, at a random point:\n", k, k, k)
	fmt.Fprintf(out, "  max |H_hvp − H_finite-diff|  = %.2e   (central differences of ∇f, ε = 1e-5)\n", res.HVPvsFD)
	fmt.Fprintf(out, "  max |H_hvp − H_closed-form|  = %.2e   (Xᵀ diag(σ(1−σ)) X / n + λI)\n", res.HVPvsExact)
	fmt.Fprintf(out, "  max |H_hvp − H_hvpᵀ|         = %.2e\n", res.Asymmetry)
	fmt.Fprintf(out, "  largest entry |H|            = %.3g\n\n", maxAbs(hExact))

	// 2. An HVP through nn.Linear layers.
	res.MLPRelErr = mlpHVPCheck(gen)
	fmt.Fprintf(out, "tiny MLP (nn.Linear 3→8 tanh → 1, float64): relative error of H·v vs finite differences = %.2e\n\n", res.MLPRelErr)

	// 3. Newton-CG against gradient descent, both from w = 0.
	zero := make([]float64, k)
	res.L = powerIteration(prob, zero, 200)
	res.Mu = cfg.Lambda // a lower bound: f − λ/2‖w‖² is convex
	fmt.Fprintf(out, "curvature bound L = %.4g (power iteration on H·v at w = 0, where σ(1−σ) is largest); λ = %g; L/λ = %.3g\n",
		res.L, cfg.Lambda, res.L/cfg.Lambda)

	var newtonTime, gdTime time.Duration
	t0 := time.Now()
	res.Newton = newtonCG(prob, zero, cfg.Newton, cfg.Tol)
	newtonTime = time.Since(t0)
	last := res.Newton[len(res.Newton)-1]

	t0 = time.Now()
	res.GD, res.GDStepsToTol, res.GDStepsToNewtonLoss = gradientDescent(prob, zero, 1/res.L, cfg.GDSteps, cfg.Tol, last.Loss)
	gdTime = time.Since(t0)

	fmt.Fprintf(out, "\n%5s │ %-14s %-8s %5s %4s │ %s\n", "", "Newton-CG", "", "", "", "gradient descent")
	fmt.Fprintf(out, "%5s │ %-14s %-8s %5s %4s │ %-14s %s\n", "iter", "loss", "‖∇f‖", "HVPs", "step", "loss", "‖∇f‖")
	for _, it := range res.Newton {
		gd := res.GD[min(it.Iter, len(res.GD)-1)]
		step := "    "
		if it.Iter > 0 {
			step = fmt.Sprintf("%4.2g", it.Step)
		}
		fmt.Fprintf(out, "%5d │ %.12f %.2e %5d %s │ %.12f %.2e\n", it.Iter, it.Loss, it.GradNorm, it.HVPs, step, gd.Loss, gd.GradNorm)
	}
	printed := last.Iter
	for _, i := range []int{100, 1000, 10000, 100000, len(res.GD) - 1} {
		if i < len(res.GD) && i > printed {
			printed = i
			gd := res.GD[i]
			fmt.Fprintf(out, "%5d │ %-14s %-8s %5s %4s │ %.12f %.2e\n", i, "", "", "", "", gd.Loss, gd.GradNorm)
		}
	}
	gdLast := res.GD[len(res.GD)-1]
	fmt.Fprintf(out, "\nNewton-CG: ‖∇f‖ = %.1e after %d iterations (%d Hessian-vector products) in %v\n",
		last.GradNorm, last.Iter, last.HVPs, newtonTime.Round(time.Millisecond))
	switch {
	case res.GDStepsToTol >= 0:
		fmt.Fprintf(out, "gradient descent: ‖∇f‖ < %.0e after %d steps in %v\n", cfg.Tol, res.GDStepsToTol, gdTime.Round(time.Millisecond))
	default:
		fmt.Fprintf(out, "gradient descent: ‖∇f‖ = %.1e after %d steps in %v (not below %.0e)\n",
			gdLast.GradNorm, gdLast.Iter, gdTime.Round(time.Millisecond), cfg.Tol)
	}
	if res.GDStepsToNewtonLoss >= 0 {
		fmt.Fprintf(out, "gradient descent came within 1e-8 of Newton's final loss after %d steps\n", res.GDStepsToNewtonLoss)
	} else {
		fmt.Fprintf(out, "gradient descent did not come within 1e-8 of Newton's final loss in %d steps\n", gdLast.Iter)
	}
	return res, nil
}

// hessianByHVP builds H column by column: H·e_j for each unit vector.
func hessianByHVP(p *problem, w []float64) [][]float64 {
	wt := tensor.FromSlice(w).SetRequiresGrad(true)
	g, _ := p.grad(wt)
	h := make([][]float64, len(w))
	for j := range w {
		e := make([]float64, len(w))
		e[j] = 1
		h[j] = hvp(g, wt, e) // column j, stored as row j: H is symmetric and asymmetry is checked separately
	}
	return transpose(h)
}

// hessianByFD is H[i][j] ≈ (∂_i f(w + εe_j) − ∂_i f(w − εe_j)) / 2ε, from
// first-order gradients only.
func hessianByFD(p *problem, w []float64, eps float64) [][]float64 {
	k := len(w)
	cols := make([][]float64, k)
	for j := range k {
		wp, wm := append([]float64(nil), w...), append([]float64(nil), w...)
		wp[j] += eps
		wm[j] -= eps
		gp, _ := p.plainGrad(wp)
		gm, _ := p.plainGrad(wm)
		cols[j] = make([]float64, k)
		for i := range k {
			cols[j][i] = (gp[i] - gm[i]) / (2 * eps)
		}
	}
	return transpose(cols)
}

// exactHessian is Xᵀ·diag(σ(m)(1−σ(m)))·X/n + λI with m = y·Xw (y² = 1),
// for the function the program computes: Softplus, like torch's, returns
// its argument unchanged above 20, so a point with −m > 20 contributes no
// curvature (instead of σ(m)(1−σ(m)) < 2.1e-9).
func (p *problem) exactHessian(w []float64) [][]float64 {
	x := p.X.Float64s()
	y := p.Y.Float64s()
	n, k := p.X.Size(0), p.X.Size(1)
	h := make([][]float64, k)
	for i := range h {
		h[i] = make([]float64, k)
		h[i][i] = p.lambda
	}
	for r := range n {
		row := x[r*k : (r+1)*k]
		m := 0.0
		for j := range k {
			m += row[j] * w[j]
		}
		if -y[r]*m > 20 {
			continue
		}
		s := 1 / (1 + math.Exp(-m))
		c := s * (1 - s) / float64(n)
		for i := range k {
			for j := range k {
				h[i][j] += c * row[i] * row[j]
			}
		}
	}
	return h
}

// mlpHVPCheck builds a 3 → 8 → 1 tanh network from nn.Linear layers in
// float64 and compares H·v over all its parameters with the central
// difference (∇f(θ + εv) − ∇f(θ − εv)) / 2ε.
func mlpHVPCheck(gen *tensor.Generator) float64 {
	type mlp struct{ L1, L2 *nn.Linear }
	m := &mlp{
		L1: nn.NewLinear(3, 8, nn.LinearConfig{Generator: gen}),
		L2: nn.NewLinear(8, 1, nn.LinearConfig{Generator: gen}),
	}
	nn.To(m, tensor.Float64)
	x := gen.Normal(tensor.Float64, 0, 1, 32, 3)
	y := x.Select(1, 0).Mul(x.Select(1, 1)).Sin().Unsqueeze(1) // a nonlinear target
	params := nn.Parameters(m)
	ts := make([]*tensor.Tensor, len(params))
	vs := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		ts[i] = p.Tensor
		vs[i] = gen.Normal(tensor.Float64, 0, 1, p.Shape()...)
	}
	loss := func() *tensor.Tensor {
		return m.L2.Forward(m.L1.Forward(x).Tanh()).Sub(y).Square().Mean()
	}
	grads := autograd.Grad([]*tensor.Tensor{loss()}, ts, nil, autograd.GradOptions{CreateGraph: true})
	gv := tensor.Scalar(0).To(tensor.Float64)
	for i, g := range grads {
		gv = gv.Add(g.Mul(vs[i]).Sum())
	}
	hv := autograd.Grad([]*tensor.Tensor{gv}, ts, nil, autograd.GradOptions{})

	const eps = 1e-5
	shift := func(alpha float64) {
		autograd.NoGrad(func() {
			for i, p := range params {
				p.AddScaledIn(vs[i], alpha)
			}
		})
	}
	gradAt := func() []*tensor.Tensor {
		return autograd.Grad([]*tensor.Tensor{loss()}, ts, nil, autograd.GradOptions{})
	}
	shift(eps)
	gp := gradAt()
	shift(-2 * eps)
	gm := gradAt()
	shift(eps)
	var num, den float64
	for i := range hv {
		a, b, c := hv[i].Float64s(), gp[i].Float64s(), gm[i].Float64s()
		for j := range a {
			fd := (b[j] - c[j]) / (2 * eps)
			num += (a[j] - fd) * (a[j] - fd)
			den += fd * fd
		}
	}
	return math.Sqrt(num / den)
}

// powerIteration estimates the largest eigenvalue of H(w) from HVPs.
func powerIteration(p *problem, w []float64, iters int) float64 {
	wt := tensor.FromSlice(w).SetRequiresGrad(true)
	g, _ := p.grad(wt)
	v := make([]float64, len(w))
	for i := range v {
		v[i] = 1 / math.Sqrt(float64(len(v)))
	}
	lambda := 0.0
	for range iters {
		hv := hvp(g, wt, v)
		lambda = dot(v, hv)
		n := norm(hv)
		for i := range v {
			v[i] = hv[i] / n
		}
	}
	return lambda
}

// newtonCG runs Newton's method where each step p solves H·p = −∇f by
// conjugate gradients, touching H only through HVPs, followed by a
// backtracking (Armijo) line search that accepts the full step whenever
// it decreases f enough.
func newtonCG(p *problem, w0 []float64, iters int, tol float64) []iterate {
	w := append([]float64(nil), w0...)
	var trace []iterate
	hvps := 0
	taken := 0.0
	for it := 0; ; it++ {
		wt := tensor.FromSlice(w).SetRequiresGrad(true)
		gt, ft := p.grad(wt)
		g := gt.Float64s()
		f := ft.Item()
		gn := norm(g)
		trace = append(trace, iterate{Iter: it, Loss: f, GradNorm: gn, HVPs: hvps, Step: taken})
		if gn < tol || it == iters {
			return trace
		}
		// Conjugate gradients on H·d = −g, to relative residual
		// min(0.5, √‖g‖)·‖g‖ (a superlinearly convergent forcing term).
		d := make([]float64, len(w))
		r := make([]float64, len(w))
		for i := range r {
			r[i] = -g[i]
		}
		q := append([]float64(nil), r...)
		rr := dot(r, r)
		target := math.Min(0.5, math.Sqrt(gn)) * gn
		for range 10 * len(w) {
			hq := hvp(gt, wt, q)
			hvps++
			alpha := rr / dot(q, hq)
			for i := range d {
				d[i] += alpha * q[i]
				r[i] -= alpha * hq[i]
			}
			rrNew := dot(r, r)
			if math.Sqrt(rrNew) < target {
				break
			}
			beta := rrNew / rr
			for i := range q {
				q[i] = r[i] + beta*q[i]
			}
			rr = rrNew
		}
		step := 1.0
		slope := dot(g, d)
		for range 30 {
			trial := make([]float64, len(w))
			for i := range w {
				trial[i] = w[i] + step*d[i]
			}
			if _, ftrial := p.plainGrad(trial); ftrial <= f+1e-4*step*slope {
				w, taken = trial, step
				break
			}
			step /= 2
		}
	}
}

// gradientDescent takes steps w ← w − η∇f. It returns every iterate, the
// first step with ‖∇f‖ < tol and the first whose loss is within 1e-8 of
// ref (−1 when never).
func gradientDescent(p *problem, w0 []float64, eta float64, steps int, tol, ref float64) ([]iterate, int, int) {
	w := append([]float64(nil), w0...)
	trace := make([]iterate, 0, steps+1)
	toTol, toRef := -1, -1
	for it := 0; it <= steps; it++ {
		g, f := p.plainGrad(w)
		gn := norm(g)
		trace = append(trace, iterate{Iter: it, Loss: f, GradNorm: gn})
		if toRef < 0 && f-ref < 1e-8 {
			toRef = it
		}
		if gn < tol {
			toTol = it
			break
		}
		for i := range w {
			w[i] -= eta * g[i]
		}
	}
	return trace, toTol, toRef
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func transpose(a [][]float64) [][]float64 {
	t := make([][]float64, len(a[0]))
	for j := range t {
		t[j] = make([]float64, len(a))
		for i := range a {
			t[j][i] = a[i][j]
		}
	}
	return t
}

func maxAbsDiff(a, b [][]float64) float64 {
	m := 0.0
	for i := range a {
		for j := range a[i] {
			m = math.Max(m, math.Abs(a[i][j]-b[i][j]))
		}
	}
	return m
}

func maxAbs(a [][]float64) float64 {
	m := 0.0
	for i := range a {
		for j := range a[i] {
			m = math.Max(m, math.Abs(a[i][j]))
		}
	}
	return m
}

func asymmetry(h [][]float64, k int) float64 {
	m := 0.0
	for i := range k {
		for j := range k {
			m = math.Max(m, math.Abs(h[i][j]-h[j][i]))
		}
	}
	return m
}
