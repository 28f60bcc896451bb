package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// lstmFused switches FusedLSTM's kernels off (tests only), so that the
// composed ops, the kernels' oracle, run instead.
var lstmFused = true

// FusedLSTM runs the recurrence of one LSTM layer in one direction, as
// torch's LSTM does per layer: with gx [T·B, 4H] the input projection of
// all T steps (x_t·W_ihᵀ + b_ih + b_hh, rows time-major, B per step),
// weightHH W_hh [4H, H], and the initial states h0 and c0 [B, H], step t
// computes
//
//	i, f, g, o = σ, σ, tanh, σ of gx_t + h_{t−1}·W_hhᵀ
//	c_t = f⊙c_{t−1} + i⊙g,  h_t = o⊙tanh(c_t)
//
// going through t = 0…T−1, or T−1…0 with reverse. It returns every h_t,
// out [T·B, H] laid out as gx, and the last c, cN [B, H] (the last h is
// out's rows of the last step taken).
//
// It is one recorded op. Forward, each step is a matrix product and one
// fused cell kernel. Backward walks the steps back with one fused kernel
// and one product per step, keeps every step's gate gradients, and forms
// W_hh's gradient at the end as a single product over all T·B rows
// instead of T thin ones summed. When the backward pass is itself
// recorded (CreateGraph), the op is differentiated through the composed
// recurrence instead (the same ops as the forward, recomputed), so
// gradients of gradients work.
func FusedLSTM(gx, h0, c0, weightHH *Tensor, reverse bool) (out, cN *Tensor) {
	const op = "fused_lstm"
	for _, t := range []*Tensor{h0, c0, weightHH} {
		sameDevice(op, gx, t)
	}
	if gx.Dim() != 2 || h0.Dim() != 2 || c0.Dim() != 2 || weightHH.Dim() != 2 {
		fail(op, ErrShape, "gx %v, h0 %v, c0 %v and weight_hh %v must be 2-d", gx.shape, h0.shape, c0.shape, weightHH.shape)
	}
	b, h := h0.shape[0], h0.shape[1]
	if b == 0 || h == 0 || gx.shape[1] != 4*h || gx.shape[0]%b != 0 || gx.shape[0] == 0 ||
		c0.shape[0] != b || c0.shape[1] != h || weightHH.shape[0] != 4*h || weightHH.shape[1] != h {
		fail(op, ErrShape, "gx %v, h0 %v, c0 %v and weight_hh %v do not fit: want [T·B, 4H], [B, H], [B, H], [4H, H]",
			gx.shape, h0.shape, c0.shape, weightHH.shape)
	}
	dt := gx.DType()
	if h0.DType() != dt || c0.DType() != dt || weightHH.DType() != dt {
		fail(op, ErrDType, "gx %v, h0 %v, c0 %v and weight_hh %v must share a dtype", dt, h0.DType(), c0.DType(), weightHH.DType())
	}
	k, ok := gx.be().(backend.LSTMCeller)
	if !ok || !lstmFused || (dt != Float32 && dt != Float64) {
		return lstmComposed(gx, h0, c0, weightHH, reverse)
	}
	steps := gx.shape[0] / b
	gxd, wT := gx.Detach().Contiguous(), weightHH.Detach().T()
	hp, cp := h0.Detach().Contiguous(), c0.Detach().Contiguous()
	acts := empty(op, gx.Device(), dt, []int{steps * b, 4 * h})
	cs := empty(op, gx.Device(), dt, []int{steps * b, h})
	o := empty(op, gx.Device(), dt, []int{steps * b, h})
	for s := range steps {
		t := lstmStep(s, steps, reverse)
		hh := hp.MatMul(wT)
		k.LSTMCell(rowsView(acts, t*b, b), rowsView(cs, t*b, b), rowsView(o, t*b, b),
			rowsView(gxd, t*b, b), hh.view(), cp.view())
		hp, cp = o.Narrow(0, t*b, b), cs.Narrow(0, t*b, b)
	}
	runtime.KeepAlive(gxd)
	cn := cp.Clone()
	inputs := []*Tensor{gx, h0, c0, weightHH}
	saved := []*Tensor{gx, h0, c0, weightHH, acts, cs, o}
	res := RecordFunction("FusedLSTM", inputs, []*Tensor{o, cn}, saved, func(sv, gs []*Tensor) []*Tensor {
		if GradEnabled() {
			return lstmComposedGrad(sv[:4], gs, reverse)
		}
		return lstmBackward(k, sv, gs, reverse)
	})
	return res[0], res[1]
}

// lstmStep is the time index of the s-th step taken.
func lstmStep(s, steps int, reverse bool) int {
	if reverse {
		return steps - 1 - s
	}
	return s
}

// rowsView is rows [lo, lo+n) of a contiguous 2-d t.
func rowsView(t *Tensor, lo, n int) backend.View {
	c := t.shape[1]
	return t.viewAs([]int{n, c}, []int{c, 1}, t.offset+lo*c)
}

// lstmBackward is FusedLSTM's backward with the fused kernels: sv holds
// gx, h0, c0, W_hh, and the forward's gate activations, cells and
// outputs; gs the gradients of out and cN.
func lstmBackward(k backend.LSTMCeller, sv, gs []*Tensor, reverse bool) []*Tensor {
	const op = "fused_lstm backward"
	h0, c0, w := sv[1].Contiguous(), sv[2].Contiguous(), sv[3]
	acts, cs, o := sv[4], sv[5], sv[6]
	b, h := h0.shape[0], h0.shape[1]
	steps := cs.shape[0] / b
	dt, dev := cs.DType(), cs.Device()
	dout := gs[0].Contiguous()
	dc := gs[1].Clone()
	dG := empty(op, dev, dt, []int{steps * b, 4 * h})
	dh := zerosOf(dt, dev, []int{b, h})
	for s := steps - 1; s >= 0; s-- {
		t := lstmStep(s, steps, reverse)
		cPrev := c0
		if s > 0 {
			cPrev = cs.Narrow(0, lstmStep(s-1, steps, reverse)*b, b)
		}
		k.LSTMCellBackward(rowsView(dG, t*b, b), dc.view(), rowsView(acts, t*b, b), rowsView(cs, t*b, b),
			cPrev.view(), rowsView(dout, t*b, b), dh.view(), dc.view())
		dh = dG.Narrow(0, t*b, b).MatMul(w)
	}
	// h_{t−1} for every row of dG, in dG's order: h0 sits at the first
	// step taken.
	var hPrev *Tensor
	switch {
	case steps == 1:
		hPrev = h0
	case reverse:
		hPrev = Cat([]*Tensor{o.Narrow(0, b, (steps-1)*b), h0}, 0)
	default:
		hPrev = Cat([]*Tensor{h0, o.Narrow(0, 0, (steps-1)*b)}, 0)
	}
	dW := dG.T().MatMul(hPrev)
	runtime.KeepAlive(dout)
	return []*Tensor{dG, dh, dc, dW}
}

// lstmComposed is FusedLSTM's recurrence in ordinary recorded ops: the
// path of backends without the kernels, the differentiable form used
// under CreateGraph, and the kernels' test oracle.
func lstmComposed(gx, h0, c0, weightHH *Tensor, reverse bool) (out, cN *Tensor) {
	b, h := h0.shape[0], h0.shape[1]
	steps := gx.shape[0] / b
	wT := weightHH.T()
	outs := make([]*Tensor, steps)
	hp, cp := h0, c0
	// Split, not Narrow: one op whose backward is one Cat, where each
	// Narrow's gradient would be padded to gx's full size, every step.
	xs := gx.Split(b, 0)
	for s := range steps {
		t := lstmStep(s, steps, reverse)
		gs := xs[t].Add(hp.MatMul(wT)).Split(h, 1)
		i, f, cand, o := gs[0].Sigmoid(), gs[1].Sigmoid(), gs[2].Tanh(), gs[3].Sigmoid()
		cp = f.Mul(cp).Add(i.Mul(cand))
		hp = o.Mul(cp.Tanh())
		outs[t] = hp
	}
	return Cat(outs, 0), cp
}

// lstmComposedGrad differentiates the composed recurrence at the saved
// inputs (gx, h0, c0, W_hh) with output gradients gs, recording the
// backward pass (it runs only under CreateGraph).
func lstmComposedGrad(in, gs []*Tensor, reverse bool) []*Tensor {
	out, cN := lstmComposed(in[0], in[1], in[2], in[3], reverse)
	var want []*Tensor
	var at []int
	for i, t := range in {
		if t.RequiresGrad() {
			want = append(want, t)
			at = append(at, i)
		}
	}
	grads := make([]*Tensor, len(in))
	if len(want) == 0 {
		return grads
	}
	r := RunBackward([]*Tensor{out, cN}, gs, want, BackwardOptions{CreateGraph: true, AllowUnused: true})
	for j, i := range at {
		grads[i] = r[j]
	}
	return grads
}
