// Package autograd is the user-facing side of Tapir's reverse-mode
// differentiation: gradients of arbitrary outputs with respect to arbitrary
// inputs ([Grad]), gradients of gradients ([GradOptions].CreateGraph),
// a no-grad scope that is safe while other goroutines train ([NoGrad]),
// user-defined ops with their own backward ([Function]), numerical
// gradient checking ([GradCheck]), recomputation to save memory
// ([Checkpoint]) and anomaly detection ([DetectAnomaly]).
//
// The graph itself is recorded by package tensor as ops run: every tensor
// computed from one that requires grad points to the node that made it
// (tensor.Tensor.GradFn), and Tensor.Backward walks those nodes back. This
// package adds the controls around that engine.
//
// # Grad mode and goroutines
//
// PyTorch's torch.no_grad is thread-local; Go has no goroutine-local
// storage, and a process-wide switch would let one goroutine's inference
// silently stop another's training. NoGrad therefore keys the scope by the
// calling goroutine's identity: only ops run by that goroutine, while f
// runs, skip recording. Goroutines that f starts do not inherit the scope
// (as threads started inside torch.no_grad do not); call NoGrad in them
// too. While no goroutine is inside a scope the check costs one atomic
// load; otherwise an op on tensors that require grad looks up its
// goroutine in a sharded table (tens of nanoseconds on amd64 and arm64,
// where the goroutine is identified by the runtime's descriptor pointer;
// about a microsecond in purego builds and on other architectures, which
// parse the goroutine id from runtime.Stack).
package autograd
