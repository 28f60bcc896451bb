package onnx

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/onnx/internal/onnxpb"
)

// opFunc runs one node: it reads the node's inputs and attributes from c
// and returns its outputs in order (nil for an optional output it does
// not compute). It panics with an opError or a *tensor.Error when the
// node cannot run.
type opFunc func(c *opCtx) []*tensor.Tensor

// registry maps the default domain's operator names to their
// implementations; each ops_*.go file fills it in init.
var registry = map[string]opFunc{}

func register(fn opFunc, names ...string) {
	for _, n := range names {
		if _, dup := registry[n]; dup {
			panic("onnx: operator registered twice: " + n)
		}
		registry[n] = fn
	}
}

// SupportedOps lists the operators of the default ONNX domain that Tapir
// runs, sorted.
func SupportedOps() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func lookupOp(domain, op string, opset int64) (opFunc, error) {
	if domain != "" && domain != "ai.onnx" {
		return nil, fmt.Errorf("operator %q of domain %q is not supported (Tapir runs the default ONNX domain only)", op, domain)
	}
	if op == "Constant" {
		return func(*opCtx) []*tensor.Tensor { return nil }, nil
	}
	fn, ok := registry[op]
	if !ok {
		return nil, fmt.Errorf("operator %q is not supported", op)
	}
	return fn, nil
}

// opCtx is what an opFunc sees of its node.
type opCtx struct {
	n     *node
	rs    *runState
	sc    *scope
	opset int64
	in    []*tensor.Tensor
}

// fail stops the node with an error.
func (c *opCtx) fail(format string, args ...any) {
	panic(opError{fmt.Sprintf(format, args...)})
}

// x returns required input i.
func (c *opCtx) x(i int) *tensor.Tensor {
	if i >= len(c.in) || c.in[i] == nil {
		c.fail("input %d is required", i)
	}
	return c.in[i]
}

// opt returns optional input i, or nil.
func (c *opCtx) opt(i int) *tensor.Tensor {
	if i >= len(c.in) {
		return nil
	}
	return c.in[i]
}

// attr returns the attribute name after checking its type, or nil.
func (c *opCtx) attr(name string, typ onnxpb.AttributeProto_AttributeType) *onnxpb.AttributeProto {
	a := c.n.attrs[name]
	if a == nil {
		return nil
	}
	if a.GetType() != typ && a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		c.fail("attribute %q is %v, want %v", name, a.GetType(), typ)
	}
	return a
}

func (c *opCtx) has(name string) bool { return c.n.attrs[name] != nil }

func (c *opCtx) int(name string, def int64) int64 {
	if a := c.attr(name, onnxpb.AttributeProto_INT); a != nil {
		return a.GetI()
	}
	return def
}

func (c *opCtx) float(name string, def float64) float64 {
	if a := c.attr(name, onnxpb.AttributeProto_FLOAT); a != nil {
		return float64(a.GetF())
	}
	return def
}

func (c *opCtx) str(name, def string) string {
	if a := c.attr(name, onnxpb.AttributeProto_STRING); a != nil {
		return string(a.GetS())
	}
	return def
}

// ints returns an INTS attribute, or nil when it is absent.
func (c *opCtx) ints(name string) []int64 {
	if a := c.attr(name, onnxpb.AttributeProto_INTS); a != nil {
		return slices.Clone(a.GetInts())
	}
	return nil
}

func (c *opCtx) floats(name string) []float64 {
	if a := c.attr(name, onnxpb.AttributeProto_FLOATS); a != nil {
		out := make([]float64, len(a.GetFloats()))
		for i, f := range a.GetFloats() {
			out[i] = float64(f)
		}
		return out
	}
	return nil
}

func (c *opCtx) strs(name string) []string {
	if a := c.attr(name, onnxpb.AttributeProto_STRINGS); a != nil {
		out := make([]string, len(a.GetStrings()))
		for i, s := range a.GetStrings() {
			out[i] = string(s)
		}
		return out
	}
	return nil
}

// tensorAttr returns a TENSOR attribute on the run's device, or nil.
func (c *opCtx) tensorAttr(name string) *tensor.Tensor {
	a := c.attr(name, onnxpb.AttributeProto_TENSOR)
	if a == nil {
		return nil
	}
	t, err := tensorFromProto(a.GetT())
	if err != nil {
		c.fail("attribute %q: %v", name, err)
	}
	return c.dev(t)
}

// with returns a copy of c whose first input is x.
func (c *opCtx) with(x *tensor.Tensor) *opCtx {
	d := *c
	d.in = append([]*tensor.Tensor{x}, c.in[1:]...)
	return &d
}

// dev moves t to the run's device.
func (c *opCtx) dev(t *tensor.Tensor) *tensor.Tensor { return t.ToDevice(c.rs.dev) }

// hostInts reads an integer tensor (a shape, axes, indices) to the host.
func (c *opCtx) hostInts(t *tensor.Tensor) []int64 {
	if t.DType().IsFloat() {
		c.fail("expected an integer tensor, got %v", t.DType())
	}
	return t.Int64s()
}

// optInts reads optional input i as integers; ok is false when absent.
func (c *opCtx) optInts(i int) (v []int64, ok bool) {
	t := c.opt(i)
	if t == nil {
		return nil, false
	}
	return c.hostInts(t), true
}

// intTensor makes an Int64 tensor on the run's device.
func (c *opCtx) intTensor(v []int64, shape ...int) *tensor.Tensor {
	if shape == nil {
		shape = []int{len(v)}
	}
	return c.dev(tensor.FromSlice(v, shape...))
}

// full makes a tensor of dtype dt filled with v on the run's device.
func (c *opCtx) full(dt tensor.DType, v float64, shape ...int) *tensor.Tensor {
	c.checkSize(shape)
	return c.dev(tensor.FullOf(dt, v, shape...))
}

// checkSize fails when a tensor of shape would exceed MaxElements.
func (c *opCtx) checkSize(shape []int) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			c.fail("negative dim in shape %v", shape)
		}
		if d == 0 {
			return
		}
	}
	lim := c.rs.m.opts.MaxElements
	for _, d := range shape {
		if d > lim/n {
			c.fail("a tensor of shape %v has more than %d elements (Options.MaxElements)", shape, lim)
		}
		n *= d
	}
}

// axis normalizes an axis attribute against rank r (negative counts from
// the end).
func (c *opCtx) axis(a int64, r int) int {
	if a < -int64(r) || a >= int64(r) {
		c.fail("axis %d is out of range for rank %d", a, r)
	}
	if a < 0 {
		a += int64(r)
	}
	return int(a)
}

// axes normalizes a list of axes, rejecting duplicates.
func (c *opCtx) axes(as []int64, r int) []int {
	out := make([]int, len(as))
	seen := map[int]bool{}
	for i, a := range as {
		out[i] = c.axis(a, r)
		if seen[out[i]] {
			c.fail("axis %d appears twice in %v", a, as)
		}
		seen[out[i]] = true
	}
	return out
}

// toInts converts int64s to ints, failing on values beyond the size
// limit.
func (c *opCtx) toInts(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		if x > math.MaxInt32 || x < -math.MaxInt32 {
			c.fail("value %d is out of range", x)
		}
		out[i] = int(x)
	}
	return out
}

// one returns a single output.
func one(t *tensor.Tensor) []*tensor.Tensor { return []*tensor.Tensor{t} }

// broadcastShape is the NumPy broadcast of two shapes; ok is false when
// they do not broadcast.
func broadcastShape(a, b []int) ([]int, bool) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db:
			out[i] = da
		case da == 1:
			out[i] = db
		case db == 1:
			out[i] = da
		default:
			return nil, false
		}
	}
	return out, true
}

// bcast expands ts to their common broadcast shape.
func (c *opCtx) bcast(ts ...*tensor.Tensor) []*tensor.Tensor {
	sh := ts[0].Shape()
	for _, t := range ts[1:] {
		var ok bool
		if sh, ok = broadcastShape(sh, t.Shape()); !ok {
			c.fail("shapes %v and %v do not broadcast", ts[0].Shape(), t.Shape())
		}
	}
	c.checkSize(sh)
	out := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		if slices.Equal(t.Shape(), sh) {
			out[i] = t
			continue
		}
		for t.Dim() < len(sh) {
			t = t.Unsqueeze(0)
		}
		out[i] = t.Expand(sh...)
	}
	return out
}

// prod is the product of ints.
func prod(v []int) int {
	n := 1
	for _, x := range v {
		n *= x
	}
	return n
}
