package tensor

import (
	"fmt"
	"testing"
)

// A node keeps its inputs, outputs, shapes and saved tensors inline while
// they fit and in its nodeExt beyond: whichever way, what it reports must
// be what the tensors were when recorded. The oracle is the tensors
// themselves (their shapes, dtypes and grad edges), read before the node
// exists.
func TestNodeLayoutRecordsTensors(t *testing.T) {
	cases := []struct {
		ins, outs [][]int
		saved     int
	}{
		{[][]int{}, [][]int{{3}}, 0},
		{[][]int{{16}}, [][]int{{16}}, 0},
		{[][]int{{16}, {16}}, [][]int{{16}}, 2},
		{[][]int{{4, 16}, {16}}, [][]int{{4, 16}}, 1},
		{[][]int{{}, {}}, [][]int{{}}, 2},
		{[][]int{{0, 3}, {3}}, [][]int{{0, 3}}, 0},
		{[][]int{{2, 1, 3, 1}, {1, 4, 1, 5}}, [][]int{{2, 4, 3, 5}}, 2}, // the output's shape is far
		{[][]int{{1, 2, 3, 4, 5, 6, 7, 8, 9}}, [][]int{{9}}, 1},         // rank 9: far
		{[][]int{{2, 3}, {4, 3}, {4}}, [][]int{{2, 4}}, 3},              // three inputs, three saved: far
		{[][]int{{6, 2}}, [][]int{{2, 2}, {2, 2}, {2, 2}}, 0},           // three outputs: far
		{[][]int{{5}, {5}, {5}, {5}, {5}}, [][]int{{5}, {5}}, 5},
	}
	for _, c := range cases {
		for _, anom := range []bool{false, true} {
			name := fmt.Sprintf("%v→%v saved %d anomaly %v", c.ins, c.outs, c.saved, anom)
			ins := make([]*Tensor, len(c.ins))
			var wantNext []edge
			for i, s := range c.ins {
				ins[i] = Zeros(s...)
				if i%2 == 0 {
					ins[i].SetRequiresGrad(true)
				}
				if i == 2 {
					ins[i] = ins[i].To(Float64)
				}
				wantNext = append(wantNext, ins[i].gradEdge())
			}
			outs := make([]*Tensor, len(c.outs))
			for i, s := range c.outs {
				outs[i] = Zeros(s...)
			}
			SetAnomalyDetection(anom)
			n := record(opClone, nil, ins, outs, ins[:min(c.saved, len(ins))]...)
			SetAnomalyDetection(false)
			checkNodeMetas(t, name+" in", n, n.inMetas(), ins)
			checkNodeMetas(t, name+" out", n, n.outMetas(), outs)
			next := n.nexts()
			if len(next) != len(ins) {
				t.Fatalf("%s: %d edges for %d inputs", name, len(next), len(ins))
			}
			for i := range next {
				if next[i] != wantNext[i] {
					t.Errorf("%s: edge %d is %v, want %v", name, i, next[i], wantNext[i])
				}
			}
			for i, o := range outs {
				if o.gradFn != n || int(o.outIdx) != i {
					t.Errorf("%s: output %d not attached as output %d", name, i, i)
				}
			}
			sv := n.saves()
			if len(sv) != min(c.saved, len(ins)) {
				t.Fatalf("%s: %d saved, want %d", name, len(sv), c.saved)
			}
			for i := range sv {
				if sv[i].data.st != ins[i].st {
					t.Errorf("%s: saved %d is not input %d", name, i, i)
				}
			}
			if anom != (len(n.forwardStack()) > 0) {
				t.Errorf("%s: forward stack %v", name, n.forwardStack())
			}
			room := n.sv // the inline room stays alive with the node
			n.freeSaved()
			if len(n.saves()) != 0 || room != nil && (room[0].data != nil || room[1].data != nil) {
				t.Errorf("%s: saved tensors kept after freeSaved", name)
			}
		}
	}
}

func checkNodeMetas(t *testing.T, name string, n *Node, ms []meta, ts []*Tensor) {
	t.Helper()
	if len(ms) != len(ts) {
		t.Fatalf("%s: %d metas for %d tensors", name, len(ms), len(ts))
	}
	for i, x := range ts {
		m := &ms[i]
		sh := n.shapeOf(m)
		if !sameShape(sh, x.shape) || cap(sh) != len(sh) || m.dtype != x.DType() || m.dev() != x.Device() {
			t.Errorf("%s %d: meta %v %v %v, want %v %v %v", name, i, sh, m.dtype, m.dev(), x.shape, x.DType(), x.Device())
		}
		if len(sh) > 0 && len(x.shape) > 0 && &sh[0] == &x.shape[0] {
			t.Errorf("%s %d: meta shares the tensor's shape", name, i)
		}
	}
}

// Custom ops, retained outputs and leaves live in nodeExt; each is found
// again through the node.
func TestNodeExtFields(t *testing.T) {
	x := Randn(3).SetRequiresGrad(true)
	acc := x.gradEdge().node
	if acc.Variable() != x || acc.Name() != "AccumulateGrad" || len(acc.Next()) != 0 {
		t.Fatalf("accumulator: variable %p (want %p), %s, next %v", acc.Variable(), x, acc.Name(), acc.Next())
	}
	y := RecordFunction("Twice", []*Tensor{x}, []*Tensor{x.Detach().MulScalar(2)}, nil,
		func(_, g []*Tensor) []*Tensor { return []*Tensor{g[0].MulScalar(2)} })[0]
	if y.GradFn().Op() != "Twice" || y.GradFn().Name() != "TwiceBackward0" {
		t.Fatalf("custom node is %s / %s", y.GradFn().Op(), y.GradFn().Name())
	}
	z := y.MulScalar(3)
	y.RetainGrad()
	z.Sum().Backward()
	for i, v := range x.Grad().Float64s() {
		if v != 6 {
			t.Fatalf("x.grad[%d] = %v, want 6", i, v)
		}
	}
	for i, v := range y.Grad().Float64s() {
		if v != 3 {
			t.Fatalf("y.grad[%d] = %v, want 3", i, v)
		}
	}
	if x.gradEdge().node.Variable() != x || z.GradFn().Variable() != nil {
		t.Fatal("Variable is wrong after backward")
	}
}

// A node needs its nodeExt only when its shapes, inputs or outputs do not
// fit inline: shapes that ownShape shares (equal to the first or the
// latest) do not count twice, so a rank-4 elementwise op stays small.
func TestNodeNearWhenShared(t *testing.T) {
	cases := []struct {
		ins, outs [][]int
		far       bool
	}{
		{[][]int{{2, 3, 4, 5}, {2, 3, 4, 5}}, [][]int{{2, 3, 4, 5}}, false},
		{[][]int{{2, 3, 4, 5}, {1, 3, 1, 1}}, [][]int{{2, 3, 4, 5}}, false},
		{[][]int{{1, 3, 1, 1}, {2, 3, 4, 5}}, [][]int{{2, 3, 4, 5}}, false},
		{[][]int{{4, 5}, {5, 6}}, [][]int{{4, 6}}, false},
		{[][]int{{2, 4, 5}, {2, 5, 6}}, [][]int{{2, 4, 6}}, true},
		{[][]int{{16}}, [][]int{{16}, {16}}, true},
	}
	for _, c := range cases {
		ins := make([]*Tensor, len(c.ins))
		for i, s := range c.ins {
			ins[i] = Zeros(s...).SetRequiresGrad(true)
		}
		outs := make([]*Tensor, len(c.outs))
		for i, s := range c.outs {
			outs[i] = Zeros(s...)
		}
		n := record(opClone, nil, ins, outs)
		if far := n.ext.Load() != nil; far != c.far {
			t.Errorf("%v→%v: far %v, want %v", c.ins, c.outs, far, c.far)
		}
		checkNodeMetas(t, fmt.Sprint(c.ins, "in"), n, n.inMetas(), ins)
		checkNodeMetas(t, fmt.Sprint(c.outs, "out"), n, n.outMetas(), outs)
	}
}
