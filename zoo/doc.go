// Package zoo loads pretrained models into Tapir: weight formats, ONNX
// import and model families.
//
// # Weight formats
//
// State dicts — tensors by their PyTorch names — load from safetensors
// files ([LoadSafetensors], the native format; its codec is package
// tensor/safetensors) and from PyTorch's .pt/.pth files ([LoadTorch],
// zip and legacy formats; the codec is package zoo/torchfile), and save
// to both ([SaveSafetensors], [SaveTorch]); [LoadWeights] tells the
// formats apart by their first bytes. Large files are memory-mapped and
// copied tensor by tensor, so loading a model needs about its own size in
// memory, not twice that.
//
// # ONNX
//
// [LoadONNX] builds a runnable, differentiable model from an ONNX graph;
// see package zoo/onnx.
//
// # Model families
//
// Models built from package nn modules with torchvision's and Hugging
// Face's parameter names, so that their checkpoints load as they are:
// image models in package zoo/vision, text models in package zoo/text.
package zoo
