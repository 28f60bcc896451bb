package onnx

import (
	"encoding/binary"
	"math"
	"slices"
	"sort"

	"github.com/tapir-ml/tapir/tensor"
)

// Indexing operators: gathers, scatters, sorting and selection. Indices
// may be negative (counting from the end of their dim), as ONNX allows.

func init() {
	register(opGather, "Gather")
	register(opGatherElements, "GatherElements")
	register(opGatherND, "GatherND")
	register(opScatterElements, "ScatterElements", "Scatter")
	register(opScatterND, "ScatterND")
	register(opOneHot, "OneHot")
	register(opCumSum, "CumSum")
	register(argOp(false), "ArgMax")
	register(argOp(true), "ArgMin")
	register(opTopK, "TopK")
	register(opNonZero, "NonZero")
	register(opCompress, "Compress")
	register(opUnique, "Unique")
	register(opReverseSequence, "ReverseSequence")
}

// wrapIndex maps negative indices into [0, n).
func wrapIndex(idx *tensor.Tensor, n int) *tensor.Tensor {
	idx = idx.To(tensor.Int64)
	return idx.Add(idx.LtScalar(0).To(tensor.Int64).MulScalar(float64(n)))
}

func opGather(c *opCtx) []*tensor.Tensor {
	x, idx := c.x(0), c.x(1)
	a := c.axis(c.int("axis", 0), x.Dim())
	ish := idx.Shape()
	flat := wrapIndex(idx, x.Size(a)).Reshape(-1)
	y := x.IndexSelect(a, flat)
	sh := x.Shape()
	out := append(append(append([]int{}, sh[:a]...), ish...), sh[a+1:]...)
	return one(y.Reshape(out...))
}

func opGatherElements(c *opCtx) []*tensor.Tensor {
	x, idx := c.x(0), c.x(1)
	a := c.axis(c.int("axis", 0), x.Dim())
	return one(x.Gather(a, wrapIndex(idx, x.Size(a))))
}

// ndIndex linearizes the last-dim index tuples of GatherND and ScatterND:
// data [b…, d…, rest…] is seen as [B·P, rest…] and each tuple becomes a
// row number in it. It returns the rows (1-d), the shape of the tuples'
// leading dims, and the data seen as [B·P, rest…].
func (c *opCtx) ndIndex(data, idx *tensor.Tensor, batch int) (rows *tensor.Tensor, lead []int, flat *tensor.Tensor) {
	dsh, ish := data.Shape(), idx.Shape()
	if len(ish) < 1 || batch < 0 || batch >= len(ish) || batch > len(dsh) {
		c.fail("indices of shape %v for data %v with batch_dims %d", ish, dsh, batch)
	}
	k := ish[len(ish)-1]
	if batch+k > len(dsh) {
		c.fail("index tuples of length %d into data %v with batch_dims %d", k, dsh, batch)
	}
	for i := 0; i < batch; i++ {
		if dsh[i] != ish[i] {
			c.fail("batch dims of data %v and indices %v differ", dsh, ish)
		}
	}
	B := prod(dsh[:batch])
	P := prod(dsh[batch : batch+k])
	rest := dsh[batch+k:]
	strides := make([]int64, k)
	s := int64(1)
	for j := k - 1; j >= 0; j-- {
		strides[j] = s
		s *= int64(dsh[batch+j])
	}
	it := idx.To(tensor.Int64)
	lin := c.full(tensor.Int64, 0, ish[:len(ish)-1]...)
	for j := 0; j < k; j++ {
		col := wrapIndex(it.Select(-1, j), dsh[batch+j])
		lin = lin.Add(col.MulScalar(float64(strides[j])))
	}
	// Add each batch's offset.
	if batch > 0 {
		per := prod(ish[batch : len(ish)-1])
		off := make([]int64, B*per)
		for b := 0; b < B; b++ {
			for j := 0; j < per; j++ {
				off[b*per+j] = int64(b * P)
			}
		}
		lin = lin.Add(c.intTensor(off, ish[:len(ish)-1]...))
	}
	flat = data.Reshape(append([]int{B * P}, rest...)...)
	return lin.Reshape(-1), ish[:len(ish)-1], flat
}

func opGatherND(c *opCtx) []*tensor.Tensor {
	x, idx := c.x(0), c.x(1)
	batch := int(c.int("batch_dims", 0))
	rows, lead, flat := c.ndIndex(x, idx, batch)
	rest := flat.Shape()[1:]
	return one(flat.IndexSelect(0, rows).Reshape(append(slices.Clone(lead), rest...)...))
}

// scatterReduce returns the scatter's reduction: "none", "add" or "mul".
func (c *opCtx) scatterReduce() string {
	r := c.str("reduction", "none")
	switch r {
	case "none", "add", "mul":
		return r
	}
	c.fail("reduction %q is not supported", r)
	return ""
}

func opScatterElements(c *opCtx) []*tensor.Tensor {
	x, idx, upd := c.x(0), c.x(1), c.x(2)
	a := c.axis(c.int("axis", 0), x.Dim())
	idx = wrapIndex(idx, x.Size(a))
	upd = upd.To(x.DType())
	switch c.scatterReduce() {
	case "add":
		return one(x.ScatterAdd(a, idx, upd))
	case "mul":
		return one(hostScatterMul(c, x, idx, upd, a))
	}
	hit := c.full(tensor.Float32, 0, x.Shape()...).ScatterAdd(a, idx, c.full(tensor.Float32, 1, idx.Shape()...)).GtScalar(0)
	base := tensor.Where(hit, c.full(x.DType(), 0), x)
	return one(base.ScatterAdd(a, idx, upd))
}

// hostScatterMul is ScatterElements with reduction "mul", on the host.
func hostScatterMul(c *opCtx, x, idx, upd *tensor.Tensor, a int) *tensor.Tensor {
	sh := x.Shape()
	out := x.Contiguous().Float64s()
	iv := idx.Contiguous().Int64s()
	uv := upd.Contiguous().Float64s()
	ish := idx.Shape()
	strides := make([]int, len(sh))
	s := 1
	for d := len(sh) - 1; d >= 0; d-- {
		strides[d] = s
		s *= sh[d]
	}
	pos := make([]int, len(ish))
	for n := range iv {
		rem := n
		for d := len(ish) - 1; d >= 0; d-- {
			pos[d] = rem % ish[d]
			rem /= ish[d]
		}
		off := 0
		for d := range ish {
			p := pos[d]
			if d == a {
				p = int(iv[n])
			}
			if p < 0 || p >= sh[d] {
				c.fail("index %d out of range", iv[n])
			}
			off += p * strides[d]
		}
		out[off] *= uv[n]
	}
	return c.dev(tensor.FromSlice(out, sh...)).To(x.DType())
}

func opScatterND(c *opCtx) []*tensor.Tensor {
	x, idx, upd := c.x(0), c.x(1), c.x(2)
	rows, lead, flat := c.ndIndex(x, idx, 0)
	rest := flat.Shape()[1:]
	want := append(slices.Clone(lead), rest...)
	if !slices.Equal(upd.Shape(), want) {
		c.fail("updates of shape %v, want %v", upd.Shape(), want)
	}
	u := upd.To(x.DType()).Reshape(append([]int{rows.Numel()}, rest...)...)
	switch c.scatterReduce() {
	case "add":
		return one(flat.IndexAdd(0, rows, u).Reshape(x.Shape()...))
	case "mul":
		rv := rows.Int64s()
		out := flat
		for i, r := range rv {
			row := out.Narrow(0, int(r), 1).Mul(u.Narrow(0, i, 1))
			out = tensor.Cat([]*tensor.Tensor{out.Narrow(0, 0, int(r)), row, out.Narrow(0, int(r)+1, out.Size(0)-int(r)-1)}, 0)
		}
		return one(out.Reshape(x.Shape()...))
	}
	hit := c.full(tensor.Float32, 0, flat.Size(0)).IndexAdd(0, rows, c.full(tensor.Float32, 1, rows.Numel())).GtScalar(0)
	for hit.Dim() < flat.Dim() {
		hit = hit.Unsqueeze(-1)
	}
	base := tensor.Where(hit, c.full(x.DType(), 0), flat)
	return one(base.IndexAdd(0, rows, u).Reshape(x.Shape()...))
}

func opOneHot(c *opCtx) []*tensor.Tensor {
	idx, depthT, values := c.x(0), c.x(1), c.x(2)
	depth := int(math.Round(depthT.Float64s()[0]))
	if depth < 0 {
		c.fail("depth %d", depth)
	}
	if values.Numel() != 2 {
		c.fail("values must hold [off, on]")
	}
	r := idx.Dim() + 1
	a := c.axis(c.int("axis", -1), r)
	ish := idx.Shape()
	osh := append(append(append([]int{}, ish[:a]...), depth), ish[a:]...)
	c.checkSize(osh)
	iv := idx.Float64s()
	// classes[..] = index, -1 when out of range.
	cls := make([]int64, len(iv))
	for i, v := range iv {
		k := int64(math.Trunc(v))
		if k < 0 {
			k += int64(depth)
		}
		if k < 0 || k >= int64(depth) {
			k = -1
		}
		cls[i] = k
	}
	ct := c.intTensor(cls, ish...).Unsqueeze(a)
	ar := make([]int64, depth)
	for i := range ar {
		ar[i] = int64(i)
	}
	ashape := make([]int, r)
	for i := range ashape {
		ashape[i] = 1
	}
	ashape[a] = depth
	hot := ct.Eq(c.intTensor(ar, ashape...))
	vv := values.Reshape(2)
	return one(tensor.Where(hot, vv.Select(0, 1), vv.Select(0, 0)))
}

func opCumSum(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	av := c.hostInts(c.x(1))
	if len(av) != 1 {
		c.fail("axis must be a scalar")
	}
	a := c.axis(av[0], x.Dim())
	rev := c.int("reverse", 0) == 1
	y := x
	if rev {
		y = y.Flip(a)
	}
	s := y.CumSum(a)
	if c.int("exclusive", 0) == 1 {
		s = s.Sub(y)
	}
	if rev {
		s = s.Flip(a)
	}
	return one(s.To(x.DType()))
}

// argOp is ArgMax or ArgMin, with select_last_index (opset 12).
func argOp(isMin bool) opFunc {
	return func(c *opCtx) []*tensor.Tensor {
		x := c.x(0)
		a := c.axis(c.int("axis", 0), max(x.Dim(), 1))
		last := c.int("select_last_index", 0) == 1
		y := x
		if x.Dim() == 0 {
			y = x.Reshape(1)
		}
		if last {
			y = y.Flip(a)
		}
		if y.DType() == tensor.Bool {
			y = y.To(tensor.Int32)
		}
		var idx *tensor.Tensor
		if isMin {
			idx = y.ArgMin(a)
		} else {
			idx = y.ArgMax(a)
		}
		if last {
			idx = idx.RSubScalar(float64(y.Size(a) - 1))
		}
		if c.int("keepdims", 1) == 1 {
			idx = idx.Unsqueeze(a)
		}
		return one(idx)
	}
}

// rowsAlong moves axis a of x last and returns its rows on the host with
// the permutation that undoes the move.
func rowsAlong(x *tensor.Tensor, a int) (vals []float64, n int, moved *tensor.Tensor, inv []int) {
	r := x.Dim()
	perm := make([]int, 0, r)
	for i := 0; i < r; i++ {
		if i != a {
			perm = append(perm, i)
		}
	}
	perm = append(perm, a)
	inv = make([]int, r)
	for i, p := range perm {
		inv[p] = i
	}
	moved = x.Permute(perm...)
	return moved.Contiguous().Float64s(), x.Size(a), moved, inv
}

// opTopK sorts on the host and gathers the values with Tapir, so that
// gradients flow to the selected elements. Equal values keep their index
// order.
func opTopK(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	var k int64
	if c.opset < 10 {
		k = c.int("k", 0)
	} else {
		kv := c.hostInts(c.x(1))
		if len(kv) != 1 {
			c.fail("K must hold one value")
		}
		k = kv[0]
	}
	a := c.axis(c.int("axis", -1), x.Dim())
	if k < 0 || k > int64(x.Size(a)) {
		c.fail("K = %d for a dim of size %d", k, x.Size(a))
	}
	largest := c.int("largest", 1) == 1
	vals, n, moved, inv := rowsAlong(x, a)
	rows := 0
	if n > 0 {
		rows = len(vals) / n
	}
	idx := make([]int64, rows*int(k))
	order := make([]int, n)
	for r := 0; r < rows; r++ {
		row := vals[r*n : (r+1)*n]
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool {
			vi, vj := row[order[i]], row[order[j]]
			if ni, nj := math.IsNaN(vi), math.IsNaN(vj); ni || nj {
				// NaN counts as the largest value.
				return ni && !nj && largest || !ni && nj && !largest
			}
			if largest {
				return vi > vj
			}
			return vi < vj
		})
		for j := 0; j < int(k); j++ {
			idx[r*int(k)+j] = int64(order[j])
		}
	}
	msh := moved.Shape()
	msh[len(msh)-1] = int(k)
	it := c.intTensor(idx, msh...)
	v := moved.Contiguous().Gather(len(msh)-1, it)
	return []*tensor.Tensor{v.Permute(inv...), it.Permute(inv...)}
}

func opNonZero(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	sh := x.Shape()
	v := x.Contiguous().Float64s()
	var coords [][]int64
	pos := make([]int, len(sh))
	for i, e := range v {
		rem := i
		for d := len(sh) - 1; d >= 0; d-- {
			pos[d] = rem % sh[d]
			rem /= sh[d]
		}
		if e != 0 {
			p := make([]int64, len(sh))
			for d := range sh {
				p[d] = int64(pos[d])
			}
			coords = append(coords, p)
		}
	}
	r := len(sh)
	out := make([]int64, r*len(coords))
	for j, p := range coords {
		for d := 0; d < r; d++ {
			out[d*len(coords)+j] = p[d]
		}
	}
	return one(c.intTensor(out, r, len(coords)))
}

func opCompress(c *opCtx) []*tensor.Tensor {
	x, cond := c.x(0), c.x(1)
	cv := cond.Float64s()
	if !c.has("axis") {
		x = x.Reshape(-1)
	}
	a := c.axis(c.int("axis", 0), x.Dim())
	var idx []int64
	for i, v := range cv {
		if v != 0 && i < x.Size(a) {
			idx = append(idx, int64(i))
		}
	}
	return one(x.IndexSelect(a, c.intTensor(idx)))
}

// opUnique finds the unique elements (or slices along axis) on the host.
func opUnique(c *opCtx) []*tensor.Tensor {
	x := c.x(0)
	sorted := c.int("sorted", 1) == 1
	var moved *tensor.Tensor
	var a int
	if c.has("axis") {
		a = c.axis(c.int("axis", 0), x.Dim())
		moved = x.Transpose(0, a)
	} else {
		moved = x.Reshape(-1)
	}
	n := moved.Size(0)
	sl := 1
	if n > 0 {
		sl = moved.Numel() / n
	}
	v := moved.Contiguous().Float64s()
	key := func(i int) []float64 { return v[i*sl : (i+1)*sl] }
	var firsts []int
	inverse := make([]int64, n)
	seen := map[string]int{}
	buf := make([]byte, 8*sl)
	for i := 0; i < n; i++ {
		for e, f := range key(i) {
			if f == 0 {
				f = 0 // −0 equals 0
			}
			binary.LittleEndian.PutUint64(buf[8*e:], math.Float64bits(f))
		}
		found, ok := seen[string(buf)]
		if !ok {
			found = len(firsts)
			seen[string(buf)] = found
			firsts = append(firsts, i)
		}
		inverse[i] = int64(found)
	}
	order := make([]int, len(firsts))
	for i := range order {
		order[i] = i
	}
	if sorted {
		sort.SliceStable(order, func(i, j int) bool {
			ki, kj := key(firsts[order[i]]), key(firsts[order[j]])
			for e := range ki {
				if ki[e] != kj[e] {
					return ki[e] < kj[e]
				}
			}
			return false
		})
	}
	rank := make([]int64, len(order))
	for newPos, u := range order {
		rank[u] = int64(newPos)
	}
	idx := make([]int64, len(order))
	counts := make([]int64, len(order))
	for newPos, u := range order {
		idx[newPos] = int64(firsts[u])
	}
	for i := range inverse {
		inverse[i] = rank[inverse[i]]
		counts[inverse[i]]++
	}
	y := moved.IndexSelect(0, c.intTensor(idx))
	if c.has("axis") {
		y = y.Transpose(0, a)
	}
	return []*tensor.Tensor{y, c.intTensor(idx), c.intTensor(inverse), c.intTensor(counts)}
}

func opReverseSequence(c *opCtx) []*tensor.Tensor {
	x, lens := c.x(0), c.hostInts(c.x(1))
	if x.Dim() < 2 {
		c.fail("input must have at least 2 dims")
	}
	ba := int(c.int("batch_axis", 1))
	ta := int(c.int("time_axis", 0))
	if !(ba == 0 && ta == 1 || ba == 1 && ta == 0) {
		c.fail("batch_axis %d and time_axis %d", ba, ta)
	}
	B, T := x.Size(ba), x.Size(ta)
	if len(lens) != B {
		c.fail("%d sequence lengths for a batch of %d", len(lens), B)
	}
	// index[b, t] along the time axis, broadcast over the other dims.
	sh := make([]int, x.Dim())
	for i := range sh {
		sh[i] = 1
	}
	sh[ba], sh[ta] = B, T
	idx := make([]int64, B*T)
	for b := 0; b < B; b++ {
		l := int(min(max(lens[b], 0), int64(T)))
		for t := 0; t < T; t++ {
			src := t
			if t < l {
				src = l - 1 - t
			}
			if ba == 0 {
				idx[b*T+t] = int64(src)
			} else {
				idx[t*B+b] = int64(src)
			}
		}
	}
	it := c.intTensor(idx, sh...).Expand(x.Shape()...)
	return one(x.Gather(ta, it))
}
