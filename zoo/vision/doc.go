// Package vision holds image-classification networks whose parameter
// names, shapes and order are torchvision's (0.14), so that torchvision's
// state dicts load as they are and give torchvision's outputs, and the
// image preprocessing those models expect.
//
// The families:
//
//   - [ResNet18], [ResNet34], [ResNet50], [ResNet101], [ResNet152]
//     (torchvision's resnet*, v1.5; ResNeXt and wide ResNets through
//     [ResNetConfig]) → *[ResNet]
//   - [NewMobileNetV2] (mobilenet_v2) → *[MobileNetV2]
//   - [VGG11], [VGG13], [VGG16], [VGG19], with or without BatchNorm
//     (vgg11 … vgg19_bn) → *[VGG]
//   - [NewLeNet], a small convnet for 28×28 digits, with names of its own
//     → *[LeNet]
//
// Each constructor takes an optional config struct whose zero value is
// torchvision's default (1000 classes, …) and initialises the weights as
// torchvision does, from the seeded generator; SkipInit leaves them zero
// for a model about to load weights. Each model is an nn module with
// Forward(x) from images [N, C, H, W] to logits [N, NumClasses], so
// nn.Eval, nn.StateDict, nn.Parameters, optimizers and hooks work on it.
//
// Weights: …FromStateDict builds a model and loads a state dict map
// strictly (every key present and of the right shape), taking the
// number of classes (and, for VGG, BatchNorm or not) from the state
// dict; Load… does the same from a file, either torchvision's .pth
// checkpoint as downloaded (read by package zoo/torchfile) or a
// safetensors file, which is streamed one tensor at a time;
// [LoadWeights] loads a file into any model and [ReadStateDict] reads
// one.
//
// Loaded models are in training mode, as torch's are: call nn.Eval
// before inference, so that BatchNorm uses its running statistics and
// dropout is off.
//
// Preprocessing: [ImageNetTransform] turns an image.Image into the
// normalized [3, 224, 224] tensor torchvision's classifiers expect
// (resize the shorter edge to 256, crop the centre, normalize with
// [ImageNetMean] and [ImageNetStd]); [Preprocess] holds other sizes, and
// [Resize], [ResizeTo], [CenterCrop] and [Normalize] are the steps,
// matching torchvision.transforms on tensors.
package vision
