package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// FuzzLoad feeds arbitrary bytes to Decode and runs what loads on small
// inputs: every outcome must be a model or an error, never a panic (the
// package's own bugs show up as errors marked internalError), a hang or
// an allocation beyond the limits.
//
//	go test ./zoo/onnx -run '^$' -fuzz FuzzLoad -fuzztime 60s
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"cnn_opset9.onnx", "block_opset13.onnx", "misc_opset9.onnx", "misc_opset17.onnx"} {
		if data, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(data)
		}
	}
	// A few node tests, where installed: small graphs of many ops.
	for _, n := range []string{"test_resize_upsample_scales_cubic", "test_gathernd_example_int32_batch_dim1",
		"test_convtranspose_pads", "test_maxpool_with_argmax_2d_precomputed_pads", "test_slice_neg_steps",
		"test_sce_mean_weight_ii_3d", "test_nonzero_example", "test_top_k", "test_einsum_batch_diagonal", "test_lstm_defaults",
		"test_loop11", "test_if", "test_scan9_sum", "test_gridsample_bicubic", "test_nonmaxsuppression_two_batches",
		"test_unique_sorted_with_axis_3d", "test_convtranspose_3d", "test_qlinearconv", "test_onehot_with_axis",
		"test_resize_tf_crop_and_resize", "test_reversesequence_batch", "test_scatternd_multiply", "test_range_float_type_positive_delta_expanded"} {
		if data, err := os.ReadFile(filepath.Join(nodeTestDir, n, "model.onnx")); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x07, 0x3a, 0x00})
	opts := Options{MaxElements: 1 << 16, MaxNodes: 4096, MaxLoopIterations: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, opts)
		if err != nil {
			if strings.Contains(err.Error(), internalError) {
				t.Fatal(err)
			}
			return
		}
		feed := map[string]*tensor.Tensor{}
		for _, in := range m.Inputs() {
			shape := make([]int, len(in.Shape))
			n := 1
			for i, d := range in.Shape {
				shape[i] = d
				if d < 0 {
					shape[i] = 1
				}
				n *= shape[i]
				if n > 1<<12 {
					return
				}
			}
			dt := in.DType
			if in.ElemType == "" {
				dt = tensor.Float32
			}
			feed[in.Name] = tensor.FullOf(dt, 1, shape...)
		}
		if _, err := m.Run(feed); err != nil && strings.Contains(err.Error(), internalError) {
			t.Fatal(err)
		}
	})
}
