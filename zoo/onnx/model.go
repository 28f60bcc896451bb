package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/onnx/internal/onnxpb"
)

// The opsets of the default domain ("" or "ai.onnx") that Load accepts.
// Opsets 9 to 17 are the target. Older models load too, and run where
// their operators mean what the later versions do (the broadcast and axis
// attributes of the binary operators before opset 7 are honored); ONNX's
// test suites cover what they use at opsets 1 and 6 to 8.
const (
	MinOpset = 1
	MaxOpset = 17
)

// Options bound what Load and Run accept from a file; the zero value of a
// field means its default.
type Options struct {
	// MaxFileSize is the largest file Load reads, in bytes; default 2 GiB,
	// protobuf's own limit.
	MaxFileSize int64
	// MaxNodes is the most nodes a model may have, subgraphs included;
	// default 1,000,000.
	MaxNodes int
	// MaxElements is the most elements a tensor may have when its size
	// comes from data rather than from the model's weights (ConstantOfShape,
	// Expand, Tile, Range, Resize, Pad…); default 2²⁸. It keeps a malformed
	// or hostile model from asking for unbounded memory.
	MaxElements int
	// MaxLoopIterations bounds the iterations of a Loop node and the steps
	// of a Scan; default 2²⁰.
	MaxLoopIterations int
}

func (o Options) withDefaults() Options {
	if o.MaxFileSize <= 0 {
		o.MaxFileSize = 2 << 30
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = 1_000_000
	}
	if o.MaxElements <= 0 {
		o.MaxElements = 1 << 28
	}
	if o.MaxLoopIterations <= 0 {
		o.MaxLoopIterations = 1 << 20
	}
	return o
}

// ValueInfo describes a graph input or output: its name, element type and
// shape as the model declares them.
type ValueInfo struct {
	Name string
	// DType is the Tapir dtype that holds the declared element type (see
	// DecodeTensor for the widened integer types); ElemType is the ONNX name
	// of that type, e.g. "FLOAT".
	DType    tensor.DType
	ElemType string
	// Shape has one entry per dim: its size, or -1 where the dim is dynamic.
	// DimNames holds the symbolic name (dim_param) of each dynamic dim, or
	// "". Shape is nil when the model declares no shape.
	Shape    []int
	DimNames []string
}

// String prints the value as "name: FLOAT[batch, 3, 224, 224]".
func (v ValueInfo) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", v.Name, v.ElemType)
	if v.Shape != nil {
		b.WriteByte('[')
		for i, d := range v.Shape {
			if i > 0 {
				b.WriteString(", ")
			}
			switch {
			case d >= 0:
				fmt.Fprint(&b, d)
			case v.DimNames[i] != "":
				b.WriteString(v.DimNames[i])
			default:
				b.WriteByte('?')
			}
		}
		b.WriteByte(']')
	}
	return b.String()
}

// Model is an ONNX graph ready to run on Tapir tensors. Its floating-point
// initializers are parameters ([nn.Parameter], named as in the file);
// BatchNormalization's running statistics and the non-float initializers
// are buffers. [Model.Members] lists them, so the nn package's helpers
// apply: nn.NamedParameters, nn.StateDict, nn.LoadStateDict, nn.ToDevice,
// nn.SetRequiresGrad. Parameters load frozen (not requiring grad), so
// inference records nothing; call [Model.SetRequiresGrad] to fine-tune.
//
// Run may be called from many goroutines at once; changing parameters
// (an optimizer step, loading a state dict) needs the caller's
// synchronization, as for any module.
type Model struct {
	opset    int64
	ir       int64
	producer string
	g        *graph
	params   []nn.Named
	buffers  []nn.NamedBuffer
	opts     Options
}

// Load reads an ONNX model file and builds a runnable model. A file that
// is not a valid ONNX model, uses an operator Tapir does not implement, or
// keeps its weights in external files gets an error; Load never panics.
func Load(path string, opts ...Options) (*Model, error) {
	o := firstOpts(opts)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if st.Size() > o.MaxFileSize {
		return nil, fmt.Errorf("onnx: %s: %d bytes is more than the limit of %d", path, st.Size(), o.MaxFileSize)
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", path, err)
	}
	m, err := Decode(data, o)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return m, nil
}

func firstOpts(opts []Options) Options {
	if len(opts) > 0 {
		return opts[0].withDefaults()
	}
	return Options{}.withDefaults()
}

// Decode builds a model from the bytes of an ONNX file; see Load.
func Decode(data []byte, opts ...Options) (m *Model, err error) {
	o := firstOpts(opts)
	if int64(len(data)) > o.MaxFileSize {
		return nil, fmt.Errorf("onnx: %d bytes is more than the limit of %d", len(data), o.MaxFileSize)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("onnx: not an ONNX model: %w", err)
	}
	// build drops each initializer's bytes from mp once its tensor is made.
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("onnx: malformed model (%s: %v)", internalError, r)
		}
	}()
	return build(&mp, o)
}

func build(mp *onnxpb.ModelProto, o Options) (*Model, error) {
	if mp.Graph == nil {
		return nil, errors.New("onnx: the model has no graph")
	}
	m := &Model{ir: mp.GetIrVersion(), producer: mp.GetProducerName(), opts: o, opset: -1}
	for _, os := range mp.GetOpsetImport() {
		switch os.GetDomain() {
		case "", "ai.onnx":
			m.opset = os.GetVersion()
		}
	}
	if m.opset == -1 {
		if len(mp.GetOpsetImport()) > 0 || m.ir >= 3 {
			return nil, errors.New("onnx: the model imports no opset of the default domain")
		}
		m.opset = 1 // IR versions before 3 had no opset imports
	}
	if m.opset < MinOpset || m.opset > MaxOpset {
		return nil, fmt.Errorf("onnx: opset %d of the default domain is not supported (Tapir runs opsets %d to %d)", m.opset, MinOpset, MaxOpset)
	}
	b := &builder{m: m, maxNodes: o.MaxNodes}
	g, err := b.graph(mp.Graph, nil, true)
	if err != nil {
		return nil, err
	}
	m.g = g
	return m, nil
}

// Opset is the version of the default ONNX operator set the model uses.
func (m *Model) Opset() int { return int(m.opset) }

// Producer is the name of the program that wrote the model, e.g.
// "pytorch".
func (m *Model) Producer() string { return m.producer }

// Inputs lists the graph inputs that Run needs, in the model's order:
// those that no initializer provides.
func (m *Model) Inputs() []ValueInfo { return slices.Clone(m.g.inputs) }

// Outputs lists the graph outputs, in the model's order.
func (m *Model) Outputs() []ValueInfo { return slices.Clone(m.g.outputs) }

// Members lists the initializers, parameters first, then buffers, each
// under its name in the file. It makes Model an [nn.MemberLister], so the
// nn package's module helpers work on it.
func (m *Model) Members() []nn.Member {
	out := make([]nn.Member, 0, len(m.params)+len(m.buffers))
	for _, p := range m.params {
		out = append(out, nn.Member{Name: p.Name, Param: p.P})
	}
	for _, b := range m.buffers {
		out = append(out, nn.Member{Name: b.Name, Buffer: b.B})
	}
	return out
}

// Parameters returns the parameters (the floating-point initializers but
// BatchNormalization's statistics), in the file's order, for an optimizer.
func (m *Model) Parameters() []*nn.Parameter {
	out := make([]*nn.Parameter, len(m.params))
	for i, p := range m.params {
		out[i] = p.P
	}
	return out
}

// NamedParameters returns the parameters with their names in the file.
func (m *Model) NamedParameters() []nn.Named { return slices.Clone(m.params) }

// SetRequiresGrad makes every parameter require grad (or not), so that
// Run records what backward needs. Parameters load frozen.
func (m *Model) SetRequiresGrad(b bool) {
	for _, p := range m.params {
		p.P.SetRequiresGrad(b)
	}
}

// Run evaluates the graph on inputs, keyed by input name, and returns
// every graph output by name. Each input must have the declared element
// type (as the dtype of ValueInfo) and rank, and match the declared size
// of every fixed dim; dynamic dims may take any size, the same one
// wherever they share a name. Ops run on the device of the inputs (all on
// one device); parameters elsewhere are copied there on every run, so
// move the model first (nn.ToDevice). When a parameter requires grad, the
// outputs are recorded for backward.
//
// An op that fails (shapes that do not fit, an unsupported attribute
// value) returns an error naming its node.
func (m *Model) Run(inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	dev := tensor.CPU
	first := true
	for _, in := range m.g.inputs {
		if t := inputs[in.Name]; t != nil && first {
			dev, first = t.Device(), false
		}
	}
	if first && len(m.params) > 0 {
		dev = m.params[0].P.Device()
	}
	for name, t := range inputs {
		if t == nil {
			return nil, fmt.Errorf("onnx: input %q is nil", name)
		}
		if !m.g.isInput(name) {
			return nil, fmt.Errorf("onnx: the model has no input %q (inputs: %s)", name, strings.Join(m.g.inputNames(), ", "))
		}
		if t.Device() != dev {
			return nil, fmt.Errorf("onnx: input %q is on %v, others on %v", name, t.Device(), dev)
		}
	}
	if err := checkInputs(m.g.inputs, inputs); err != nil {
		return nil, err
	}
	rs := &runState{m: m, dev: dev}
	return rs.runGraph(m.g, inputs, nil)
}

// checkInputs checks each required input against its declaration.
func checkInputs(decl []ValueInfo, inputs map[string]*tensor.Tensor) error {
	bound := map[string]int{}
	for _, vi := range decl {
		t, ok := inputs[vi.Name]
		if !ok {
			return fmt.Errorf("onnx: missing input %s", vi)
		}
		if vi.ElemType != "" && t.DType() != vi.DType {
			return fmt.Errorf("onnx: input %q is %v; the model declares %s (%v)", vi.Name, t.DType(), vi.ElemType, vi.DType)
		}
		if vi.Shape == nil {
			continue
		}
		sh := t.Shape()
		if len(sh) != len(vi.Shape) {
			return fmt.Errorf("onnx: input %q has shape %v; the model declares %s", vi.Name, sh, vi)
		}
		for i, d := range vi.Shape {
			switch {
			case d >= 0 && sh[i] != d:
				return fmt.Errorf("onnx: input %q has shape %v; the model declares %s", vi.Name, sh, vi)
			case d < 0 && vi.DimNames[i] != "":
				if b, ok := bound[vi.DimNames[i]]; ok && b != sh[i] {
					return fmt.Errorf("onnx: input %q has %s = %d at dim %d, another input has %s = %d", vi.Name, vi.DimNames[i], sh[i], i, vi.DimNames[i], b)
				}
				bound[vi.DimNames[i]] = sh[i]
			}
		}
	}
	return nil
}
