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
//
// Every op that requires grad allocates one, and on a tiny op the bytes
// allocated, which set how often the GC runs, are most of the cost: so
// the node keeps counts instead of slices, and what few nodes need (a
// custom op, a leaf, more inputs or outputs than fit inline, anomaly
// stacks, retained outputs) lives behind one pointer (nodeExt).
type Node struct {
	op     opID
	nIn    uint8 // inputs inline (inlNext and inlIn), or farCount: in ext
	nOut   uint8 // outputs in inlOut, or farCount: in ext
	nSaved uint8 // of *sv
	used   uint8 // of inlDims
	lastAt uint8 // where in inlDims the latest shape copy starts
	attrs  any
	seq    uint64
	// sv is the room for saved tensors in the nodeSaving or nodeFar
	// around the node; nil when there is none, or the node saves more
	// than fit (then they are in ext).
	sv  *[2]savedTensor
	ext atomic.Pointer[nodeExt] // set before the node is published, except by RetainGrad

	// inline backing, so recording an op of up to two inputs, one output
	// and rank-4 shapes is one allocation. Equal shapes share one copy
	// (meta shapes are never written), so two rank-4 shapes fit.
	inlNext [2]edge
	inlIn   [2]meta
	inlOut  [1]meta
	freed   atomic.Bool         // saved tensors released by a backward pass; here it fills the metas' padding
	inlDims [2 * inlineDims]int // meta shapes
}

// farCount in Node.nIn or nOut says the edges or metas live in ext.
const farCount = 255

// nodeSaving is a Node with room for the tensors its backward rule reads:
// one allocation for an op that saves up to two, without making the many
// ops that save none (Add, Sub, views…) pay for the room.
type nodeSaving struct {
	Node
	saved [2]savedTensor
}

// nodeFar is a node that needs its nodeExt from the start, in the same
// allocation, with room for two saved tensors.
type nodeFar struct {
	Node
	x     nodeExt
	saved [2]savedTensor
}

// nodeExt holds what few nodes need. Fields above mu are written only
// before the node is published.
type nodeExt struct {
	custom  customOp // the user-defined op of an opCustom node
	leaf    *Tensor  // AccumulateGrad only
	next    []edge   // when more than fit inline
	in, out []meta
	dims    []int // meta shapes that did not fit in inlDims, each after its rank
	saved   []savedTensor
	stack   []uintptr // where the forward op ran (anomaly mode)

	mu       sync.Mutex      // guards retained, and an accumulator's leaf grad
	retained map[int]*Tensor // outputs that asked RetainGrad
}

// extra returns n's nodeExt, making it on first use.
func (n *Node) extra() *nodeExt {
	if x := n.ext.Load(); x != nil {
		return x
	}
	x := new(nodeExt)
	if n.ext.CompareAndSwap(nil, x) {
		return x
	}
	return n.ext.Load()
}

// nexts is, for each input, where its gradient goes.
func (n *Node) nexts() []edge {
	if n.nIn == farCount {
		return n.ext.Load().next
	}
	return n.inlNext[:n.nIn:n.nIn]
}

// inMetas describes the inputs.
func (n *Node) inMetas() []meta {
	if n.nIn == farCount {
		return n.ext.Load().in
	}
	return n.inlIn[:n.nIn:n.nIn]
}

// outMetas describes the outputs.
func (n *Node) outMetas() []meta {
	if n.nOut == farCount {
		return n.ext.Load().out
	}
	return n.inlOut[:n.nOut:n.nOut]
}

// saves are the tensors the backward rule reads.
func (n *Node) saves() []savedTensor {
	if n.sv != nil {
		return n.sv[:n.nSaved:n.nSaved]
	}
	if x := n.ext.Load(); x != nil {
		return x.saved
	}
	return nil
}

// freeSaved drops the saved tensors (the room may be inline in n, which
// the graph keeps alive).
func (n *Node) freeSaved() {
	if n.sv != nil {
		clear(n.sv[:])
		n.sv = nil
	}
	if x := n.ext.Load(); x != nil && x.saved != nil {
		clear(x.saved)
		x.saved = nil
	}
}

// customOp is the user-defined op n records, or nil.
func (n *Node) customOp() *customOp {
	if n.op != opCustom {
		return nil
	}
	return &n.ext.Load().custom
}

// forwardStack is where n's forward op ran, if anomaly mode recorded it.
func (n *Node) forwardStack() []uintptr {
	if x := n.ext.Load(); x != nil {
		return x.stack
	}
	return nil
}

// retainedOut is output i if it asked RetainGrad, else nil.
func (n *Node) retainedOut(i int) *Tensor {
	x := n.ext.Load()
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.retained[i]
}

// edge says where a gradient goes: output idx of node (nil: nowhere).
type edge struct {
	node *Node
	idx  int
}

// meta is what backward needs to know of a tensor without keeping it.
// Its shape is a copy the node owns (see shapeOf): inlDims[at:at+rank],
// or when far the ext.dims after ext.dims[at], which holds the rank. A
// slice would be 24 bytes of the 12.
type meta struct {
	at      uint32
	rank    uint8
	far     bool
	dtype   DType
	devType backend.DeviceType
	devIdx  int32 // the device, packed: Device is 16 bytes
}

// dev is the tensor's device.
func (m *meta) dev() Device { return Device{Type: m.devType, Index: int(m.devIdx)} }

// shapeOf is m's shape; callers must not write it.
func (n *Node) shapeOf(m *meta) []int {
	if m.far {
		d := n.ext.Load().dims
		end := int(m.at) + 1 + d[m.at]
		return d[m.at+1 : end : end]
	}
	end := int(m.at) + int(m.rank)
	return n.inlDims[m.at:end:end]
}

// setMeta describes t in *m, with a copy of its shape that n owns (t's
// own may live inside t, and the node must not keep t alive). It writes
// in place: returning the 12-byte meta by value made the copy read back
// its fresh byte-wide stores, a store-forwarding stall costing about 5%
// of a tiny recorded op.
func (n *Node) setMeta(m *meta, t *Tensor) {
	d := t.Device()
	if int(int32(d.Index)) != d.Index {
		panic("tensor: device index out of range")
	}
	*m = meta{dtype: t.DType(), devType: d.Type, devIdx: int32(d.Index)}
	n.ownShape(m, t.shape)
}

// ownShape points m at a copy of shape that n owns. Copies live in
// inlDims while they fit; a shape equal to the latest copy there, or to
// the start of the first (an elementwise op's output and inputs mostly
// have one shape), reuses those elements, which is safe because nothing
// writes a meta's shape. Others go to ext.dims.
func (n *Node) ownShape(m *meta, shape []int) {
	r := len(shape)
	u, at := int(n.used), int(n.lastAt)
	switch {
	case u > 0 && sameShape(n.inlDims[at:u], shape):
		m.at, m.rank = uint32(at), uint8(r)
	case r <= u && sameShape(n.inlDims[:r], shape):
		m.at, m.rank = 0, uint8(r)
	case u+r <= len(n.inlDims):
		copy(n.inlDims[u:u+r], shape)
		n.used, n.lastAt = uint8(u+r), uint8(u)
		m.at, m.rank = uint32(u), uint8(r)
	default:
		x := n.extra()
		m.at, m.far = uint32(len(x.dims)), true
		x.dims = append(append(x.dims, r), shape...)
	}
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
	if c := n.customOp(); c != nil {
		return c.name
	}
	return ops[n.op].name
}

// Name is PyTorch's name for the node, e.g. "MulBackward0".
func (n *Node) Name() string {
	if n.op == opAccumulate {
		return "AccumulateGrad"
	}
	if t := torchNames[n.op]; t != "" && n.customOp() == nil {
		return t
	}
	return n.Op() + "Backward0"
}

// Attrs are the op's non-tensor arguments (dims, scalars…); their type
// depends on the op.
func (n *Node) Attrs() any { return n.attrs }

// Next lists, for each input of the op, where its gradient goes.
func (n *Node) Next() []Edge {
	next := n.nexts()
	out := make([]Edge, len(next))
	for i, e := range next {
		out[i] = Edge{e.node, e.idx}
	}
	return out
}

// Variable is the leaf tensor an AccumulateGrad node feeds, else nil.
func (n *Node) Variable() *Tensor {
	if n.op != opAccumulate {
		return nil
	}
	return n.ext.Load().leaf
}

// String prints the graph below n, one node per line, indented by depth.
func (n *Node) String() string {
	var b strings.Builder
	seen := map[*Node]bool{}
	var walk func(m *Node, depth int)
	walk = func(m *Node, depth int) {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(m.Name())
		if l := m.Variable(); l != nil {
			fmt.Fprintf(&b, " %v", l.shape)
		}
		if seen[m] {
			b.WriteString(" (seen)\n")
			return
		}
		b.WriteString("\n")
		seen[m] = true
		for _, e := range m.nexts() {
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
	x := t.gradFn.extra()
	x.mu.Lock()
	if x.retained == nil {
		x.retained = map[int]*Tensor{}
	}
	x.retained[int(t.outIdx)] = t
	x.mu.Unlock()
}

// gradEdge is where t's gradient goes.
func (t *Tensor) gradEdge() edge {
	if t.gradFn != nil {
		return edge{t.gradFn, int(t.outIdx)}
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
	nf := &nodeFar{Node: Node{op: opAccumulate, seq: nodeSeq.Add(1), nOut: 1}}
	nf.x.leaf = t
	n := &nf.Node
	n.ext.Store(&nf.x)
	n.setMeta(&n.inlOut[0], t)
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
	return recordNode(nodeRoom{}, false, 4, op, attrs, ins, outs, saved)
}

// recordIn is record for an op whose one output came from emptyFor with
// room for its node (pre, in the output's object; the zero nodeRoom when
// there is none).
func recordIn(pre nodeRoom, op opID, attrs any, ins, outs []*Tensor, saved ...*Tensor) *Node {
	return recordNode(pre, false, 4, op, attrs, ins, outs, saved)
}

// recordNode is record; pre, when not the zero nodeRoom, is room for
// the node that recordNode uses unless the node must be far or saves
// more than the room holds; far asks for the node's nodeExt in the same
// allocation (a custom op's node needs it), and skip is the frames above
// the op's caller (for runtime.Callers) that anomaly mode leaves out.
func recordNode(pre nodeRoom, far bool, skip int, op opID, attrs any, ins, outs, saved []*Tensor) *Node {
	for _, t := range ins {
		checkViewFresh(t)
	}
	far = far || len(ins) > len(n0.inlNext) || len(outs) > len(n0.inlOut) ||
		anomaly.Load() || shapeDims(ins, outs) > len(n0.inlDims)
	var n *Node
	if k := len(saved); pre.n != nil && !far && (k == 0 || pre.sv != nil && k <= len(pre.sv)) {
		n = pre.n
		if k > 0 {
			n.sv, n.nSaved = pre.sv, uint8(k)
		}
	} else {
		n = newNode(len(saved), far)
	}
	n.op, n.attrs, n.seq = op, attrs, nodeSeq.Add(1)
	next, inMeta := n.inlNext[:], n.inlIn[:]
	if len(ins) <= len(next) {
		n.nIn = uint8(len(ins))
	} else {
		x := n.extra()
		x.next, x.in = make([]edge, len(ins)), make([]meta, len(ins))
		next, inMeta, n.nIn = x.next, x.in, farCount
	}
	for i, t := range ins {
		if t == nil {
			continue
		}
		n.setMeta(&inMeta[i], t)
		next[i] = t.gradEdge()
	}
	outMeta := n.inlOut[:]
	if len(outs) <= len(outMeta) {
		n.nOut = uint8(len(outs))
	} else {
		x := n.extra()
		x.out = make([]meta, len(outs))
		outMeta, n.nOut = x.out, farCount
	}
	for i, o := range outs {
		n.setMeta(&outMeta[i], o)
		if o.DType().IsFloat() {
			o.gradFn, o.outIdx = n, int32(i)
		}
	}
	sv := n.saves()
	for i, s := range saved {
		sv[i] = save(s, n)
	}
	if anomaly.Load() {
		pc := make([]uintptr, 32)
		n.extra().stack = pc[:runtime.Callers(skip, pc)]
	}
	return n
}

// n0 is a Node to take sizes from.
var n0 Node

// shapeDims bounds the inline dims that ownShape will use for the
// shapes of ins and outs: it shares a shape equal to the first or to the
// latest copied, and possibly more. Beyond inlDims the node is far.
func shapeDims(ins, outs []*Tensor) int {
	r := 0
	for _, ts := range [2][]*Tensor{ins, outs} {
		for _, t := range ts {
			if t != nil {
				r += len(t.shape)
			}
		}
	}
	if r <= len(n0.inlDims) {
		return r // fits without sharing: the common tiny op stops here
	}
	var first, last []int
	r = 0
	for _, ts := range [2][]*Tensor{ins, outs} {
		for _, t := range ts {
			switch {
			case t == nil:
			case first == nil:
				first, last, r = t.shape, t.shape, len(t.shape)
			case !sameShape(t.shape, last) && !sameShape(t.shape, first):
				last, r = t.shape, r+len(t.shape)
			}
		}
	}
	return r
}

// newNode allocates a node with room for k saved tensors, and with its
// nodeExt when far: inline for up to two, so such an op is still one
// allocation.
func newNode(k int, far bool) *Node {
	var n *Node
	var room *[2]savedTensor
	switch {
	case far || k > len(room):
		nf := new(nodeFar)
		nf.ext.Store(&nf.x)
		n, room = &nf.Node, &nf.saved
	case k == 0:
		return new(Node)
	case k <= len(room):
		ns := new(nodeSaving)
		n, room = &ns.Node, &ns.saved
	}
	if k <= len(room) {
		n.sv, n.nSaved = room, uint8(k)
	} else {
		n.extra().saved = make([]savedTensor, k)
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
	s := savedTensor{data: t.Detach(), version: t.st.version.Load(), gradFn: t.gradFn, outIdx: int(t.outIdx)}
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
	t.gradFn, t.outIdx = s.gradFn, int32(s.outIdx)
	return t
}
