// Package functional holds the stateless neural-network operations, in the
// shape of torch.nn.functional: convolution, pooling, normalization,
// dropout, embedding, padding, interpolation, attention and the losses.
// Import it as F:
//
//	import F "github.com/tapir-ml/tapir/nn/functional"
//
// Every function is built from differentiable tensor operations, so
// gradients (and gradients of gradients) flow through it. Arguments and
// defaults follow PyTorch: an options struct whose zero value is torch's
// default (reduction "mean", stride 1, …).
package functional
