package onnx

import (
	"fmt"

	"github.com/tapir-ml/tapir/tensor"
)

// Control flow: If, Loop and Scan run their subgraphs in a scope that
// sees the enclosing graphs' values. Tensor values only: sequences and
// optionals are not supported.

func init() {
	register(opIf, "If")
	register(opLoop, "Loop")
	register(opScan, "Scan")
}

// subgraph returns the built graph attribute name.
func (c *opCtx) subgraph(name string) *graph {
	g := c.n.subgraphs[name]
	if g == nil {
		c.fail("attribute %q (a graph) is required", name)
	}
	return g
}

// runSub runs g with the given input values, in order of its declared
// inputs, and returns its outputs in order.
func (c *opCtx) runSub(g *graph, in []*tensor.Tensor) []*tensor.Tensor {
	if len(in) != len(g.inputs) {
		c.fail("subgraph %q takes %d inputs, got %d", g.name, len(g.inputs), len(in))
	}
	feed := make(map[string]*tensor.Tensor, len(in))
	for i, t := range in {
		feed[g.inputs[i].Name] = t
	}
	out, err := c.rs.runGraph(g, feed, c.sc)
	if err != nil {
		panic(fmt.Errorf("%w %q: %w", errRun, g.name, err))
	}
	res := make([]*tensor.Tensor, len(g.outputs))
	for i, o := range g.outputs {
		res[i] = out[o.Name]
	}
	return res
}

func scalarBool(c *opCtx, t *tensor.Tensor) bool {
	if t.Numel() != 1 {
		c.fail("condition must have one element, has shape %v", t.Shape())
	}
	return t.Reshape(-1).Select(0, 0).Item() != 0
}

func opIf(c *opCtx) []*tensor.Tensor {
	g := c.subgraph("else_branch")
	if scalarBool(c, c.x(0)) {
		g = c.subgraph("then_branch")
	}
	out := c.runSub(g, nil)
	if len(out) != len(c.n.outputs) {
		c.fail("branch %q has %d outputs, the node %d", g.name, len(out), len(c.n.outputs))
	}
	return out
}

// opLoop runs body while the trip count and the condition allow. Body
// inputs are (iteration, condition, loop-carried…); its outputs
// (condition, loop-carried…, scan outputs…); the node returns the final
// loop-carried values and the scan outputs stacked along a new first dim.
func opLoop(c *opCtx) []*tensor.Tensor {
	body := c.subgraph("body")
	var maxTrip int64 = -1
	if t := c.opt(0); t != nil {
		maxTrip = c.hostInts(t)[0]
	}
	cond := true
	condGiven := c.opt(1) != nil
	if condGiven {
		cond = scalarBool(c, c.opt(1))
	}
	carried := make([]*tensor.Tensor, 0, len(c.in))
	for i := 2; i < len(c.in); i++ {
		carried = append(carried, c.x(i))
	}
	nScan := len(body.outputs) - 1 - len(carried)
	if nScan < 0 {
		c.fail("body has %d outputs for %d loop-carried values", len(body.outputs), len(carried))
	}
	scans := make([][]*tensor.Tensor, nScan)
	limit := int64(c.rs.m.opts.MaxLoopIterations)
	for i := int64(0); (maxTrip < 0 || i < maxTrip) && cond; i++ {
		if i >= limit {
			c.fail("more than %d iterations (Options.MaxLoopIterations)", limit)
		}
		in := append([]*tensor.Tensor{c.intTensor([]int64{i}, []int{}...), c.full(tensor.Bool, 1)}, carried...)
		out := c.runSub(body, in)
		if condGiven {
			cond = scalarBool(c, out[0]) // else the body's condition is ignored
		}
		copy(carried, out[1:1+len(carried)])
		for k := range scans {
			scans[k] = append(scans[k], out[1+len(carried)+k])
		}
	}
	res := append([]*tensor.Tensor{}, carried...)
	for _, s := range scans {
		if len(s) == 0 {
			res = append(res, c.full(tensor.Float32, 0, 0))
			continue
		}
		res = append(res, tensor.Stack(s, 0))
	}
	return res
}

// opScan (opset 9 and later) runs body once per slice of its scan inputs.
func opScan(c *opCtx) []*tensor.Tensor {
	if c.opset < 9 {
		c.fail("Scan before opset 9 (with sequence_lens) is not supported")
	}
	body := c.subgraph("body")
	nScanIn := int(c.int("num_scan_inputs", 0))
	nState := len(c.in) - nScanIn
	if nScanIn < 1 || nState < 0 {
		c.fail("num_scan_inputs %d for %d inputs", nScanIn, len(c.in))
	}
	nScanOut := len(body.outputs) - nState
	if nScanOut < 0 {
		c.fail("body has %d outputs for %d state values", len(body.outputs), nState)
	}
	list := func(name string, n int, r func(i int) int) []int {
		v := c.ints(name)
		out := make([]int, n)
		for i := range out {
			if v != nil {
				if len(v) != n {
					c.fail("%s %v for %d values", name, v, n)
				}
				if r != nil {
					out[i] = c.axis(v[i], r(i))
				} else {
					out[i] = int(v[i])
				}
			}
		}
		return out
	}
	state := make([]*tensor.Tensor, nState)
	for i := range state {
		state[i] = c.x(i)
	}
	scanIn := make([]*tensor.Tensor, nScanIn)
	for i := range scanIn {
		scanIn[i] = c.x(nState + i)
	}
	inAxes := list("scan_input_axes", nScanIn, func(i int) int { return scanIn[i].Dim() })
	inDirs := list("scan_input_directions", nScanIn, nil)
	outDirs := list("scan_output_directions", nScanOut, nil)
	steps := scanIn[0].Size(inAxes[0])
	for i, t := range scanIn {
		if t.Size(inAxes[i]) != steps {
			c.fail("scan inputs differ in length along their scan axes")
		}
	}
	if steps > c.rs.m.opts.MaxLoopIterations {
		c.fail("more than %d iterations (Options.MaxLoopIterations)", c.rs.m.opts.MaxLoopIterations)
	}
	outs := make([][]*tensor.Tensor, nScanOut)
	for s := 0; s < steps; s++ {
		in := append([]*tensor.Tensor{}, state...)
		for i, t := range scanIn {
			k := s
			if inDirs[i] == 1 {
				k = steps - 1 - s
			}
			in = append(in, t.Select(inAxes[i], k))
		}
		out := c.runSub(body, in)
		copy(state, out[:nState])
		for k := range outs {
			outs[k] = append(outs[k], out[nState+k])
		}
	}
	res := append([]*tensor.Tensor{}, state...)
	outAxes := c.ints("scan_output_axes")
	for k, o := range outs {
		if len(o) == 0 {
			c.fail("a Scan of zero steps has no scan outputs")
		}
		if outDirs[k] == 1 {
			for i, j := 0, len(o)-1; i < j; i, j = i+1, j-1 {
				o[i], o[j] = o[j], o[i]
			}
		}
		a := 0
		if outAxes != nil {
			if len(outAxes) != nScanOut {
				c.fail("scan_output_axes %v for %d outputs", outAxes, nScanOut)
			}
			a = c.axis(outAxes[k], o[0].Dim()+1)
		}
		res = append(res, tensor.Stack(o, a))
	}
	return res
}
