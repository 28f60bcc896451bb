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
// default (reduction "mean", stride 1, …). Where torch's default is an
// index that Go's zero value cannot stand for (ignore_index -100,
// padding_idx None), the field is a *int, nil meaning torch's default; set
// it with [Index]. Dropout and attention dropout draw from a
// *tensor.Generator when one is given, else from tensor.DefaultGenerator().
//
// Programmer errors (shapes that do not fit, targets out of range, an
// unknown reduction) panic with a *tensor.Error that names the op as torch
// does (cross_entropy, batch_norm, …) and the shapes involved; tensor.Try
// recovers them.
package functional
