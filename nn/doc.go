// Package nn builds neural networks from modules, in the manner of
// torch.nn.
//
// Any struct is a module. Its exported fields of type *Parameter (learned
// tensors) and *Buffer (saved state such as running statistics) are found
// by reflection, as are its submodules: fields holding other structs,
// directly, through pointers and interfaces, or in slices and arrays.
// Names follow PyTorch: field names become snake_case and nest with dots,
// slice elements are numbered, so a Go ResNet has the key
// "layer1.0.conv1.weight" and loads torchvision's state dict as it is:
//
//	type Block struct {
//		Conv1 *nn.Conv2d
//		BN1   *nn.BatchNorm2d
//	}
//	type Net struct {
//		Layer1 []*Block
//		FC     *nn.Linear
//	}
//
// A tag `nn:"name"` overrides a field's name and `nn:"-"` hides it; a type
// that implements [MemberLister] names its members itself, as [Sequential]
// and the recurrent layers do. The field lists are cached per type.
//
// On top of discovery: [Parameters] and [NamedParameters] for optimizers,
// [StateDict] and [LoadStateDict] (strict or not; one *[LoadError] lists
// every missing, unexpected and mis-shaped key), [Train] and [Eval],
// [SetRequiresGrad] to freeze, [To] to change dtype, [Save] and [Load] in
// the safetensors format (saving is atomic), and forward hooks run by
// [Call].
//
// The layers (Linear, Conv2d, BatchNorm2d, LSTM, MultiheadAttention,
// TransformerEncoderLayer, …) take PyTorch's positional sizes and an
// optional config struct whose zero value is PyTorch's default, and they
// are initialised as PyTorch initialises them, from the seeded generator
// (tensor.ManualSeed). Their stateless counterparts and the losses live
// in nn/functional.
package nn
