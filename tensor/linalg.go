package tensor

import (
	"runtime"

	"github.com/tapir-ml/tapir/backend"
)

// MatMul is the matrix product with torch.matmul's rules: 1-d·1-d is a
// dot product (0-d result); a 1-d operand is treated as a row (left) or
// column (right) vector and that dim is dropped from the result; 2-d·2-d
// is the matrix product; higher ranks are batches of matrices whose batch
// dims broadcast.
func (t *Tensor) MatMul(o *Tensor) *Tensor {
	const op = "matmul"
	sameDevice(op, t, o)
	if t.Dim() == 0 || o.Dim() == 0 {
		fail(op, ErrShape, "%v × %v: both arguments need at least 1 dim", t.shape, o.shape)
	}
	dt := resultType(t, o)
	if dt == Bool {
		fail(op, ErrDType, "matmul of bool tensors is not supported")
	}
	if dt.IsHalf() {
		return t.To(Float32).MatMul(o.To(Float32)).To(dt)
	}
	a, b := t.To(dt), o.To(dt)
	k1, k2 := a.shape[a.Dim()-1], b.shape[0]
	if b.Dim() > 1 {
		k2 = b.shape[b.Dim()-2]
	}
	if k1 != k2 {
		fail(op, ErrShape, "%v × %v: inner dimensions differ (%d vs %d)", t.shape, o.shape, k1, k2)
	}
	switch {
	case a.Dim() == 1 && b.Dim() == 1:
		return mm(a.Unsqueeze(0), b.Unsqueeze(1)).Reshape()
	case a.Dim() == 2 && b.Dim() == 1:
		return mm(a, b.Unsqueeze(1)).Squeeze(1)
	case a.Dim() == 1 && b.Dim() == 2:
		return mm(a.Unsqueeze(0), b).Squeeze(0)
	case a.Dim() == 2 && b.Dim() == 2:
		return mm(a, b)
	case b.Dim() <= 2:
		// fold a's batch dims into its rows: one big product
		bw := b
		if b.Dim() == 1 {
			bw = b.Unsqueeze(1)
		}
		lead := a.shape[:a.Dim()-1]
		out := mm(a.Reshape(-1, k1), bw)
		if b.Dim() == 1 {
			return out.Reshape(lead...)
		}
		return out.Reshape(append(append([]int(nil), lead...), bw.shape[1])...)
	}
	aw, bw := a, b
	if a.Dim() == 1 {
		aw = a.Unsqueeze(0)
	}
	ab, bb := aw.shape[:aw.Dim()-2], bw.shape[:bw.Dim()-2]
	batch := broadcastShapes(op, ab, bb)
	m, n := aw.shape[aw.Dim()-2], bw.shape[bw.Dim()-1]
	nb := backend.Numel(batch)
	a3 := aw.Expand(append(append([]int(nil), batch...), m, k1)...).Reshape(nb, m, k1)
	b3 := bw.Expand(append(append([]int(nil), batch...), k1, n)...).Reshape(nb, k1, n)
	out := mm(a3, b3).Reshape(append(append([]int(nil), batch...), m, n)...)
	if a.Dim() == 1 {
		out = out.Squeeze(-2)
	}
	return out
}

// mm is the recorded primitive: 2-d·2-d or batched 3-d·3-d of one dtype.
func mm(a, b *Tensor) *Tensor {
	const op = "matmul"
	r := a.Dim()
	if r != b.Dim() || (r != 2 && r != 3) || a.shape[r-1] != b.shape[r-2] || (r == 3 && a.shape[0] != b.shape[0]) {
		fail(op, ErrShape, "%v × %v: shapes do not fit", a.shape, b.shape)
	}
	if a.DType() != b.DType() {
		fail(op, ErrDType, "%v × %v", a.DType(), b.DType())
	}
	var shape []int
	if r == 2 {
		shape = []int{a.shape[0], b.shape[1]}
	} else {
		shape = []int{a.shape[0], a.shape[1], b.shape[2]}
	}
	out := empty(op, a.Device(), a.DType(), shape)
	lay := new([18]int) // the three 3-d layouts the kernel sees, in one allocation
	a.be().MatMul(as3d(out, lay[0:6]), as3d(a, lay[6:12]), as3d(b, lay[12:18]))
	runtime.KeepAlive(a)
	runtime.KeepAlive(b)
	if needsGrad(a, b) {
		record(opMatMul, nil, []*Tensor{a, b}, []*Tensor{out}, a, b)
	}
	return out
}

// as3d is t seen as a batch of matrices; a 2-d t gets a leading batch
// dim of size 1, its layout written into buf (6 ints).
func as3d(t *Tensor, buf []int) backend.View {
	if t.Dim() == 3 {
		return t.view()
	}
	sh, st := buf[0:3:3], buf[3:6:6]
	sh[0], sh[1], sh[2] = 1, t.shape[0], t.shape[1]
	st[0], st[1], st[2] = 0, t.strides[0], t.strides[1]
	return t.viewAs(sh, st, t.offset)
}

// colMajor reports whether the matrices of t (its last two dims) are
// stored column by column, as a transposed view of a contiguous tensor
// is: unit stride down the rows and a column stride that spans them.
// Matrices with a single row or column count as row-major.
func colMajor(t *Tensor) bool {
	r := t.Dim()
	if r < 2 || t.shape[r-2] < 2 || t.shape[r-1] < 2 {
		return false
	}
	return t.strides[r-2] == 1 && t.strides[r-1] >= t.shape[r-2]
}
