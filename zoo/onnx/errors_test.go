package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/onnx/internal/onnxpb"
)

// Small models built in the test, to reach the error paths.

func vinfo(name string, et int32, dims ...any) *onnxpb.ValueInfoProto {
	sh := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case int:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		case string:
			sh.Dim = append(sh.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		}
	}
	return &onnxpb.ValueInfoProto{
		Name: proto.String(name),
		Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(et), Shape: sh}}},
	}
}

func mkNode(op, name string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: out, Attribute: attrs}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func floatInit(name string, v []float32, dims ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(tFloat), Dims: dims, FloatData: v}
}

func model(opset int64, g *onnxpb.GraphProto) []byte {
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opset)}},
		Graph:       g,
	}
	data, err := proto.Marshal(mp)
	if err != nil {
		panic(err)
	}
	return data
}

// gemmModel is Y = X·Wᵀ + B with a dynamic batch dim.
func gemmModel() []byte {
	return model(13, &onnxpb.GraphProto{
		Name:        proto.String("g"),
		Node:        []*onnxpb.NodeProto{mkNode("Gemm", "fc", []string{"X", "W", "B"}, []string{"Y"}, intAttr("transB", 1))},
		Initializer: []*onnxpb.TensorProto{floatInit("W", []float32{1, 2, 3, 4, 5, 6}, 2, 3), floatInit("B", []float32{10, 20}, 2)},
		Input:       []*onnxpb.ValueInfoProto{vinfo("X", tFloat, "batch", 3)},
		Output:      []*onnxpb.ValueInfoProto{vinfo("Y", tFloat, "batch", 2)},
	})
}

func TestGemmByHand(t *testing.T) {
	m, err := Decode(gemmModel())
	if err != nil {
		t.Fatal(err)
	}
	out, err := m.Run(map[string]*tensor.Tensor{"X": tensor.FromSlice([]float32{1, 0, -1, 2, 1, 0}, 2, 3)})
	if err != nil {
		t.Fatal(err)
	}
	// [1 0 −1]·[1 2 3] + 10 = 8, ·[4 5 6] + 20 = 18; [2 1 0]: 4 + 10, 13 + 20.
	want := []float64{8, 18, 14, 33}
	got := out["Y"].Float64s()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Y = %v, want %v", got, want)
		}
	}
}

func TestUnsupportedOpNamesNode(t *testing.T) {
	data := model(13, &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			mkNode("Relu", "first", []string{"X"}, []string{"A"}),
			mkNode("FancyOp", "my_fancy_node", []string{"A"}, []string{"Y"}),
		},
		Input:  []*onnxpb.ValueInfoProto{vinfo("X", tFloat, 2)},
		Output: []*onnxpb.ValueInfoProto{vinfo("Y", tFloat, 2)},
	})
	_, err := Decode(data)
	if err == nil {
		t.Fatal("no error for an unknown operator")
	}
	for _, want := range []string{`"FancyOp"`, `node 1`, `"my_fancy_node"`, "not supported"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	custom := model(13, &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{{OpType: proto.String("FusedGemm"), Domain: proto.String("com.microsoft"), Input: []string{"X"}, Output: []string{"Y"}}},
		Input:  []*onnxpb.ValueInfoProto{vinfo("X", tFloat, 2)},
		Output: []*onnxpb.ValueInfoProto{vinfo("Y", tFloat, 2)},
	})
	if _, err := Decode(custom); err == nil || !strings.Contains(err.Error(), "com.microsoft") || !strings.Contains(err.Error(), "node 0") {
		t.Errorf("custom domain: error %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	good := &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{mkNode("Relu", "r", []string{"X"}, []string{"Y"})},
		Input:  []*onnxpb.ValueInfoProto{vinfo("X", tFloat, 2)},
		Output: []*onnxpb.ValueInfoProto{vinfo("Y", tFloat, 2)},
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no graph"},
		{"garbage", []byte("this is not a protobuf \xff\xff\xff"), "not an ONNX model"},
		{"opset 18", model(18, good), "opset 18"},
		{"no default opset", func() []byte {
			b, _ := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: good,
				OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String("ai.onnx.ml"), Version: proto.Int64(3)}}})
			return b
		}(), "no opset of the default domain"},
		{"external data", model(13, &onnxpb.GraphProto{
			Node: good.Node, Input: good.Input, Output: good.Output,
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(tFloat), Dims: []int64{4},
				DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(),
				ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("w.bin")}}}},
		}), "external data is not supported"},
		{"short raw data", model(13, &onnxpb.GraphProto{
			Node: good.Node, Input: good.Input, Output: good.Output,
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(tFloat), Dims: []int64{1 << 40, 1 << 40}, RawData: []byte{1, 2, 3, 4}}},
		}), "more elements than its data"},
		{"string initializer", model(13, &onnxpb.GraphProto{
			Node: good.Node, Input: good.Input, Output: good.Output,
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("s"), DataType: proto.Int32(tString), Dims: []int64{1}, StringData: [][]byte{[]byte("a")}}},
		}), "STRING is not supported"},
		{"undefined input", model(13, &onnxpb.GraphProto{
			Node:   []*onnxpb.NodeProto{mkNode("Relu", "r", []string{"Z"}, []string{"Y"})},
			Input:  good.Input,
			Output: good.Output,
		}), `reads "Z", which nothing defines`},
		{"cycle", model(13, &onnxpb.GraphProto{
			Node: []*onnxpb.NodeProto{
				mkNode("Add", "a", []string{"X", "B"}, []string{"A"}),
				mkNode("Relu", "b", []string{"A"}, []string{"B"}),
			},
			Input:  good.Input,
			Output: []*onnxpb.ValueInfoProto{vinfo("A", tFloat, 2)},
		}), "cycle"},
		{"missing output", model(13, &onnxpb.GraphProto{Node: good.Node, Input: good.Input,
			Output: []*onnxpb.ValueInfoProto{vinfo("Q", tFloat, 2)}}), `output "Q" is not computed`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
			if strings.Contains(err.Error(), internalError) {
				t.Fatalf("internal error: %v", err)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.onnx")); err == nil {
		t.Error("no error for a missing file")
	}
	p := filepath.Join(t.TempDir(), "big.onnx")
	if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, Options{MaxFileSize: 10}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("error %v, want the size limit", err)
	}
}

func TestRunInputErrors(t *testing.T) {
	m, err := Decode(gemmModel())
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.Ones(4, 3)
	cases := []struct {
		name string
		in   map[string]*tensor.Tensor
		want string
	}{
		{"missing", map[string]*tensor.Tensor{}, "missing input X"},
		{"unknown", map[string]*tensor.Tensor{"X": x, "Q": x}, `no input "Q"`},
		{"dtype", map[string]*tensor.Tensor{"X": x.To(tensor.Float64)}, "float64"},
		{"rank", map[string]*tensor.Tensor{"X": tensor.Ones(3)}, "shape [3]"},
		{"fixed dim", map[string]*tensor.Tensor{"X": tensor.Ones(4, 5)}, "shape [4 5]"},
		{"nil", map[string]*tensor.Tensor{"X": nil}, "nil"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Run(c.in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
	// The dynamic dim takes any size.
	for _, b := range []int{1, 7} {
		out, err := m.Run(map[string]*tensor.Tensor{"X": tensor.Ones(b, 3)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out["Y"].Shape(); got[0] != b || got[1] != 2 {
			t.Errorf("batch %d: output shape %v", b, got)
		}
	}
}

func TestRunOpErrorNamesNode(t *testing.T) {
	data := model(13, &onnxpb.GraphProto{
		Node:   []*onnxpb.NodeProto{mkNode("MatMul", "bad_matmul", []string{"X", "W"}, []string{"Y"})},
		Input:  []*onnxpb.ValueInfoProto{vinfo("X", tFloat, 2, 3), vinfo("W", tFloat, 4, 5)},
		Output: []*onnxpb.ValueInfoProto{vinfo("Y", tFloat, 2, 5)},
	})
	m, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Run(map[string]*tensor.Tensor{"X": tensor.Ones(2, 3), "W": tensor.Ones(4, 5)})
	if err == nil || !strings.Contains(err.Error(), `"bad_matmul"`) || !strings.Contains(err.Error(), "[2 3]") {
		t.Fatalf("error %v, want one naming the node and the shapes", err)
	}
}

func TestMaxElements(t *testing.T) {
	shape := &onnxpb.TensorProto{Name: proto.String("S"), DataType: proto.Int32(tInt64), Dims: []int64{3}, Int64Data: []int64{1 << 20, 1 << 20, 1 << 20}}
	data := model(13, &onnxpb.GraphProto{
		Node:        []*onnxpb.NodeProto{mkNode("ConstantOfShape", "huge", []string{"S"}, []string{"Y"})},
		Initializer: []*onnxpb.TensorProto{shape},
		Output:      []*onnxpb.ValueInfoProto{vinfo("Y", tFloat)},
	})
	m, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Run(nil); err == nil || !strings.Contains(err.Error(), "MaxElements") {
		t.Fatalf("error %v, want the element limit", err)
	}
}

// TestConcurrentRun runs one model from several goroutines; with -race it
// checks that Run shares nothing mutable.
func TestConcurrentRun(t *testing.T) {
	m, err := Load("testdata/block_opset13.onnx")
	if err != nil {
		t.Fatal(err)
	}
	x := readFixture(t, "block_b3_input.pb")
	want := readFixture(t, "block_b3_output.pb")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 3; i++ {
				out, err := m.Run(map[string]*tensor.Tensor{"input": x})
				if err != nil {
					errs <- err
					return
				}
				if d := maxAbsDiff(t, out["output"], want); d > 1e-4 {
					errs <- nil
					t.Errorf("concurrent run differs by %.3g", d)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
