package tensor

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tapir-ml/tapir/backend"
)

// Node is one recorded op in the autograd graph: what ran (Op, Attrs),
// which tensors' gradients it feeds (Next), and what it saved for its
// backward. Tensors computed from tensors that require grad point to the
// Node that made them ([Tensor.GradFn]); leaves that require grad are fed
// by an accumulator Node whose Op is "AccumulateGrad".
type Node struct {
	op      opID
	used    uint8       // of inl.dims
	lastAt  uint8       // where in inl.dims the latest shape copy starts
	freed   atomic.Bool // saved tensors released by a backward pass
	attrs   any
	next    []edge
	inMeta  []meta
	outMeta []meta
	saved   []savedTensor
	seq     uint64
	custom  *customOp
	leaf    *Tensor // AccumulateGrad only

	mu   sync.Mutex
	more *nodeMore // rarely needed; guarded by mu once the node is published

	// inline backing for the slices above, so recording an op of up to
	// two inputs, one output and rank-4 shapes is one allocation. Equal
	// shapes share one copy (meta shapes are never written), so two
	// rank-4 shapes fit. The node stays small: every op that requires
	// grad allocates one, and on a tiny op the bytes allocated, which
	// set how often the GC runs, are most of the cost. Tensors saved for
	// backward live in a nodeSaving around the node (see record).
	inl struct {
		next [2]edge
		in   [2]meta
		out  [1]meta
		dims [2 * inlineDims]int // meta shapes
	}
}

// nodeSaving is a Node with room for the tensors its backward rule reads:
// one allocation for an op that saves up to two, without making the many
// ops that save none (Add, Sub, views…) pay for the room.
type nodeSaving struct {
	Node
	saved [2]savedTensor
}

// nodeMore holds what few nodes need.
type nodeMore struct {
	stack    []uintptr       // where the forward op ran (anomaly mode)
	retained map[int]*Tensor // outputs that asked RetainGrad
}

// forwardStack is where n's forward op ran, if anomaly mode recorded it.
func (n *Node) forwardStack() []uintptr {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.more == nil {
		return nil
	}
	return n.more.stack
}

// retainedOut is output i if it asked RetainGrad, else nil.
func (n *Node) retainedOut(i int) *Tensor {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.more == nil {
		return nil
	}
	return n.more.retained[i]
}

// edge says where a gradient goes: output idx of node (nil: nowhere).
type edge struct {
	node *Node
	idx  int
}

// meta is what backward needs to know of a tensor without keeping it.
type meta struct {
	shape   []int
	devIdx  int32 // the device, packed: Device is 16 bytes
	devType backend.DeviceType
	dtype   DType
}

// dev is the tensor's device.
func (m *meta) dev() Device { return Device{Type: m.devType, Index: int(m.devIdx)} }

// metaOf describes t, with a copy of its shape that n owns (t's own may
// live inside t, and the node must not keep t alive).
func (n *Node) metaOf(t *Tensor) meta {
	d := t.Device()
	if int(int32(d.Index)) != d.Index {
		panic("tensor: device index out of range")
	}
	return meta{shape: n.ownShape(t.shape), dtype: t.DType(), devType: d.Type, devIdx: int32(d.Index)}
}

// ownShape returns a copy of shape that n owns. Copies live in inl.dims
// while they fit; a shape equal to the latest copy there, or to the
// start of the first (an elementwise op's output and inputs mostly have
// one shape), reuses those elements, which is safe because nothing
// writes a meta's shape.
func (n *Node) ownShape(shape []int) []int {
	r := len(shape)
	u, at := int(n.used), int(n.lastAt)
	if u > 0 {
		if sameShape(n.inl.dims[at:u], shape) {
			return n.inl.dims[at:u:u]
		}
		if r <= u && sameShape(n.inl.dims[:r], shape) {
			return n.inl.dims[:r:r]
		}
	}
	if u+r > len(n.inl.dims) {
		return append([]int(nil), shape...)[:r:r] // append may round the capacity up
	}
	sh := n.inl.dims[u : u+r : u+r]
	copy(sh, shape)
	n.used, n.lastAt = uint8(u+r), uint8(u)
	return sh
}

// Edge is a Node's input as seen from outside: the Node that receives the
// gradient (nil for an input that does not require grad) and which of its
// outputs the input was.
type Edge struct {
	Node   *Node
	Output int
}

// Op is the forward op's name, e.g. "Mul" or "AccumulateGrad".
func (n *Node) Op() string {
	if n.custom != nil {
		return n.custom.name
	}
	return ops[n.op].name
}

// Name is PyTorch's name for the node, e.g. "MulBackward0".
func (n *Node) Name() string {
	if n.op == opAccumulate {
		return "AccumulateGrad"
	}
	if t := torchNames[n.op]; t != "" && n.custom == nil {
		return t
	}
	return n.Op() + "Backward0"
}

// Attrs are the op's non-tensor arguments (dims, scalars…); their type
// depends on the op.
func (n *Node) Attrs() any { return n.attrs }

// Next lists, for each input of the op, where its gradient goes.
func (n *Node) Next() []Edge {
	out := make([]Edge, len(n.next))
	for i, e := range n.next {
		out[i] = Edge{e.node, e.idx}
	}
	return out
}

// Variable is the leaf tensor an AccumulateGrad node feeds, else nil.
func (n *Node) Variable() *Tensor { return n.leaf }

// String prints the graph below n, one node per line, indented by depth.
func (n *Node) String() string {
	var b strings.Builder
	seen := map[*Node]bool{}
	var walk func(m *Node, depth int)
	walk = func(m *Node, depth int) {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(m.Name())
		if m.leaf != nil {
			fmt.Fprintf(&b, " %v", m.leaf.shape)
		}
		if seen[m] {
			b.WriteString(" (seen)\n")
			return
		}
		b.WriteString("\n")
		seen[m] = true
		for _, e := range m.next {
			if e.node != nil {
				walk(e.node, depth+1)
			}
		}
	}
	walk(n, 0)
	return b.String()
}

var nodeSeq atomic.Uint64

// RequiresGrad reports whether gradients flow to t: it is a leaf that
// asked for them, or was computed from one.
func (t *Tensor) RequiresGrad() bool { return t.requiresGrad || t.gradFn != nil }

// IsLeaf reports whether t was made by the user rather than recorded from
// an op on tensors that require grad.
func (t *Tensor) IsLeaf() bool { return t.gradFn == nil }

// GradFn is the node that computed t, or nil for a leaf.
func (t *Tensor) GradFn() *Node { return t.gradFn }

// SetRequiresGrad marks a leaf so gradients accumulate into it, and
// returns t. Only floating-point leaves can require grad; a non-leaf
// keeps what its graph says (use Detach to cut it).
func (t *Tensor) SetRequiresGrad(b bool) *Tensor {
	if t.gradFn != nil {
		if b {
			return t
		}
		fail("set_requires_grad", ErrAutograd, "a non-leaf tensor (computed by %s) cannot stop requiring grad; use Detach", t.gradFn.Name())
	}
	if b && !t.DType().IsFloat() {
		fail("set_requires_grad", ErrDType, "only floating-point tensors can require grad, not %v", t.DType())
	}
	t.requiresGrad = b
	return t
}

// Grad is the gradient accumulated into t by backward passes, or nil.
func (t *Tensor) Grad() *Tensor {
	if s := t.gs.Load(); s != nil {
		return s.grad.Load()
	}
	return nil
}

// SetGrad replaces the accumulated gradient (nil clears it).
func (t *Tensor) SetGrad(g *Tensor) {
	if g != nil && !sameShape(g.shape, t.shape) {
		fail("set_grad", ErrShape, "gradient of shape %v for a tensor of shape %v", g.shape, t.shape)
	}
	if g == nil {
		t.ZeroGrad()
		return
	}
	t.gradState().grad.Store(g)
}

// ZeroGrad clears the accumulated gradient, as torch's zero_grad(set_to_none=True).
func (t *Tensor) ZeroGrad() {
	if s := t.gs.Load(); s != nil {
		s.grad.Store(nil)
	}
}

// RetainGrad asks a non-leaf tensor to keep its gradient in Grad after
// backward; on a leaf it does nothing (leaves always keep theirs).
func (t *Tensor) RetainGrad() {
	if t.gradFn == nil {
		if !t.requiresGrad {
			fail("retain_grad", ErrAutograd, "the tensor does not require grad")
		}
		return
	}
	n := t.gradFn
	n.mu.Lock()
	if n.more == nil {
		n.more = &nodeMore{}
	}
	if n.more.retained == nil {
		n.more.retained = map[int]*Tensor{}
	}
	n.more.retained[t.outIdx] = t
	n.mu.Unlock()
}

// gradEdge is where t's gradient goes.
func (t *Tensor) gradEdge() edge {
	if t.gradFn != nil {
		return edge{t.gradFn, t.outIdx}
	}
	if t.requiresGrad {
		return edge{t.accumulator(), 0}
	}
	return edge{}
}

func (t *Tensor) accumulator() *Node {
	s := t.gradState()
	if n := s.acc.Load(); n != nil {
		return n
	}
	n := &Node{op: opAccumulate, leaf: t, seq: nodeSeq.Add(1)}
	m := n.metaOf(t)
	n.inl.in[0], n.inl.out[0] = m, m
	n.inMeta, n.outMeta = n.inl.in[:1:1], n.inl.out[:1:1]
	if s.acc.CompareAndSwap(nil, n) {
		return n
	}
	return s.acc.Load()
}

// needsGrad reports whether an op on ins must be recorded.
func needsGrad(ins ...*Tensor) bool {
	for _, t := range ins {
		if t != nil && t.RequiresGrad() {
			return GradEnabled()
		}
	}
	return false
}

// record attaches a new node for op to outs. saved are the tensors the
// backward rule reads, in the order it reads them (ctx.saved(i)).
func record(op opID, attrs any, ins, outs []*Tensor, saved ...*Tensor) *Node {
	for _, t := range ins {
		checkViewFresh(t)
	}
	var n *Node
	if k := len(saved); k > 0 && k <= len(nodeSaving{}.saved) {
		ns := new(nodeSaving)
		ns.Node.saved = ns.saved[:k:k]
		n = &ns.Node
	} else {
		n = new(Node)
		if k > 0 {
			n.saved = make([]savedTensor, k)
		}
	}
	n.op, n.attrs, n.seq = op, attrs, nodeSeq.Add(1)
	if len(ins) <= len(n.inl.next) {
		n.next, n.inMeta = n.inl.next[:len(ins):len(ins)], n.inl.in[:len(ins):len(ins)]
	} else {
		n.next, n.inMeta = make([]edge, len(ins)), make([]meta, len(ins))
	}
	for i, t := range ins {
		if t == nil {
			continue
		}
		n.inMeta[i] = n.metaOf(t)
		n.next[i] = t.gradEdge()
	}
	if len(outs) <= len(n.inl.out) {
		n.outMeta = n.inl.out[:len(outs):len(outs)]
	} else {
		n.outMeta = make([]meta, len(outs))
	}
	for i, o := range outs {
		n.outMeta[i] = n.metaOf(o)
		if o.DType().IsFloat() {
			o.gradFn, o.outIdx = n, i
		}
	}
	for i, s := range saved {
		n.saved[i] = save(s, n)
	}
	if anomaly.Load() {
		pc := make([]uintptr, 32)
		n.more = &nodeMore{stack: pc[:runtime.Callers(3, pc)]}
	}
	return n
}

// checkViewFresh refuses a view whose base has since been rebased by an
// in-place op that was recorded: the view's grad_fn would describe the
// old values while its data shows the new ones. (PyTorch regenerates the
// view's grad_fn; Tapir asks for the view to be taken again.)
func checkViewFresh(t *Tensor) {
	for v := t; v != nil && v.base != nil; v = v.base {
		if v.base.gradFn != v.baseFn {
			fail("autograd", ErrInPlace, "a view (shape %v) is used after its base (shape %v) was modified by a recorded in-place op; take the view again after the in-place op", t.shape, v.base.shape)
		}
	}
}

// savedTensor keeps a tensor for backward without keeping its place in
// the graph mutable: it remembers the version it was saved at, and the
// edge its gradient flowed through then.
type savedTensor struct {
	data    *Tensor // same storage and layout, no autograd state
	orig    *Tensor // the tensor itself when it was a leaf that requires grad
	gradFn  *Node
	outIdx  int
	version uint64
}

func save(t *Tensor, owner *Node) savedTensor {
	if t == nil {
		return savedTensor{}
	}
	s := savedTensor{data: t.Detach(), version: t.st.version.Load(), gradFn: t.gradFn, outIdx: t.outIdx}
	if t.gradFn == nil && t.requiresGrad {
		s.orig = t
	}
	return s
}

// unpack returns the saved tensor, attached to the graph when create is
// set (so the backward pass can itself be differentiated).
func (s *savedTensor) unpack(n *Node, create bool) *Tensor {
	if s.data == nil {
		return nil
	}
	if v := s.data.st.version.Load(); v != s.version {
		fail("backward", ErrInPlace, "a tensor of shape %v saved by %s was modified by an in-place operation (version %d, saved at %d); clone it before writing, or write it before using it", s.data.shape, n.Name(), v, s.version)
	}
	if !create {
		return s.data
	}
	if s.orig != nil {
		return s.orig
	}
	if s.gradFn == nil {
		return s.data
	}
	t := s.data.Detach()
	t.gradFn, t.outIdx = s.gradFn, s.outIdx
	return t
}
