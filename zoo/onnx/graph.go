package onnx

import (
	"container/heap"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/onnx/internal/onnxpb"
)

// graph is a checked, topologically ordered ONNX graph.
type graph struct {
	name    string
	inputs  []ValueInfo // inputs Run needs (no initializer)
	outputs []ValueInfo
	// optional are inputs that an initializer backs: a caller may override
	// them.
	optional map[string]bool
	nodes    []*node
	// fixed holds the values known before the graph runs: initializers
	// and the outputs of Constant nodes.
	fixed map[string]fixedValue
	// lastUse is, for each value a node reads, the index of the last node
	// that reads it; Run drops the value after that node unless it is a
	// graph output.
	lastUse map[string]int
	// free lists the names the graph reads from enclosing graphs
	// (subgraphs only).
	free []string
}

type namedTensor struct {
	name string
	t    *tensor.Tensor
}

// fixedValue is a value known before the graph runs.
type fixedValue struct {
	p *nn.Parameter
	b *nn.Buffer
	c *tensor.Tensor
}

func (f fixedValue) tensor() *tensor.Tensor {
	switch {
	case f.p != nil:
		return f.p.Tensor
	case f.b != nil:
		return f.b.Tensor
	}
	return f.c
}

// node is one operator application.
type node struct {
	index   int // position in the file's node list
	name    string
	op      string
	domain  string
	inputs  []string // "" marks an absent optional input
	outputs []string
	attrs   map[string]*onnxpb.AttributeProto
	fn      opFunc
	// subgraphs holds the graph attributes, built.
	subgraphs map[string]*graph
}

// String names the node for errors: `node 3 "Conv_0" (Conv)`.
func (n *node) String() string {
	op := n.op
	if n.domain != "" && n.domain != "ai.onnx" {
		op = n.domain + "." + op
	}
	if n.name == "" {
		return fmt.Sprintf("node %d (%s)", n.index, op)
	}
	return fmt.Sprintf("node %d %q (%s)", n.index, n.name, op)
}

func (g *graph) isInput(name string) bool {
	if g.optional[name] {
		return true
	}
	for _, in := range g.inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

func (g *graph) inputNames() []string {
	var out []string
	for _, in := range g.inputs {
		out = append(out, in.Name)
	}
	return out
}

// builder turns protos into graphs.
type builder struct {
	m        *Model
	maxNodes int
	nodes    int
}

// valueInfo converts a ValueInfoProto.
func valueInfo(vi *onnxpb.ValueInfoProto) (ValueInfo, error) {
	v := ValueInfo{Name: vi.GetName()}
	tt := vi.GetType().GetTensorType()
	if tt == nil {
		if vi.GetType() != nil && vi.GetType().GetValue() != nil {
			return v, fmt.Errorf("value %q: only tensor values are supported, not %T", v.Name, vi.GetType().GetValue())
		}
		return v, nil
	}
	if et := tt.GetElemType(); et != tUndefined {
		dt, err := dtypeOf(et)
		if err != nil {
			return v, fmt.Errorf("value %q: %w", v.Name, err)
		}
		v.DType, v.ElemType = dt, typeName(et)
	}
	if sh := tt.GetShape(); sh != nil {
		if len(sh.GetDim()) > maxRank {
			return v, fmt.Errorf("value %q: %d dims (at most %d)", v.Name, len(sh.GetDim()), maxRank)
		}
		v.Shape = make([]int, len(sh.GetDim()))
		v.DimNames = make([]string, len(sh.GetDim()))
		for i, d := range sh.GetDim() {
			v.Shape[i] = -1
			if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok && d.GetDimValue() >= 0 && d.GetDimValue() < 1<<40 {
				v.Shape[i] = int(d.GetDimValue())
			}
			v.DimNames[i] = d.GetDimParam()
		}
	}
	return v, nil
}

// graph builds gp. outer lists the names visible from enclosing graphs
// (nil for the main graph, whose initializers become the model's
// parameters and buffers).
func (b *builder) graph(gp *onnxpb.GraphProto, outer map[string]bool, main bool) (*graph, error) {
	g := &graph{
		name:     gp.GetName(),
		optional: map[string]bool{},
		fixed:    map[string]fixedValue{},
		lastUse:  map[string]int{},
	}
	where := "graph"
	if !main {
		where = fmt.Sprintf("subgraph %q", g.name)
	}
	known := map[string]bool{} // names defined in this graph
	var inits []namedTensor
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("onnx: %s: sparse initializers are not supported", where)
	}
	for _, ip := range gp.GetInitializer() {
		name := ip.GetName()
		if name == "" {
			return nil, fmt.Errorf("onnx: %s: an initializer has no name", where)
		}
		if known[name] {
			return nil, fmt.Errorf("onnx: %s: initializer %q is defined twice", where, name)
		}
		t, err := tensorFromProto(ip)
		if err != nil {
			return nil, fmt.Errorf("onnx: %s: initializer: %w", where, err)
		}
		// Drop the proto's copy of the data: the tensor holds it now.
		ip.RawData, ip.FloatData, ip.DoubleData, ip.Int32Data, ip.Int64Data, ip.Uint64Data = nil, nil, nil, nil, nil, nil
		known[name] = true
		inits = append(inits, namedTensor{name, t})
		g.fixed[name] = fixedValue{c: t}
	}
	for _, vp := range gp.GetInput() {
		vi, err := valueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("onnx: %s: input: %w", where, err)
		}
		if vi.Name == "" {
			return nil, fmt.Errorf("onnx: %s: an input has no name", where)
		}
		if _, ok := g.fixed[vi.Name]; ok {
			g.optional[vi.Name] = true
			continue
		}
		if known[vi.Name] {
			return nil, fmt.Errorf("onnx: %s: input %q is declared twice", where, vi.Name)
		}
		known[vi.Name] = true
		g.inputs = append(g.inputs, vi)
	}
	for _, vp := range gp.GetOutput() {
		vi, err := valueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("onnx: %s: output: %w", where, err)
		}
		if vi.Name == "" {
			return nil, fmt.Errorf("onnx: %s: an output has no name", where)
		}
		g.outputs = append(g.outputs, vi)
	}

	// Nodes: check each, build subgraphs, and collect what each reads.
	nodes := make([]*node, 0, len(gp.GetNode()))
	producer := map[string]int{} // value name → index in nodes
	for i, np := range gp.GetNode() {
		b.nodes++
		if b.nodes > b.maxNodes {
			return nil, fmt.Errorf("onnx: more than %d nodes", b.maxNodes)
		}
		n := &node{
			index:   i,
			name:    np.GetName(),
			op:      np.GetOpType(),
			domain:  np.GetDomain(),
			inputs:  np.GetInput(),
			outputs: np.GetOutput(),
			attrs:   map[string]*onnxpb.AttributeProto{},
		}
		for _, a := range np.GetAttribute() {
			if a.GetRefAttrName() != "" {
				return nil, fmt.Errorf("onnx: %s: %v: attribute references are only allowed in functions", where, n)
			}
			n.attrs[a.GetName()] = a
		}
		fn, err := lookupOp(n.domain, n.op, b.m.opset)
		if err != nil {
			return nil, fmt.Errorf("onnx: %s: %v: %w", where, n, err)
		}
		n.fn = fn
		for _, out := range n.outputs {
			if out == "" {
				continue
			}
			if known[out] {
				return nil, fmt.Errorf("onnx: %s: %v: output %q is already defined", where, n, out)
			}
			known[out] = true
			producer[out] = len(nodes)
		}
		nodes = append(nodes, n)
	}
	if main {
		// The main graph's floating-point initializers are parameters,
		// except the running statistics of BatchNormalization, which are
		// buffers as in torch; other initializers are buffers.
		stats := map[string]bool{}
		for _, n := range nodes {
			if n.op == "BatchNormalization" {
				for _, i := range []int{3, 4} {
					if i < len(n.inputs) {
						stats[n.inputs[i]] = true
					}
				}
			}
		}
		for _, it := range inits {
			if it.t.DType().IsFloat() && !stats[it.name] {
				p := &nn.Parameter{Tensor: it.t}
				g.fixed[it.name] = fixedValue{p: p}
				b.m.params = append(b.m.params, nn.Named{Name: it.name, P: p})
				continue
			}
			bf := nn.NewBuffer(it.t)
			g.fixed[it.name] = fixedValue{b: bf}
			b.m.buffers = append(b.m.buffers, nn.NamedBuffer{Name: it.name, B: bf})
		}
	}
	// Subgraphs see every name of this graph and of the enclosing ones.
	visible := map[string]bool{}
	for k := range outer {
		visible[k] = true
	}
	for k := range known {
		visible[k] = true
	}
	deps := make([][]string, len(nodes))
	for i, n := range nodes {
		deps[i] = slices.Clone(n.inputs)
		for name, a := range n.attrs {
			var gps []*onnxpb.GraphProto
			switch a.GetType() {
			case onnxpb.AttributeProto_GRAPH:
				gps = []*onnxpb.GraphProto{a.GetG()}
			case onnxpb.AttributeProto_GRAPHS:
				return nil, fmt.Errorf("onnx: %s: %v: attribute %q: graph lists are not supported", where, n, name)
			default:
				continue
			}
			if n.subgraphs == nil {
				n.subgraphs = map[string]*graph{}
			}
			for _, sgp := range gps {
				if sgp == nil {
					return nil, fmt.Errorf("onnx: %s: %v: attribute %q has no graph", where, n, name)
				}
				sg, err := b.graph(sgp, visible, false)
				if err != nil {
					return nil, fmt.Errorf("onnx: %s: %v: attribute %q: %w", where, n, name, err)
				}
				n.subgraphs[name] = sg
				deps[i] = append(deps[i], sg.free...)
			}
		}
	}
	// Constant nodes are evaluated now.
	for _, n := range nodes {
		if n.op == "Constant" && (n.domain == "" || n.domain == "ai.onnx") {
			t, err := constantValue(n)
			if err != nil {
				return nil, fmt.Errorf("onnx: %s: %v: %w", where, n, err)
			}
			if len(n.outputs) != 1 || n.outputs[0] == "" {
				return nil, fmt.Errorf("onnx: %s: %v: a Constant has one output", where, n)
			}
			g.fixed[n.outputs[0]] = fixedValue{c: t}
		}
	}

	// Order the nodes (Kahn's algorithm, keeping the file's order among
	// ready nodes) and find the free names.
	indeg := make([]int, len(nodes))
	users := make([][]int, len(nodes))
	freeSet := map[string]bool{}
	for i, n := range nodes {
		seen := map[int]bool{}
		for _, in := range deps[i] {
			if in == "" {
				continue
			}
			if p, ok := producer[in]; ok {
				if p == i {
					return nil, fmt.Errorf("onnx: %s: %v reads its own output %q", where, n, in)
				}
				if !seen[p] {
					seen[p] = true
					indeg[i]++
					users[p] = append(users[p], i)
				}
				continue
			}
			if known[in] {
				continue // an input or an initializer
			}
			if outer[in] {
				freeSet[in] = true
				continue
			}
			return nil, fmt.Errorf("onnx: %s: %v reads %q, which nothing defines", where, n, in)
		}
	}
	ready := &intHeap{}
	for i := range nodes {
		if indeg[i] == 0 {
			heap.Push(ready, i)
		}
	}
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		if nodes[i].op != "Constant" || nodes[i].domain != "" && nodes[i].domain != "ai.onnx" {
			g.nodes = append(g.nodes, nodes[i])
		}
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				heap.Push(ready, u)
			}
		}
	}
	for i := range nodes {
		if indeg[i] > 0 {
			return nil, fmt.Errorf("onnx: %s: the graph has a cycle through %v", where, nodes[i])
		}
	}
	for _, out := range g.outputs {
		if !known[out.Name] {
			if outer[out.Name] {
				freeSet[out.Name] = true
				continue
			}
			return nil, fmt.Errorf("onnx: %s: output %q is not computed by any node", where, out.Name)
		}
	}
	for k := range freeSet {
		g.free = append(g.free, k)
	}
	slices.Sort(g.free)
	for i, n := range g.nodes {
		for _, in := range n.inputs {
			g.lastUse[in] = i
		}
		for _, sg := range n.subgraphs {
			for _, in := range sg.free {
				g.lastUse[in] = i
			}
		}
	}
	return g, nil
}

// constantValue evaluates a Constant node from its attribute.
func constantValue(n *node) (*tensor.Tensor, error) {
	if len(n.attrs) != 1 {
		return nil, fmt.Errorf("a Constant needs exactly one value attribute, has %d", len(n.attrs))
	}
	for name, a := range n.attrs {
		switch name {
		case "value":
			if a.GetT() == nil {
				return nil, errors.New("attribute value holds no tensor")
			}
			return tensorFromProto(a.GetT())
		case "value_float":
			return tensor.Scalar(float64(a.GetF())), nil
		case "value_floats":
			return tensor.FromSlice(slices.Clone(a.GetFloats())), nil
		case "value_int":
			return tensor.FromSlice([]int64{a.GetI()}).Reshape(), nil
		case "value_ints":
			return tensor.FromSlice(slices.Clone(a.GetInts())), nil
		case "sparse_value":
			return nil, errors.New("sparse constants are not supported")
		case "value_string", "value_strings":
			return nil, errors.New("string constants are not supported")
		}
		return nil, fmt.Errorf("unknown attribute %q", name)
	}
	return nil, nil
}

// runState is one call of Run.
type runState struct {
	m   *Model
	dev tensor.Device
}

// scope resolves names: the values of one graph run, and those of the
// enclosing graphs.
type scope struct {
	vals   map[string]*tensor.Tensor
	parent *scope
}

func (s *scope) get(name string) (*tensor.Tensor, bool) {
	for ; s != nil; s = s.parent {
		if t, ok := s.vals[name]; ok {
			return t, true
		}
	}
	return nil, false
}

// runGraph runs g with the given inputs (by name) inside parent.
func (rs *runState) runGraph(g *graph, inputs map[string]*tensor.Tensor, parent *scope) (map[string]*tensor.Tensor, error) {
	sc := &scope{vals: make(map[string]*tensor.Tensor, len(g.fixed)+len(inputs)+len(g.nodes)), parent: parent}
	for name, f := range g.fixed {
		sc.vals[name] = f.tensor()
	}
	for name, t := range inputs {
		sc.vals[name] = t
	}
	keep := map[string]bool{}
	for _, o := range g.outputs {
		keep[o.Name] = true
	}
	for i, n := range g.nodes {
		if err := rs.runNode(n, sc); err != nil {
			return nil, err
		}
		for _, in := range n.inputs {
			if g.lastUse[in] == i && !keep[in] {
				delete(sc.vals, in)
			}
		}
	}
	out := make(map[string]*tensor.Tensor, len(g.outputs))
	for _, o := range g.outputs {
		t, ok := sc.get(o.Name)
		if !ok || t == nil {
			return nil, fmt.Errorf("onnx: output %q was not computed", o.Name)
		}
		out[o.Name] = t
	}
	return out, nil
}

// opError is the panic value of a node that cannot run.
type opError struct{ msg string }

// internalError marks a panic that is neither an opError nor a tensor
// error: a bug in this package. Tests look for it.
const internalError = "internal error"

// runNode runs one node, turning its panics into an error that names it.
func (rs *runState) runNode(n *node, sc *scope) (err error) {
	c := &opCtx{n: n, rs: rs, opset: rs.m.opset, sc: sc, in: make([]*tensor.Tensor, len(n.inputs))}
	for i, name := range n.inputs {
		if name == "" {
			continue
		}
		t, ok := sc.get(name)
		if !ok {
			return fmt.Errorf("onnx: %v: input %q has no value", n, name)
		}
		c.in[i] = t.ToDevice(rs.dev)
	}
	var outs []*tensor.Tensor
	err = catch(func() { outs = n.fn(c) })
	if err != nil {
		return fmt.Errorf("onnx: %v: %w", n, err)
	}
	for i, name := range n.outputs {
		if name == "" {
			continue
		}
		if i >= len(outs) || outs[i] == nil {
			return fmt.Errorf("onnx: %v: output %d (%q) is not supported", n, i, name)
		}
		sc.vals[name] = outs[i]
	}
	return nil
}

// catch runs f and turns its panic into an error.
func catch(f func()) (err error) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		switch e := r.(type) {
		case opError:
			err = errors.New(e.msg)
		case *tensor.Error:
			err = e
		case error:
			if errors.Is(e, errRun) {
				err = e
				return
			}
			err = fmt.Errorf("%s: %v\n%s", internalError, e, trimStack(debug.Stack()))
		default:
			err = fmt.Errorf("%s: %v\n%s", internalError, e, trimStack(debug.Stack()))
		}
	}()
	f()
	return nil
}

// errRun wraps errors of nested graph runs, which keep their message.
var errRun = errors.New("subgraph")

func trimStack(s []byte) string {
	lines := strings.Split(string(s), "\n")
	if len(lines) > 24 {
		lines = lines[:24]
	}
	return strings.Join(lines, "\n")
}

// intHeap is a min-heap of node positions.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
