package cpu

import (
	"github.com/tapir-ml/tapir/backend"
)

// The LSTM cell's elementwise work, fused (the tensor package's
// FusedLSTM finds these methods with a type assertion; backends without
// them get the composed ops). A step of an LSTM layer is one matrix
// product and then about ten small elementwise ops on [batch, 4·hidden]
// and [batch, hidden]; its backward about twenty. Each of those is an
// allocation, a recorded node and a pass over memory, and all are below
// the elementwise parallel grain, so they run on one core one after the
// other. Here one call does a step's whole cell, forward or backward,
// row by row with the contiguous kernels of vec.go (SIMD for float32),
// the rows split over the threads.
//
// Every operand is a 2-d view [B, n] whose rows are contiguous (stride 1
// in the last dim; any row stride and offset). Gates are laid out as in
// torch's weights: i, f, g, o, each H wide.

// lstmRows splits B rows of H cells over the threads: a chunk of rows
// must hold about grain/16 cells (each costs a few transcendental
// evaluations and a dozen passes), so small batches stay on one core.
func lstmRows(b, h int, fn func(lo, hi int)) {
	parallelFor(b, max(1, grain/16/max(h, 1)), fn)
}

// row is row r of a 2-d view with contiguous rows, as a slice of its
// storage.
func row[T any](v backend.View, s []T, r int) []T {
	off := v.Offset + r*v.Strides[0]
	return s[off : off+v.Shape[1] : off+v.Shape[1]]
}

// LSTMCell computes one step of the cell from the pre-activation gates
// gx + hh ([B, 4H] each): acts = σ, σ, tanh, σ of them (i, f, g, o),
// c = f⊙cPrev + i⊙g and h = o⊙tanh(c) ([B, H]). acts is kept for
// LSTMCellBackward. Outputs do not overlap inputs.
func (*CPU) LSTMCell(acts, c, h, gx, hh, cPrev backend.View) {
	switch gx.DType() {
	case backend.Float32:
		lstmCellT[float32](acts, c, h, gx, hh, cPrev)
	case backend.Float64:
		lstmCellT[float64](acts, c, h, gx, hh, cPrev)
	default:
		panic(badDType("lstm cell", gx.DType()))
	}
}

func lstmCellT[T float](acts, c, h, gx, hh, cPrev backend.View) {
	b, n := c.Shape[0], c.Shape[1]
	sa, sc, sh := slice[T](acts.Storage), slice[T](c.Storage), slice[T](h.Storage)
	sgx, shh, scp := slice[T](gx.Storage), slice[T](hh.Storage), slice[T](cPrev.Storage)
	k := vecFor[T]()
	sig, tanh := k.un[vuSigmoid], k.un[vuTanh]
	add, mul := k.bin[vbAdd], k.bin[vbMul]
	lstmRows(b, n, func(lo, hi int) {
		tmp := make([]T, n)
		for r := lo; r < hi; r++ {
			a := row(acts, sa, r)
			add(a, row(gx, sgx, r), row(hh, shh, r))
			i, f, g, o := a[:n], a[n:2*n], a[2*n:3*n], a[3*n:]
			sig(a[:2*n], a[:2*n], 0, 0)
			tanh(g, g, 0, 0)
			sig(o, o, 0, 0)
			cr, hr := row(c, sc, r), row(h, sh, r)
			mul(cr, f, row(cPrev, scp, r))
			mul(tmp, i, g)
			add(cr, cr, tmp)
			tanh(hr, cr, 0, 0)
			mul(hr, hr, o)
		}
	})
}

// LSTMCellBackward is LSTMCell's backward for one step. With dh =
// dout + dhRec the gradient of the step's h ([B, H]) and dc that of its c
// from the steps after it, it writes the gradient of the pre-activation
// gates, dgates [B, 4H], and that of cPrev, dcPrev [B, H]:
//
//	dc' = dc + dh⊙o⊙(1 − tanh²c)
//	di = dc'⊙g⊙i(1−i), df = dc'⊙cPrev⊙f(1−f), dg = dc'⊙i⊙(1−g²),
//	do = dh⊙tanh(c)⊙o(1−o), dcPrev = dc'⊙f
//
// acts and c are LSTMCell's outputs for the step. dcPrev may alias dc
// exactly; no other outputs overlap inputs.
func (*CPU) LSTMCellBackward(dgates, dcPrev, acts, c, cPrev, dout, dhRec, dc backend.View) {
	switch acts.DType() {
	case backend.Float32:
		lstmCellBackwardT[float32](dgates, dcPrev, acts, c, cPrev, dout, dhRec, dc)
	case backend.Float64:
		lstmCellBackwardT[float64](dgates, dcPrev, acts, c, cPrev, dout, dhRec, dc)
	default:
		panic(badDType("lstm cell backward", acts.DType()))
	}
}

func lstmCellBackwardT[T float](dgates, dcPrev, acts, c, cPrev, dout, dhRec, dc backend.View) {
	b, n := c.Shape[0], c.Shape[1]
	sdg, sdcp, sa := slice[T](dgates.Storage), slice[T](dcPrev.Storage), slice[T](acts.Storage)
	sc, scp := slice[T](c.Storage), slice[T](cPrev.Storage)
	sdo, sdh, sdc := slice[T](dout.Storage), slice[T](dhRec.Storage), slice[T](dc.Storage)
	k := vecFor[T]()
	tanh, square, rsubs := k.un[vuTanh], k.un[vuSquare], k.un[vuRsubs]
	add, mul := k.bin[vbAdd], k.bin[vbMul]
	lstmRows(b, n, func(lo, hi int) {
		buf := make([]T, 4*n)
		dh, th, dct, t := buf[:n], buf[n:2*n], buf[2*n:3*n], buf[3*n:]
		for r := lo; r < hi; r++ {
			a, d := row(acts, sa, r), row(dgates, sdg, r)
			i, f, g, o := a[:n], a[n:2*n], a[2*n:3*n], a[3*n:]
			di, df, dg, do := d[:n], d[n:2*n], d[2*n:3*n], d[3*n:]
			add(dh, row(dout, sdo, r), row(dhRec, sdh, r))
			tanh(th, row(c, sc, r), 0, 0)
			// dc' = dc + dh⊙o⊙(1 − th²)
			square(t, th, 0, 0)
			rsubs(t, t, 1, 0)
			mul(t, t, o)
			mul(t, t, dh)
			add(dct, t, row(dc, sdc, r))
			// do = dh⊙th⊙o(1−o)
			rsubs(t, o, 1, 0)
			mul(t, t, o)
			mul(t, t, th)
			mul(do, t, dh)
			// di = dc'⊙g⊙i(1−i)
			rsubs(t, i, 1, 0)
			mul(t, t, i)
			mul(t, t, g)
			mul(di, t, dct)
			// df = dc'⊙cPrev⊙f(1−f)
			rsubs(t, f, 1, 0)
			mul(t, t, f)
			mul(t, t, row(cPrev, scp, r))
			mul(df, t, dct)
			// dg = dc'⊙i⊙(1−g²)
			square(t, g, 0, 0)
			rsubs(t, t, 1, 0)
			mul(t, t, i)
			mul(dg, t, dct)
			// dcPrev = dc'⊙f (last: dcPrev may be dc)
			mul(row(dcPrev, sdcp, r), dct, f)
		}
	})
}
