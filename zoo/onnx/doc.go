// Package onnx runs ONNX models on Tapir's tensors.
//
// [Load] reads a .onnx file (protobuf, bindings generated from ONNX 1.12's
// onnx.proto and committed under internal/onnxpb, so no protoc is needed
// to build) and checks it: the graph is put in topological order, every
// node's operator must be one Tapir implements, and initializers and
// Constant nodes are decoded, from raw_data or from the typed fields.
// [Model.Run] then evaluates the graph, node by node, with ordinary Tapir
// ops: a model runs wherever its tensors are, on any backend, and is
// differentiable.
//
//	m, err := onnx.Load("model.onnx")
//	out, err := m.Run(map[string]*tensor.Tensor{"input": x})
//	probs := out["output"]
//
// The zoo package offers the same as zoo.LoadONNX and zoo.ONNXModel.
//
// # Inputs and shapes
//
// [Model.Inputs] lists the inputs a caller must feed, with their element
// types and declared shapes. Dims with a symbolic name (dim_param, such as
// "batch") or no size take any size at run time, the same one wherever the
// name repeats; fixed dims must match. Initializers that are also listed
// as graph inputs may be overridden by feeding them.
//
// # Fine-tuning
//
// Floating-point initializers become parameters ([nn.Parameter], named as
// in the file: a model exported by torch keeps names like "fc.weight"
// where the exporter did not fold or transpose them); BatchNormalization's
// running statistics and non-float initializers become buffers. A Model
// lists them as an [nn.MemberLister], so nn.NamedParameters, nn.StateDict,
// nn.LoadStateDict, nn.ToDevice and nn.To apply, and an optimizer takes
// [Model.Parameters]. Parameters load frozen, so inference records
// nothing; [Model.SetRequiresGrad](true) makes Run record for backward:
//
//	m.SetRequiresGrad(true)
//	opt := optim.NewSGD(m.Parameters(), optim.SGDConfig{LR: 0.01})
//	out, _ := m.Run(feed)
//	F.CrossEntropy(out["logits"], labels).Backward()
//	opt.Step()
//
// Gradients flow through every operator built from Tapir ops. A few
// decide on the host and are differentiable only in part: TopK and Unique
// sort on the host but gather their values with Tapir, so gradients reach
// the selected elements; Resize and GridSample are differentiable in their
// data, not in their scales, sizes or grid; NonZero, NonMaxSuppression,
// integer Mod and BitShift have integer outputs; Asin, Acos and Atan carry
// exact first-order gradients but no second-order ones.
//
// # Operators
//
// [SupportedOps] lists the operators of the default ONNX domain that run
// (about 150), at opsets 1 to 17: attributes that became inputs across
// opsets (Reshape's shape, Slice's starts and ends from opset 10, Clip's
// bounds from 11, Split's split and the axes of Squeeze, Unsqueeze and
// ReduceSum from 13, TopK's k from 10, Pad's pads from 11, the versions of
// Resize and Upsample, Softmax's axis semantics before 13) are read as
// the model's opset says. Control flow (If, Loop, Scan from opset 9) runs
// subgraphs that see the enclosing graph's values. Convolution and pooling
// take one, two or three spatial dims.
//
// Not supported, with an error at Load that names the operator and its
// node: sequence and optional values (SequenceConstruct, SequenceMap,
// Optional…), string tensors (StringNormalizer, TfIdfVectorizer, casts to
// and from STRING), operators of other domains (ai.onnx.ml,
// com.microsoft, the training domain), random generators (Bernoulli,
// RandomUniform…; Dropout runs as in inference unless training_mode is
// set), signal transforms (DFT, STFT, MelWeightMatrix), Det, RoiAlign,
// Scan before opset 9, sparse tensors, and external data (weights in
// separate files). ONNX's narrow integer types are widened: INT8, INT16
// and UINT16 tensors are Int32, UINT32 and UINT64 are Int64.
//
// # Limits
//
// A malformed file gets an error, never a panic. [Options] bound what a
// file can ask for: its size, its number of nodes, the elements of any
// tensor whose size comes from data rather than from the weights
// (ConstantOfShape, Expand, Tile, Range, Resize, Pad, convolution windows)
// and Loop iterations; FuzzLoad checks this. An op that fails at run time
// (shapes that do not fit) returns an error naming its node.
//
// # Conformance
//
// TestNodeConformance runs the ONNX backend node tests shipped by Debian's
// libonnx-testdata package (/usr/share/libonnx-testdata/data/node; it
// skips when absent) at rtol 1e-3, atol 1e-7, against the list of tests
// expected to pass in testdata/node_expected_pass.txt, and prints the pass
// count per operator with -v. Models exported by torch.onnx at opsets 9,
// 13 and 17 (testdata/gen_fixtures.py) must match torch's outputs within
// 1e-4 and its gradients.
package onnx
