package tensor

import (
	"container/heap"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tapir-ml/tapir/backend"
)

// BackwardOptions tune RunBackward; the zero value is torch's default.
type BackwardOptions struct {
	// RetainGraph keeps saved tensors so the graph can be differentiated
	// again.
	RetainGraph bool
	// CreateGraph records the backward pass itself, so the gradients it
	// returns can be differentiated (gradients of gradients). It implies
	// RetainGraph.
	CreateGraph bool
	// AllowUnused returns nil for an input that the outputs do not depend
	// on, instead of panicking.
	AllowUnused bool
}

// Backward computes the gradient of a scalar t with respect to every leaf
// that requires grad, and accumulates it into their Grad.
func (t *Tensor) Backward() {
	if t.Numel() != 1 {
		fail("backward", ErrShape, "grad can be implicitly created only for scalar outputs, not shape %v; use BackwardWith", t.shape)
	}
	RunBackward([]*Tensor{t}, nil, nil, BackwardOptions{})
}

// BackwardWith is Backward for a non-scalar t: grad is the gradient of
// the final objective with respect to t (the vector of a vector–Jacobian
// product), of t's shape.
func (t *Tensor) BackwardWith(grad *Tensor) {
	RunBackward([]*Tensor{t}, []*Tensor{grad}, nil, BackwardOptions{})
}

// RunBackward is the engine behind Backward and autograd.Grad. It
// propagates grads (nil entries, or a nil slice, mean ones for one-element
// outputs) from outputs back through the graph. With inputs nil, the
// gradients accumulate into the Grad of every leaf reached; otherwise they
// are returned, one per input, and no leaf's Grad changes.
func RunBackward(outputs, grads, inputs []*Tensor, opt BackwardOptions) []*Tensor {
	if opt.CreateGraph {
		opt.RetainGraph = true
	}
	e := &engine{opt: opt, start: storageSerial.Load(), placed: map[*storage]int{}, pinned: map[*storage]bool{}}
	var out []*Tensor
	WithGradEnabled(opt.CreateGraph, func() { out = e.run(outputs, grads, inputs) })
	return out
}

type engine struct {
	opt     BackwardOptions
	start   uint64            // storage serial when the pass began
	placed  map[*storage]int  // how many buffer slots hold each gradient
	pinned  map[*storage]bool // gradients the caller can see (results, retained, leaf grads)
	useful  map[*Node]bool    // nodes that lead to a wanted gradient
	buffers map[*Node][]*Tensor
	deps    map[*Node]int
	capture map[edge][]int // inputs whose gradient is wanted: edge → input positions
	results []*Tensor
}

func (e *engine) run(outputs, grads, inputs []*Tensor) []*Tensor {
	if grads != nil && len(grads) != len(outputs) {
		fail("backward", ErrShape, "%d gradients for %d outputs", len(grads), len(outputs))
	}
	e.buffers = map[*Node][]*Tensor{}
	var roots []*Node
	for i, o := range outputs {
		if !o.RequiresGrad() {
			fail("backward", ErrAutograd, "output %d does not require grad and has no grad_fn", i)
		}
		var g *Tensor
		if grads != nil {
			g = grads[i]
		}
		if g == nil {
			if o.Numel() != 1 {
				fail("backward", ErrShape, "grad can be implicitly created only for scalar outputs, not shape %v", o.shape)
			}
			g = OnesLike(o)
		} else if !sameShape(g.shape, o.shape) {
			fail("backward", ErrShape, "gradient of shape %v for output %d of shape %v", g.shape, i, o.shape)
		}
		ed := o.gradEdge()
		e.add(ed, g)
		roots = append(roots, ed.node)
	}
	if inputs != nil {
		e.capture = map[edge][]int{}
		e.results = make([]*Tensor, len(inputs))
		for i, in := range inputs {
			if !in.RequiresGrad() {
				fail("grad", ErrAutograd, "input %d does not require grad", i)
			}
			ed := in.gradEdge()
			e.capture[ed] = append(e.capture[ed], i)
		}
	}
	e.countDeps(roots)
	ready := &nodeHeap{}
	for _, r := range roots {
		if e.deps[r] == 0 && !ready.has(r) {
			heap.Push(ready, r)
		}
	}
	for ready.Len() > 0 {
		n := heap.Pop(ready).(*Node)
		e.execute(n, func(next *Node) {
			e.deps[next]--
			if e.deps[next] == 0 {
				heap.Push(ready, next)
			}
		})
	}
	if inputs != nil {
		for i, r := range e.results {
			if r == nil && !e.opt.AllowUnused {
				fail("grad", ErrAutograd, "input %d (shape %v) was not used to compute the outputs; set AllowUnused", i, inputs[i].shape)
			}
		}
	}
	return e.results
}

// countDeps counts, for every node reachable from roots, how many edges
// lead into it, and prunes nodes that lead to no wanted input.
func (e *engine) countDeps(roots []*Node) {
	e.deps = map[*Node]int{}
	useful := map[*Node]bool{}
	var visit func(n *Node) bool
	seen := map[*Node]bool{}
	visit = func(n *Node) bool {
		if seen[n] {
			return useful[n]
		}
		seen[n] = true
		u := e.capture == nil && n.op == opAccumulate
		if e.capture != nil {
			for i := range n.outMetas() {
				if _, ok := e.capture[edge{n, i}]; ok {
					u = true
				}
			}
		}
		for _, ed := range n.nexts() {
			if ed.node != nil && visit(ed.node) {
				u = true
			}
		}
		useful[n] = u
		return u
	}
	for _, r := range roots {
		visit(r)
	}
	e.useful = useful
	for n := range seen {
		if !useful[n] {
			continue
		}
		for _, ed := range n.nexts() {
			if ed.node != nil && useful[ed.node] {
				e.deps[ed.node]++
			}
		}
	}
	for n := range seen {
		if !useful[n] {
			e.deps[n] = -1 << 30 // never becomes ready
		}
	}
}

// owned reports whether g's buffer belongs to this pass alone, so it can
// be updated in place, handed to a leaf, or released.
func (e *engine) owned(g *Tensor) bool {
	return !e.opt.CreateGraph && g.st.serial > e.start && atomic.LoadInt32(&g.st.views) == 1 &&
		e.placed[g.st] <= 1 && !e.pinned[g.st]
}

// add accumulates gradient g into the buffer for edge ed.
func (e *engine) add(ed edge, g *Tensor) {
	if ed.node == nil || g == nil {
		return
	}
	outs := ed.node.outMetas()
	m := outs[ed.idx]
	if ms := ed.node.shapeOf(&m); !sameShape(g.shape, ms) {
		panic(fmt.Sprintf("tensor: backward: internal error: gradient of shape %v for an output of shape %v of %s", g.shape, ms, ed.node.Name()))
	}
	buf := e.buffers[ed.node]
	if buf == nil {
		buf = make([]*Tensor, len(outs))
		e.buffers[ed.node] = buf
	}
	old := buf[ed.idx]
	switch {
	case old == nil:
		buf[ed.idx] = g
		e.placed[g.st]++
	case e.owned(old) && old.IsContiguous() && old.DType() == g.DType():
		addInto(old, g)
	default:
		sum := old.Add(g)
		e.drop(old)
		buf[ed.idx] = sum
		e.placed[sum.st]++
	}
}

// drop takes g out of a buffer slot, and releases its memory when the
// pass owned it and nothing else holds it.
func (e *engine) drop(g *Tensor) {
	if g == nil {
		return
	}
	e.placed[g.st]--
	if e.placed[g.st] <= 0 {
		delete(e.placed, g.st)
		if e.owned(g) && g.st.h != nil {
			g.st.h.release()
		}
	}
}

func (e *engine) execute(n *Node, done func(*Node)) {
	gs := e.buffers[n]
	delete(e.buffers, n)
	if gs == nil {
		gs = make([]*Tensor, len(n.outMetas()))
	}
	// hand out captured and retained gradients
	for i, g := range gs {
		if g == nil {
			continue
		}
		if pos, ok := e.capture[edge{n, i}]; ok {
			for _, p := range pos {
				e.results[p] = g
			}
			e.pinned[g.st] = true
		}
		r := n.retainedOut(i)
		if r != nil {
			if e.opt.CreateGraph {
				r.gradState().grad.Store(g)
			} else {
				r.gradState().grad.Store(g.Detach())
			}
			e.pinned[g.st] = true
		}
	}
	if n.op == opAccumulate {
		if e.capture == nil && gs[0] != nil {
			e.accumulate(n, gs[0])
		}
		return
	}
	if n.freed.Load() {
		fail("backward", ErrAutograd, "trying to backward through %s a second time after its saved tensors were freed; set RetainGraph on the first backward", n.Name())
	}
	// a node with several outputs gets zeros for those without a gradient
	have := false
	for i, g := range gs {
		if g != nil {
			have = true
		} else if len(gs) > 1 {
			m := n.outMetas()[i]
			gs[i] = zerosOf(m.dtype, m.dev(), n.shapeOf(&m))
		}
	}
	// the rule runs only if some input leads somewhere wanted
	run := false
	next := n.nexts()
	for _, ed := range next {
		if ed.node != nil && e.useful[ed.node] {
			run = true
		}
	}
	var ins []*Tensor
	var dead [4]bool // gs[i] is this pass's alone and the rule kept none of it
	if have && run {
		// A gradient this pass owns is dropped once the rule has run, so
		// it leaves its storage's count of tensors: a view the rule made
		// of it (a transpose's or reshape's gradient) is then the only
		// holder, and can still be handed to a leaf or released. Only
		// the built-in rules are known to keep nothing of their inputs.
		if n.customOp() == nil && len(gs) <= len(dead) {
			for i, g := range gs {
				dead[i] = g != nil && e.owned(g)
			}
		}
		ins = e.apply(n, gs)
		for i, g := range gs {
			if i < len(dead) && slices.Contains(ins, g) {
				dead[i] = false
			}
		}
	}
	// the node's buffer is consumed: its gradients leave their slots
	// before the rule's results take new ones
	for _, g := range gs {
		if g != nil {
			e.placed[g.st]--
		}
	}
	for i, ed := range next {
		if ed.node == nil {
			continue
		}
		if i < len(ins) && ins[i] != nil {
			g := ins[i]
			if want := n.inMetas()[i].dtype; g.DType() != want && want.IsFloat() {
				g = g.To(want)
			}
			e.add(ed, g)
		}
		if e.deps[ed.node] >= 0 {
			done(ed.node)
		}
	}
	// free what this node consumed
	if !e.opt.RetainGraph {
		n.freeSaved()
		n.freed.Store(true)
	}
	for _, g := range gs {
		if g == nil || e.placed[g.st] > 0 {
			continue // passed on to an input: still in use
		}
		delete(e.placed, g.st)
		if e.owned(g) && g.st.h != nil {
			g.st.h.release()
		}
	}
	for i, g := range gs {
		if i < len(dead) && dead[i] {
			atomic.AddInt32(&g.st.views, -1)
		}
	}
}

func (e *engine) apply(n *Node, gs []*Tensor) []*Tensor {
	var ins []*Tensor
	if c := n.customOp(); c != nil {
		ins = c.backwardFor(n, gs, e.opt.CreateGraph)
	} else {
		ins = ops[n.op].grad(&gradCtx{n: n, create: e.opt.CreateGraph, e: e}, gs)
	}
	inMeta := n.inMetas()
	if len(ins) > len(inMeta) {
		fail("backward", ErrAutograd, "%s returned %d gradients for %d inputs", n.Name(), len(ins), len(inMeta))
	}
	for i, g := range ins {
		if g == nil || i >= len(inMeta) {
			continue
		}
		if ms := n.shapeOf(&inMeta[i]); !sameShape(g.shape, ms) {
			fail("backward", ErrShape, "%s returned a gradient of shape %v for input %d of shape %v", n.Name(), g.shape, i, ms)
		}
		if anomaly.Load() && g.DType().IsFloat() {
			for _, v := range g.Float64s() {
				if !isFinite(v) {
					fail("backward", ErrAnomaly, "%s returned %v in its gradient for input %d; the forward op ran at:\n%s", n.Name(), v, i, formatStack(n.forwardStack()))
				}
			}
		}
	}
	return ins
}

// leafCopies counts the gradients accumulate had to copy to give a leaf
// its first Grad (the pass did not own them); tests read it.
var leafCopies atomic.Int64

// accumulate adds g into a leaf's Grad.
func (e *engine) accumulate(n *Node, g *Tensor) {
	x := n.ext.Load()
	leaf := x.leaf
	x.mu.Lock()
	defer x.mu.Unlock()
	if g.DType() != leaf.DType() {
		g = g.To(leaf.DType())
	}
	lg := &leaf.gradState().grad
	old := lg.Load()
	switch {
	case old == nil && e.owned(g) && g.IsContiguous():
		lg.Store(g)
		e.pinned[g.st] = true
	case old == nil:
		c := g.Contiguous()
		if c == g {
			c = g.Clone()
		}
		leafCopies.Add(1)
		lg.Store(c)
	case e.opt.CreateGraph || old.RequiresGrad():
		lg.Store(old.Add(g))
	default:
		addInto(old, g)
	}
}

// addInto adds g into dst's own storage (same dtype and shape), straight
// through the kernel: the engine knows dst is not saved by any graph, so
// it skips AddIn's grad-mode and promotion checks on this per-step path.
func addInto(dst, g *Tensor) {
	dst.be().Binary(backend.Add, dst.view(), dst.view(), g.view())
	dst.st.version.Add(1)
	runtime.KeepAlive(g)
}

func formatStack(pc []uintptr) string {
	if len(pc) == 0 {
		return "  (no stack recorded: the op ran before anomaly detection was on)"
	}
	var b strings.Builder
	frames := runtime.CallersFrames(pc)
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			fmt.Fprintf(&b, "  %s\n      %s:%d\n", f.Function, f.File, f.Line)
		}
		if !more {
			break
		}
	}
	return b.String()
}

// nodeHeap pops the most recently recorded node first, so a node runs
// only after everything recorded after it that feeds it (as torch's
// engine orders by sequence number).
type nodeHeap []*Node

func (h nodeHeap) Len() int           { return len(h) }
func (h nodeHeap) Less(i, j int) bool { return h[i].seq > h[j].seq }
func (h nodeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nodeHeap) Push(x any)        { *h = append(*h, x.(*Node)) }
func (h *nodeHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	*h = old[:len(old)-1]
	return n
}
func (h nodeHeap) has(n *Node) bool {
	for _, m := range h {
		if m == n {
			return true
		}
	}
	return false
}
