package tensor

import (
	"fmt"
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// layerNormFused switches LayerNorm's and GroupNorm's kernels off (tests
// only), so that the composed ops, their oracle, run instead.
var layerNormFused = true

// LayerNorm normalizes x over its last `normalized` dims, as
// torch.nn.functional.layer_norm does: (x − mean)/√(var + eps)·weight +
// bias with the biased variance over those dims; weight and bias have
// x's last `normalized` dims as their shape, or are nil.
//
// On a backend with its kernels (the CPU's) it is one recorded op: the
// forward writes the result and each row's mean and 1/√(var + eps) in
// one pass, and the backward computes the input's gradient in one more;
// when the backward is itself recorded (gradients of gradients) it is
// written in differentiable ops instead. Elsewhere it is composed from
// reductions and elementwise ops, with the same values up to rounding.
func LayerNorm(x *Tensor, normalized int, weight, bias *Tensor, eps float64) *Tensor {
	const op = "layer_norm"
	if normalized < 1 || normalized > x.Dim() {
		fail(op, ErrShape, "cannot normalize the last %d dims of %v", normalized, x.shape)
	}
	lead := x.Dim() - normalized
	nshape := x.shape[lead:]
	rows, n := 1, 1
	for _, s := range x.shape[:lead] {
		rows *= s
	}
	for _, s := range nshape {
		n *= s
	}
	checkAffine(op, x, weight, bias, nshape, "does not match the normalized dims %[2]v of %[1]v")
	dt := x.DType()
	k, ok := x.be().(backend.LayerNormer)
	if !ok || !layerNormFused || (dt != Float32 && dt != Float64) || rows*n == 0 {
		return layerNormComposed(x, lead, weight, bias, eps)
	}
	xc := x.Detach().Contiguous()
	var wv, bv backend.View
	var wc, bc *Tensor
	if weight != nil {
		wc = weight.Detach().Contiguous()
		wv = wc.view()
	}
	if bias != nil {
		bc = bias.Detach().Contiguous()
		bv = bc.view()
	}
	y := emptyLike(op, xc, dt)
	mean := empty(op, x.Device(), dt, []int{rows})
	rstd := empty(op, x.Device(), dt, []int{rows})
	k.LayerNorm(y.view(), mean.view(), rstd.view(), xc.view(), wv, bv, eps)
	runtime.KeepAlive(xc)
	runtime.KeepAlive(wc)
	runtime.KeepAlive(bc)

	inputs := []*Tensor{x}
	if weight != nil {
		inputs = append(inputs, weight)
	}
	if bias != nil {
		inputs = append(inputs, bias)
	}
	saved := []*Tensor{x, weight, mean, rstd}
	if weight == nil {
		saved = []*Tensor{x, mean, rstd}
	}
	return RecordFunction("LayerNorm", inputs, []*Tensor{y}, saved, func(sv, gs []*Tensor) []*Tensor {
		xs, w := sv[0], (*Tensor)(nil)
		if weight != nil {
			w = sv[1]
		}
		var dx, dw, db *Tensor
		if GradEnabled() {
			dx, dw, db = layerNormGradComposed(xs, w, gs[0], rows, n, eps)
		} else {
			dx, dw, db = layerNormGradFused(k, xs, w, sv[len(sv)-2], sv[len(sv)-1], gs[0], rows, n)
		}
		grads := []*Tensor{dx}
		if weight != nil {
			grads = append(grads, dw.Reshape(nshape...))
		}
		if bias != nil {
			grads = append(grads, db.Reshape(nshape...))
		}
		return grads
	})[0]
}

// GroupNorm splits the C channels of x ([N, C, *]) into groups of
// C/groups and normalizes each group of each sample over its channels and
// positions, as torch.nn.functional.group_norm does, with the biased
// variance, then applies the per-channel weight and bias ([C], or nil).
//
// It is a LayerNorm of x seen as [N, groups, rest] (one recorded op with
// its fused backward) followed by the affine part. When no gradient is
// recorded, a backend with the kernel (the CPU's) does it all in one
// pass that applies each channel's weight and bias while its group is in
// the cache, rounding once less; the values agree up to rounding.
func GroupNorm(x *Tensor, groups int, weight, bias *Tensor, eps float64) *Tensor {
	const op = "group_norm"
	if x.Dim() < 2 {
		fail(op, ErrShape, "input %v must be at least 2-d [N, C, *]", x.shape)
	}
	c := x.shape[1]
	if groups <= 0 || c%groups != 0 {
		fail(op, ErrShape, "%d channels of input %v do not split into %d groups", c, x.shape, groups)
	}
	checkAffine(op, x, weight, bias, []int{c}, "does not fit input %v: want %v")
	n, dt := x.shape[0], x.DType()
	k, ok := x.be().(backend.GroupNormer)
	if !ok || !layerNormFused || (dt != Float32 && dt != Float64) || needsGrad(x, weight, bias) {
		rest := c / groups
		for _, s := range x.shape[2:] {
			rest *= s
		}
		y := LayerNorm(x.Reshape(n, groups, rest), 1, nil, nil, eps).Reshape(x.shape...)
		cs := make([]int, x.Dim())
		for i := range cs {
			cs[i] = 1
		}
		cs[1] = c
		if weight != nil {
			y = y.Mul(weight.Reshape(cs...))
		}
		if bias != nil {
			y = y.Add(bias.Reshape(cs...))
		}
		return y
	}
	xc := x.Contiguous()
	var wv, bv backend.View
	var wc, bc *Tensor
	if weight != nil {
		wc = weight.Contiguous()
		wv = wc.view()
	}
	if bias != nil {
		bc = bias.Contiguous()
		bv = bc.view()
	}
	y := emptyLike(op, xc, dt)
	mean := empty(op, x.Device(), dt, []int{n * groups})
	rstd := empty(op, x.Device(), dt, []int{n * groups})
	k.GroupNorm(y.view(), mean.view(), rstd.view(), xc.view(), wv, bv, groups, eps)
	runtime.KeepAlive(xc)
	runtime.KeepAlive(wc)
	runtime.KeepAlive(bc)
	return y
}

// layerNormComposed is LayerNorm in reductions and elementwise ops, over
// the dims from lead on.
func layerNormComposed(x *Tensor, lead int, weight, bias *Tensor, eps float64) *Tensor {
	dims := make([]int, x.Dim()-lead)
	for i := range dims {
		dims[i] = lead + i
	}
	y := x.Sub(x.MeanKeepDim(dims...)).Mul(x.VarOpt(dims, 0, true).AddScalar(eps).Rsqrt())
	if weight != nil {
		y = y.Mul(weight)
	}
	if bias != nil {
		y = y.Add(bias)
	}
	return y
}

// layerNormGradFused is LayerNorm's backward with the kernels: the
// gradients of x (shaped like x), and of the weight and bias as [n].
func layerNormGradFused(k backend.LayerNormer, x, w, mean, rstd, g *Tensor, rows, n int) (dx, dw, db *Tensor) {
	const op = "layer_norm backward"
	xc, gc := x.Contiguous(), g.Contiguous()
	dx = emptyLike(op, xc, xc.DType())
	gxhat := emptyLike(op, xc, xc.DType())
	var wv backend.View
	if w != nil {
		w = w.Contiguous()
		wv = w.view()
	}
	k.LayerNormBackward(dx.view(), gxhat.view(), gc.view(), xc.view(), mean.view(), rstd.view(), wv)
	runtime.KeepAlive(xc)
	runtime.KeepAlive(gc)
	runtime.KeepAlive(w)
	return dx, gxhat.Reshape(rows, n).Sum(0), gc.Reshape(rows, n).Sum(0)
}

// layerNormGradComposed is the same backward in differentiable ops, for
// a recorded backward pass: with x̂ = (x − μ)·r and ĝ = g·w,
// dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)), dw = Σ g·x̂, db = Σ g over rows.
func layerNormGradComposed(x, w, g *Tensor, rows, n int, eps float64) (dx, dw, db *Tensor) {
	x2, g2 := x.Reshape(rows, n), g.Reshape(rows, n)
	r := x2.VarOpt([]int{1}, 0, true).AddScalar(eps).Rsqrt()
	xh := x2.Sub(x2.MeanKeepDim(1)).Mul(r)
	gh := g2
	if w != nil {
		gh = g2.Mul(w.Reshape(n))
	}
	dx = gh.Sub(gh.MeanKeepDim(1)).Sub(xh.Mul(gh.Mul(xh).MeanKeepDim(1))).Mul(r)
	return dx.Reshape(x.shape...), g2.Mul(xh).Sum(0), g2.Sum(0)
}

// checkAffine checks a normalization's optional weight and bias against
// its input x: x's device and dtype, and the shape want. misfit
// completes the shape error after "weight of shape [..] ", formatting x's
// shape and want, in that order.
func checkAffine(op string, x, weight, bias *Tensor, want []int, misfit string) {
	for _, p := range []struct {
		what string
		t    *Tensor
	}{{"weight", weight}, {"bias", bias}} {
		if p.t == nil {
			continue
		}
		sameDevice(op, x, p.t)
		if !sameShape(p.t.shape, want) {
			fail(op, ErrShape, "%s of shape %v "+fmt.Sprintf(misfit, x.shape, want), p.what, p.t.shape)
		}
		if p.t.DType() != x.DType() {
			fail(op, ErrDType, "%s is %v, input %v", p.what, p.t.DType(), x.DType())
		}
	}
}
