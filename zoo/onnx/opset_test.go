package onnx

import (
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/onnx/internal/onnxpb"
)

// Operators whose attributes became inputs (or changed meaning) between
// opsets, checked on both sides of the change. The expected values are
// worked out by hand from the ONNX operator documentation.

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func floatAttr(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func floatsAttr(name string, v ...float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_FLOATS.Enum(), Floats: v}
}

func strAttr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func int64Init(name string, v ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(tInt64), Dims: []int64{int64(len(v))}, Int64Data: v}
}

// runOne builds a one-node model (inputs X… fed, extra inputs from
// initializers) and returns its outputs in order.
func runOne(t *testing.T, opset int64, op string, feeds []*tensor.Tensor, inits []*onnxpb.TensorProto, inputs []string, nout int, attrs ...*onnxpb.AttributeProto) []*tensor.Tensor {
	t.Helper()
	g := &onnxpb.GraphProto{Initializer: inits}
	var outs []string
	for i := 0; i < nout; i++ {
		outs = append(outs, fmt.Sprintf("Y%d", i))
		g.Output = append(g.Output, &onnxpb.ValueInfoProto{Name: proto.String(outs[i])})
	}
	feed := map[string]*tensor.Tensor{}
	for i, x := range feeds {
		name := fmt.Sprintf("X%d", i)
		feed[name] = x
		g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: proto.String(name)})
	}
	g.Node = []*onnxpb.NodeProto{mkNode(op, "n", inputs, outs, attrs...)}
	m, err := Decode(model(opset, g))
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run(feed)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*tensor.Tensor, nout)
	for i, o := range outs {
		out[i] = res[o]
	}
	return out
}

func expectValues(t *testing.T, what string, got *tensor.Tensor, shape []int, want []float64) {
	t.Helper()
	if fmt.Sprint(got.Shape()) != fmt.Sprint(shape) {
		t.Errorf("%s: shape %v, want %v", what, got.Shape(), shape)
		return
	}
	g := got.Float64s()
	for i := range want {
		if math.Abs(g[i]-want[i]) > 1e-6 {
			t.Errorf("%s: %v, want %v", what, g, want)
			return
		}
	}
}

func TestOpsetSemantics(t *testing.T) {
	ln3 := float32(math.Log(3))
	x3 := tensor.FromSlice([]float32{0, 0, 0, ln3}, 1, 2, 2)

	// Softmax before opset 13 normalizes the input seen as a matrix
	// [∏ dims before axis, ∏ the rest]: exp values 1, 1, 1, 3 over 6.
	y := runOne(t, 11, "Softmax", []*tensor.Tensor{x3}, nil, []string{"X0"}, 1, intAttr("axis", 1))
	expectValues(t, "Softmax-11 axis 1", y[0], []int{1, 2, 2}, []float64{1. / 6, 1. / 6, 1. / 6, 0.5})
	// From opset 13 along axis 1 only: columns [0, 0] and [0, ln 3].
	y = runOne(t, 13, "Softmax", []*tensor.Tensor{x3}, nil, []string{"X0"}, 1, intAttr("axis", 1))
	expectValues(t, "Softmax-13 axis 1", y[0], []int{1, 2, 2}, []float64{0.5, 0.25, 0.5, 0.75})
	// Default axes: 1 before 13 (same as above for this shape), −1 from 13.
	y = runOne(t, 13, "LogSoftmax", []*tensor.Tensor{x3}, nil, []string{"X0"}, 1)
	expectValues(t, "LogSoftmax-13 default", y[0], []int{1, 2, 2}, []float64{math.Log(0.5), math.Log(0.5), math.Log(0.25), math.Log(0.75)})
	y = runOne(t, 9, "Hardmax", []*tensor.Tensor{x3}, nil, []string{"X0"}, 1)
	expectValues(t, "Hardmax-9 default", y[0], []int{1, 2, 2}, []float64{0, 0, 0, 1})

	v := tensor.FromSlice([]float32{0, 1, 2, 3, 4, 5}, 2, 3)
	// Slice: attributes before opset 10, inputs (with steps) after.
	y = runOne(t, 9, "Slice", []*tensor.Tensor{v}, nil, []string{"X0"}, 1, intsAttr("starts", 1), intsAttr("ends", 100), intsAttr("axes", 1))
	expectValues(t, "Slice-9", y[0], []int{2, 2}, []float64{1, 2, 4, 5})
	y = runOne(t, 13, "Slice", []*tensor.Tensor{v}, []*onnxpb.TensorProto{int64Init("s", -1), int64Init("e", -100), int64Init("a", 1), int64Init("st", -2)},
		[]string{"X0", "s", "e", "a", "st"}, 1)
	expectValues(t, "Slice-13 negative step", y[0], []int{2, 2}, []float64{2, 0, 5, 3})

	// Squeeze and Unsqueeze: axes attribute before 13, input from 13.
	col := tensor.FromSlice([]float32{7, 8}, 2, 1)
	y = runOne(t, 11, "Squeeze", []*tensor.Tensor{col}, nil, []string{"X0"}, 1, intsAttr("axes", -1))
	expectValues(t, "Squeeze-11", y[0], []int{2}, []float64{7, 8})
	y = runOne(t, 13, "Squeeze", []*tensor.Tensor{col}, []*onnxpb.TensorProto{int64Init("a", 1)}, []string{"X0", "a"}, 1)
	expectValues(t, "Squeeze-13", y[0], []int{2}, []float64{7, 8})
	y = runOne(t, 11, "Unsqueeze", []*tensor.Tensor{col}, nil, []string{"X0"}, 1, intsAttr("axes", 0, 3))
	expectValues(t, "Unsqueeze-11", y[0], []int{1, 2, 1, 1}, []float64{7, 8})
	y = runOne(t, 13, "Unsqueeze", []*tensor.Tensor{col}, []*onnxpb.TensorProto{int64Init("a", 3, 0)}, []string{"X0", "a"}, 1)
	expectValues(t, "Unsqueeze-13", y[0], []int{1, 2, 1, 1}, []float64{7, 8})

	// ReduceSum: axes attribute before 13, input from 13 (empty: all, or
	// nothing with noop_with_empty_axes).
	y = runOne(t, 11, "ReduceSum", []*tensor.Tensor{v}, nil, []string{"X0"}, 1, intsAttr("axes", 1), intAttr("keepdims", 0))
	expectValues(t, "ReduceSum-11", y[0], []int{2}, []float64{3, 12})
	y = runOne(t, 13, "ReduceSum", []*tensor.Tensor{v}, []*onnxpb.TensorProto{int64Init("a", 0)}, []string{"X0", "a"}, 1)
	expectValues(t, "ReduceSum-13", y[0], []int{1, 3}, []float64{3, 5, 7})
	y = runOne(t, 13, "ReduceSum", []*tensor.Tensor{v}, []*onnxpb.TensorProto{int64Init("a")}, []string{"X0", "a"}, 1, intAttr("noop_with_empty_axes", 1))
	expectValues(t, "ReduceSum-13 noop", y[0], []int{2, 3}, []float64{0, 1, 2, 3, 4, 5})
	y = runOne(t, 13, "ReduceMean", []*tensor.Tensor{v}, nil, []string{"X0"}, 1, intsAttr("axes", 0))
	expectValues(t, "ReduceMean-13 attribute", y[0], []int{1, 3}, []float64{1.5, 2.5, 3.5})

	// Split: split attribute before 13, input from 13.
	y = runOne(t, 11, "Split", []*tensor.Tensor{v}, nil, []string{"X0"}, 2, intAttr("axis", 1), intsAttr("split", 1, 2))
	expectValues(t, "Split-11 first", y[0], []int{2, 1}, []float64{0, 3})
	expectValues(t, "Split-11 second", y[1], []int{2, 2}, []float64{1, 2, 4, 5})
	y = runOne(t, 13, "Split", []*tensor.Tensor{v}, []*onnxpb.TensorProto{int64Init("s", 2, 1)}, []string{"X0", "s"}, 2, intAttr("axis", 1))
	expectValues(t, "Split-13 second", y[1], []int{2, 1}, []float64{2, 5})

	// Clip: min and max attributes before 11, optional inputs from 11.
	y = runOne(t, 6, "Clip", []*tensor.Tensor{v}, nil, []string{"X0"}, 1, floatAttr("min", 1), floatAttr("max", 3.5))
	expectValues(t, "Clip-6", y[0], []int{2, 3}, []float64{1, 1, 2, 3, 3.5, 3.5})
	lo := &onnxpb.TensorProto{Name: proto.String("lo"), DataType: proto.Int32(tFloat), FloatData: []float32{2}}
	y = runOne(t, 11, "Clip", []*tensor.Tensor{v}, []*onnxpb.TensorProto{lo}, []string{"X0", "lo"}, 1)
	expectValues(t, "Clip-11 min only", y[0], []int{2, 3}, []float64{2, 2, 2, 3, 4, 5})

	// Pad: pads attribute before 11, input from 11; edge mode.
	y = runOne(t, 2, "Pad", []*tensor.Tensor{v}, nil, []string{"X0"}, 1, intsAttr("pads", 0, 1, 0, 0), floatAttr("value", 9))
	expectValues(t, "Pad-2", y[0], []int{2, 4}, []float64{9, 0, 1, 2, 9, 3, 4, 5})
	y = runOne(t, 11, "Pad", []*tensor.Tensor{v}, []*onnxpb.TensorProto{int64Init("p", 0, 0, 0, 2)}, []string{"X0", "p"}, 1, strAttr("mode", "edge"))
	expectValues(t, "Pad-11 edge", y[0], []int{2, 5}, []float64{0, 1, 2, 2, 2, 3, 4, 5, 5, 5})

	// TopK: k attribute before 10, input from 10.
	r := tensor.FromSlice([]float32{3, 1, 4, 1, 5}, 1, 5)
	y = runOne(t, 1, "TopK", []*tensor.Tensor{r}, nil, []string{"X0"}, 2, intAttr("k", 2))
	expectValues(t, "TopK-1 values", y[0], []int{1, 2}, []float64{5, 4})
	expectValues(t, "TopK-1 indices", y[1], []int{1, 2}, []float64{4, 2})
	y = runOne(t, 11, "TopK", []*tensor.Tensor{r}, []*onnxpb.TensorProto{int64Init("k", 3)}, []string{"X0", "k"}, 2, intAttr("largest", 0))
	expectValues(t, "TopK-11 smallest, ties by index", y[1], []int{1, 3}, []float64{1, 3, 0})

	// Reshape with 0 (copy) and −1, and allowzero.
	y = runOne(t, 13, "Reshape", []*tensor.Tensor{v}, []*onnxpb.TensorProto{int64Init("s", 0, -1, 1)}, []string{"X0", "s"}, 1)
	expectValues(t, "Reshape-13", y[0], []int{2, 3, 1}, []float64{0, 1, 2, 3, 4, 5})

	// Upsample (opset 9) and Resize-10: asymmetric coordinates, floor;
	// Resize-13 nearest: half_pixel, round_prefer_floor.
	row := tensor.FromSlice([]float32{1, 2, 3}, 1, 3)
	sc := &onnxpb.TensorProto{Name: proto.String("sc"), DataType: proto.Int32(tFloat), Dims: []int64{2}, FloatData: []float32{1, 2}}
	y = runOne(t, 9, "Upsample", []*tensor.Tensor{row}, []*onnxpb.TensorProto{sc}, []string{"X0", "sc"}, 1)
	expectValues(t, "Upsample-9", y[0], []int{1, 6}, []float64{1, 1, 2, 2, 3, 3})
	y = runOne(t, 10, "Resize", []*tensor.Tensor{row}, []*onnxpb.TensorProto{sc}, []string{"X0", "sc"}, 1, strAttr("mode", "linear"))
	expectValues(t, "Resize-10 linear", y[0], []int{1, 6}, []float64{1, 1.5, 2, 2.5, 3, 3})
	y = runOne(t, 13, "Resize", []*tensor.Tensor{row}, []*onnxpb.TensorProto{sc}, []string{"X0", "", "sc"}, 1, strAttr("mode", "linear"))
	// half_pixel: x = (o + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, …, clamped at the edges.
	expectValues(t, "Resize-13 linear", y[0], []int{1, 6}, []float64{1, 1.25, 1.75, 2.25, 2.75, 3})

	// Binary operators before opset 7: broadcast=1 with axis aligns B's
	// dims with A's from axis.
	b := tensor.FromSlice([]float32{10, 20}, 2)
	y = runOne(t, 6, "Add", []*tensor.Tensor{v, b}, nil, []string{"X0", "X1"}, 1, intAttr("broadcast", 1), intAttr("axis", 0))
	expectValues(t, "Add-6 axis 0", y[0], []int{2, 3}, []float64{10, 11, 12, 23, 24, 25})

	// Dropout: ratio attribute before 12, input from 12; inference is the
	// identity with an all-true mask.
	y = runOne(t, 10, "Dropout", []*tensor.Tensor{v}, nil, []string{"X0"}, 2, floatAttr("ratio", 0.3))
	expectValues(t, "Dropout-10", y[0], []int{2, 3}, []float64{0, 1, 2, 3, 4, 5})
	expectValues(t, "Dropout-10 mask", y[1], []int{2, 3}, []float64{1, 1, 1, 1, 1, 1})

	// Gemm: C is optional from opset 11.
	y = runOne(t, 11, "Gemm", []*tensor.Tensor{v, tensor.FromSlice([]float32{1, 0, 0, 1, 1, 1}, 3, 2)}, nil, []string{"X0", "X1"}, 1, floatAttr("alpha", 2))
	expectValues(t, "Gemm-11 without C", y[0], []int{2, 2}, []float64{4, 6, 16, 18})

	// Flatten's axis may be negative from opset 11.
	y = runOne(t, 11, "Flatten", []*tensor.Tensor{x3}, nil, []string{"X0"}, 1, intAttr("axis", -1))
	expectValues(t, "Flatten-11 axis −1", y[0], []int{2, 2}, []float64{0, 0, 0, float64(ln3)})

	// Shape's start and end (opset 15).
	y = runOne(t, 15, "Shape", []*tensor.Tensor{x3}, nil, []string{"X0"}, 1, intAttr("start", -2))
	expectValues(t, "Shape-15 start −2", y[0], []int{2}, []float64{2, 2})

	_ = floatsAttr
}
