package vision_test

import (
	"fmt"
	"image"
	"image/color"
	"log"
	"os"
	"path/filepath"

	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/vision"
)

// A ResNet-18 for 10 classes, its state-dict keys those of torchvision.
func ExampleResNet18() {
	tensor.ManualSeed(1)
	m := vision.ResNet18(vision.ResNetConfig{NumClasses: 10})
	nn.Eval(m)
	logits := m.Forward(tensor.Rand(2, 3, 64, 64))
	fmt.Println(logits.Shape())

	keys := nn.StateDictKeys(m)
	fmt.Println(len(keys), keys[0], keys[6], keys[len(keys)-1])
	// Output:
	// [2 10]
	// 122 conv1.weight layer1.0.conv1.weight fc.bias
}

// Classifying a photo with torchvision's pretrained ResNet-50, from the
// checkpoint torchvision downloads
// (https://download.pytorch.org/models/resnet50-0676ba61.pth) or a
// safetensors conversion of it.
func ExampleLoadResNet50() {
	m, err := vision.LoadResNet50("resnet50-0676ba61.pth")
	if err != nil {
		log.Fatal(err)
	}
	nn.Eval(m)
	f, err := os.Open("cat.jpg")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f) // with image/jpeg imported
	if err != nil {
		log.Fatal(err)
	}
	probs := m.Forward(vision.ImageNetTransform(img).Unsqueeze(0)).Softmax(1)
	top, class := probs.Max(1)
	fmt.Printf("class %d, p = %.3f\n", class.Int64s()[0], top.Item())
}

// Saving a trained model and loading it back; the number of classes comes
// from the file.
func ExampleLoadLeNet() {
	dir, err := os.MkdirTemp("", "lenet")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "lenet.safetensors")

	if err := nn.Save(path, vision.NewLeNet(vision.LeNetConfig{NumClasses: 5})); err != nil {
		log.Fatal(err)
	}
	m, err := vision.LoadLeNet(path)
	if err != nil {
		log.Fatal(err)
	}
	nn.Eval(m)
	fmt.Println(m.FC2.OutFeatures, m.Forward(tensor.Zeros(3, 1, 28, 28)).Shape())
	// Output: 5 [3 5]
}

func ExampleNewMobileNetV2() {
	m := vision.NewMobileNetV2(vision.MobileNetV2Config{NumClasses: 100})
	nn.Eval(m)
	fmt.Println(m.Forward(tensor.Zeros(1, 3, 96, 96)).Shape(), m.Embed(tensor.Zeros(1, 3, 96, 96)).Shape())
	keys := nn.StateDictKeys(m)
	fmt.Println(keys[6], keys[len(keys)-1])
	// Output:
	// [1 100] [1 1280]
	// features.1.conv.0.0.weight classifier.1.bias
}

// VGG-16 with BatchNorm, weights left zero for a state dict to fill.
func ExampleVGG16() {
	m := vision.VGG16(vision.VGGConfig{BatchNorm: true, SkipInit: true})
	sd, err := vision.ReadStateDict("vgg16_bn.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	if err := nn.LoadStateDict(m, sd, true); err != nil {
		log.Fatal(err)
	}
}

func ExampleImageNetTransform() {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 128, 255})
		}
	}
	x := vision.ImageNetTransform(img)
	fmt.Println(x.Shape(), x.DType())
	// Output: [3 224 224] float32
}

// Smaller inputs for a model trained on them, antialiased as PIL resizes.
func ExamplePreprocess() {
	p := vision.Preprocess{ResizeSize: 72, CropSize: 64, Mean: vision.ImageNetMean[:], Std: vision.ImageNetStd[:], Antialias: true}
	x := p.Image(image.NewGray(image.Rect(0, 0, 300, 200)))
	fmt.Println(x.Shape())
	// Output: [3 64 64]
}
