// Command curve-fit trains a small neural network to fit y = sin(3x)·x on
// [-1, 1] with Tapir's tensors and autograd alone: the parameters are
// plain tensors that require grad, the loss is built op by op, Backward
// fills in the gradients, and a plain SGD-with-momentum step updates the
// weights inside autograd.NoGrad. It finishes by checking one gradient
// against finite differences, the way autograd.GradCheck does.
//
//	go run ./examples/curve-fit
//	go run ./examples/curve-fit -steps 3000 -hidden 64
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/tensor"
)

func main() {
	steps := flag.Int("steps", 1500, "training steps")
	hidden := flag.Int("hidden", 32, "hidden units per layer")
	lr := flag.Float64("lr", 0.05, "learning rate")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*steps, *hidden, *lr, *seed); err != nil {
		log.Fatal(err)
	}
}

// mlp is a 1 → hidden → hidden → 1 network with tanh activations.
type mlp struct{ w1, b1, w2, b2, w3, b3 *tensor.Tensor }

func newMLP(g *tensor.Generator, hidden int) *mlp {
	layer := func(in, out int) (*tensor.Tensor, *tensor.Tensor) {
		bound := 1 / math.Sqrt(float64(in)) // PyTorch's default Linear init range
		w := g.Uniform(tensor.Float32, -bound, bound, in, out).SetRequiresGrad(true)
		b := g.Uniform(tensor.Float32, -bound, bound, out).SetRequiresGrad(true)
		return w, b
	}
	m := &mlp{}
	m.w1, m.b1 = layer(1, hidden)
	m.w2, m.b2 = layer(hidden, hidden)
	m.w3, m.b3 = layer(hidden, 1)
	return m
}

func (m *mlp) params() []*tensor.Tensor { return []*tensor.Tensor{m.w1, m.b1, m.w2, m.b2, m.w3, m.b3} }

func (m *mlp) forward(x *tensor.Tensor) *tensor.Tensor {
	h := x.MatMul(m.w1).Add(m.b1).Tanh()
	h = h.MatMul(m.w2).Add(m.b2).Tanh()
	return h.MatMul(m.w3).Add(m.b3)
}

func target(x *tensor.Tensor) *tensor.Tensor { return x.MulScalar(3).Sin().Mul(x) }

func run(steps, hidden int, lr float64, seed uint64) error {
	g := tensor.NewGenerator(seed)
	x := tensor.Linspace(-1, 1, 256).Unsqueeze(1) // [256, 1]
	y := target(x)
	m := newMLP(g, hidden)
	velocity := make([]*tensor.Tensor, len(m.params()))
	for i, p := range m.params() {
		velocity[i] = tensor.ZerosLike(p)
	}
	start := time.Now()
	for step := 0; step <= steps; step++ {
		loss := m.forward(x).Sub(y).Square().Mean()
		loss.Backward()
		autograd.NoGrad(func() {
			for i, p := range m.params() {
				velocity[i].MulScalarIn(0.9).AddIn(p.Grad())
				p.AddScaledIn(velocity[i], -lr)
				p.ZeroGrad()
			}
		})
		if step%(steps/10) == 0 {
			fmt.Printf("step %5d  loss %.6f\n", step, loss.Item())
		}
	}
	fmt.Printf("trained %d steps in %v\n", steps, time.Since(start).Round(time.Millisecond))

	// How well does it fit points it never saw?
	var test *tensor.Tensor
	autograd.NoGrad(func() {
		xt := tensor.Linspace(-0.99, 0.99, 7).Unsqueeze(1)
		test = tensor.Cat([]*tensor.Tensor{xt, target(xt), m.forward(xt)}, 1)
	})
	fmt.Println("x, sin(3x)·x, network:")
	fmt.Println(test)

	// Check one gradient by finite differences in float64.
	x64 := x.To(tensor.Float64)
	w := m.w2.Detach().To(tensor.Float64).SetRequiresGrad(true)
	err := autograd.GradCheck(func(in []*tensor.Tensor) *tensor.Tensor {
		h := x64.MatMul(m.w1.Detach().To(tensor.Float64)).Add(m.b1.Detach().To(tensor.Float64)).Tanh()
		return h.MatMul(in[0]).Tanh().Narrow(0, 0, 4).Sum(1)
	}, []*tensor.Tensor{w})
	if err != nil {
		return err
	}
	fmt.Println("gradient check of the second layer: ok")
	return nil
}
