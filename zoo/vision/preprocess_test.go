package vision_test

import (
	"fmt"
	"image"
	_ "image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/vision"
)

// preprocessFixture is testdata/preprocess.json: torchvision.transforms'
// ToTensor, Resize, CenterCrop and Normalize on the PNGs beside it.
type preprocessFixture struct {
	Mean  []float64 `json:"mean"`
	Std   []float64 `json:"std"`
	Cases []struct {
		Image     string    `json:"image"`
		Resize    int       `json:"resize"`
		Crop      int       `json:"crop"`
		Antialias bool      `json:"antialias"`
		Shape     []int     `json:"shape"`
		Values    []float64 `json:"values"`
	} `json:"cases"`
	ImageNet struct {
		Image  string    `json:"image"`
		Shape  []int     `json:"shape"`
		Stride int       `json:"stride"`
		Values []float64 `json:"values"`
		Sum    float64   `json:"sum"`
		SumSq  float64   `json:"sumsq"`
	} `json:"imagenet"`
}

func decodePNG(t *testing.T, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestPreprocessMatchesTorchvision compares Resize (bilinear, with and
// without antialiasing, shrinking and enlarging, landscape and portrait),
// CenterCrop and Normalize with torchvision.transforms on tensors.
func TestPreprocessMatchesTorchvision(t *testing.T) {
	var fx preprocessFixture
	readJSON(t, "preprocess.json", &fx)
	if !slices.Equal(fx.Mean, vision.ImageNetMean[:]) || !slices.Equal(fx.Std, vision.ImageNetStd[:]) {
		t.Errorf("ImageNet statistics %v %v, torchvision's %v %v", vision.ImageNetMean, vision.ImageNetStd, fx.Mean, fx.Std)
	}
	for _, c := range fx.Cases {
		t.Run(fmt.Sprintf("%s/resize%d/crop%d/antialias=%v", c.Image, c.Resize, c.Crop, c.Antialias), func(t *testing.T) {
			p := vision.Preprocess{ResizeSize: c.Resize, CropSize: c.Crop, Mean: fx.Mean, Std: fx.Std, Antialias: c.Antialias}
			y := p.Image(decodePNG(t, c.Image))
			if !slices.Equal(y.Shape(), c.Shape) || y.DType() != tensor.Float32 {
				t.Fatalf("%v %v, torchvision %v float32", y.DType(), y.Shape(), c.Shape)
			}
			closeTo(t, "pixels", y.Float64s(), c.Values, 0, 5e-6)
		})
	}

	in := fx.ImageNet
	y := vision.ImageNetTransform(decodePNG(t, in.Image))
	if !slices.Equal(y.Shape(), in.Shape) {
		t.Fatalf("ImageNetTransform: %v, torchvision %v", y.Shape(), in.Shape)
	}
	v := y.Float64s()
	var sampled []float64
	sum, sumSq, sumAbs := 0.0, 0.0, 0.0
	for i, x := range v {
		if i%in.Stride == 0 {
			sampled = append(sampled, x)
		}
		sum += x
		sumSq += x * x
		sumAbs += math.Abs(x)
	}
	closeTo(t, "ImageNetTransform pixels", sampled, in.Values, 0, 5e-6)
	if math.Abs(sum-in.Sum) > 1e-6*sumAbs || math.Abs(sumSq-in.SumSq) > 1e-6*in.SumSq {
		t.Errorf("ImageNetTransform: sum %.9g, sum of squares %.9g; torchvision %.9g, %.9g", sum, sumSq, in.Sum, in.SumSq)
	}
}

func TestResizedSize(t *testing.T) {
	for _, tc := range []struct{ h, w, size, maxSize, oh, ow int }{
		{45, 70, 16, 0, 16, 24},      // ⌊16·70/45⌋ = 24
		{80, 50, 20, 0, 32, 20},      // portrait
		{100, 100, 64, 0, 64, 64},    // square
		{375, 500, 256, 0, 256, 341}, // a typical photo
		{100, 400, 50, 120, 30, 120}, // capped by max size
		{3, 1000, 7, 0, 7, 2333},
	} {
		if oh, ow := vision.ResizedSize(tc.h, tc.w, tc.size, tc.maxSize); oh != tc.oh || ow != tc.ow {
			t.Errorf("ResizedSize(%d, %d, %d, %d) = %d, %d; want %d, %d", tc.h, tc.w, tc.size, tc.maxSize, oh, ow, tc.oh, tc.ow)
		}
	}
}

func TestPreprocessErrors(t *testing.T) {
	img := tensor.Rand(3, 10, 12)
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Resize 2-d", func() { vision.Resize(tensor.Rand(10, 12), 5) }},
		{"Resize int", func() { vision.Resize(tensor.Zeros(3, 10, 12).To(tensor.Uint8), 5) }},
		{"Resize 0", func() { vision.Resize(img, 0) }},
		{"Resize max size", func() { vision.Resize(img, 8, vision.ResizeConfig{MaxSize: 8}) }},
		{"ResizeTo empty", func() { vision.ResizeTo(tensor.Zeros(3, 0, 4), 2, 2) }},
		{"CenterCrop 0", func() { vision.CenterCrop(img, 0, 3) }},
		{"Normalize channels", func() { vision.Normalize(img, []float64{0.5}, []float64{0.5}) }},
		{"Normalize zero std", func() { vision.Normalize(img, []float64{0, 0, 0}, []float64{1, 0, 1}) }},
	} {
		if err := tensor.Try(tc.f); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// the data.Transform form reports errors instead of panicking
	if _, err := vision.ImageNet.Transform().Apply(tensor.Rand(10, 12), nil); err == nil {
		t.Error("Transform on a 2-d tensor: no error")
	}
	y, err := vision.ImageNet.Transform().Apply(tensor.Rand(2, 3, 300, 260), nil)
	if err != nil || !slices.Equal(y.Shape(), []int{2, 3, 224, 224}) {
		t.Errorf("Transform on a batch: %v, %v", y, err)
	}
}

// A 3×3 crop of a 1×5×5 image, and padding around a small one.
func TestCenterCropSmall(t *testing.T) {
	x := tensor.Arange(0, 25, 1).Reshape(1, 5, 5)
	if got := vision.CenterCrop(x, 3, 3).Float64s(); !slices.Equal(got, []float64{6, 7, 8, 11, 12, 13, 16, 17, 18}) {
		t.Errorf("crop: %v", got)
	}
	y := vision.CenterCrop(tensor.Ones(1, 1, 2), 3, 4)
	if got := y.Float64s(); !slices.Equal(got, []float64{0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}) {
		t.Errorf("padded crop: %v", got)
	}
}
