package zoo

import "github.com/tapir-ml/tapir/zoo/onnx"

// ONNXModel is an ONNX graph ready to run on Tapir tensors: Run evaluates
// it, its floating-point initializers are parameters that can be
// fine-tuned. See package zoo/onnx for what it supports.
type ONNXModel = onnx.Model

// LoadONNX reads an ONNX model file (opsets 9 to 17 of the default
// domain, weights inside the file) and builds a runnable model. A
// malformed file, or one that uses an operator Tapir does not implement,
// gets an error naming the problem (the operator and its node).
func LoadONNX(path string) (*ONNXModel, error) { return onnx.Load(path) }
