package data

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func TestTransformsMatchTorchvision(t *testing.T) {
	fx := loadFixtures(t).Transforms
	x := fx.Input.tensor()
	cases := []struct {
		name string
		tf   Transform
		tol  float64
	}{
		{"normalize", Normalize([]float64{0.5, 0.4, 0.3}, []float64{0.2, 0.25, 0.3}), 1e-6},
		{"center_crop_3", CenterCrop(3), 0},
		{"center_crop_4x2", CenterCrop(4, 2), 0},
		{"center_crop_2x6", CenterCrop(2, 6), 0},
		{"center_crop_9", CenterCrop(9), 0},
		{"resize_3x4", Resize(3, 4), 1e-6},
		{"resize_short_4", Resize(4), 1e-6},
		{"resize_8x10", Resize(8, 10), 1e-6},
		{"hflip", RandomHorizontalFlip(1), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y, err := c.tf.Apply(x, rand.New(rand.NewPCG(1, 1)))
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, c.name, y, fx.Cases[c.name], c.tol)
		})
	}
	// RandomCrop(4, padding 2) once the offsets are drawn
	for name, off := range map[string][2]int{"pad2_crop_top1_left6": {1, 6}, "pad2_crop_top0_left0": {0, 0}} {
		y, err := padCrop(x, 2, off[0], off[1], 4, 4)
		if err != nil {
			t.Fatal(err)
		}
		assertClose(t, name, y, fx.Cases[name], 0)
	}
}

func TestRandomCropPositions(t *testing.T) {
	// a 1×3×3 image whose pixels are 1…9; with padding 1 and size 3 the
	// crop's top-left value tells the offset: 5·5 padded, 3·3 = 9 offsets
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 3, 3)
	tf := RandomCrop(3, 1)
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[string]int{}
	const n = 9000
	for range n {
		y, err := tf.Apply(x, rng)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(y.Shape(), []int{1, 3, 3}) {
			t.Fatalf("shape %v", y.Shape())
		}
		// every crop is the padded image at one of the 9 offsets
		found := false
		for top := range 3 {
			for left := range 3 {
				want, _ := padCrop(x, 1, top, left, 3, 3)
				if slices.Equal(y.Float32s(), want.Float32s()) {
					seen[string(rune('0'+top))+string(rune('0'+left))]++
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("crop %v is at no offset", y.Float32s())
		}
	}
	if len(seen) != 9 {
		t.Fatalf("offsets seen %v", seen)
	}
	for k, c := range seen {
		if math.Abs(float64(c)-n/9) > 5*math.Sqrt(n*(1.0/9)*(8.0/9)) {
			t.Fatalf("offset %s drawn %d times of %d", k, c, n)
		}
	}
	if _, err := RandomCrop(6, 1).Apply(x, rng); err == nil {
		t.Fatal("crop larger than the padded image: no error")
	}
}

func TestRandomHorizontalFlip(t *testing.T) {
	x := tensor.FromSlice([]float32{1, 2, 3}, 1, 1, 3)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range []float64{0, 0.3, 1} {
		flips := 0
		const n = 4000
		for range n {
			y, _ := RandomHorizontalFlip(p).Apply(x, rng)
			switch v := y.Float32s(); {
			case slices.Equal(v, []float32{3, 2, 1}):
				flips++
			case !slices.Equal(v, []float32{1, 2, 3}):
				t.Fatalf("p %v: %v", p, v)
			}
		}
		if sd := math.Sqrt(n * p * (1 - p)); math.Abs(float64(flips)-n*p) > 5*sd {
			t.Fatalf("p %v: %d flips of %d", p, flips, n)
		}
	}
}

func TestTransformErrorsAndCompose(t *testing.T) {
	x := tensor.Ones(3, 4, 4)
	if _, err := Normalize([]float64{0, 0}, []float64{1, 1}).Apply(x, nil); err == nil {
		t.Fatal("2 means for 3 channels: no error")
	}
	if _, err := CenterCrop(2).Apply(tensor.Ones(4, 4), nil); err == nil {
		t.Fatal("2-d input: no error")
	}
	if _, err := Resize(2).Apply(tensor.FromSlice(make([]int64, 16), 1, 4, 4), nil); err == nil {
		t.Fatal("Int64 resize: no error")
	}
	// single mean/std for every channel; compose applies in order:
	// (1 − 0.5)/0.25 = 2, then ×3 = 6
	tf := Compose(Normalize([]float64{0.5}, []float64{0.25}), TransformFunc(func(x *tensor.Tensor) (*tensor.Tensor, error) { return x.MulScalar(3), nil }), CenterCrop(2))
	y, err := tf.Apply(x, nil)
	if err != nil || !slices.Equal(y.Shape(), []int{3, 2, 2}) || y.Amin().Item() != 6 || y.Amax().Item() != 6 {
		t.Fatalf("%v %v", y, err)
	}
	// batched input [N, C, H, W]
	b, err := Compose(Resize(2, 3), RandomHorizontalFlip(1)).Apply(tensor.Ones(2, 3, 4, 4), nil)
	if err != nil || !slices.Equal(b.Shape(), []int{2, 3, 2, 3}) {
		t.Fatalf("batched: %v %v", b, err)
	}
	for _, f := range []func(){
		func() { Normalize([]float64{0}, []float64{0}) },
		func() { CenterCrop(1, 2, 3) },
		func() { RandomCrop(0, 0) },
		func() { RandomHorizontalFlip(2) },
		func() { Resize(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a bad argument")
				}
			}()
			f()
		}()
	}
}

func TestWithTransformEpochs(t *testing.T) {
	items := []Sample{{Input: tensor.Arange(0, 16, 1).Reshape(1, 4, 4), Target: Label(0)}}
	ds := WithTransform(FromSlice(items), RandomCrop(4, 2), 11)
	var crops [][]float32
	for epoch := range 6 {
		ds.SetEpoch(epoch)
		a, _ := ds.At(0)
		b, _ := ds.At(0)
		if !slices.Equal(a.Input.Float32s(), b.Input.Float32s()) {
			t.Fatal("the same sample in the same epoch differs")
		}
		crops = append(crops, a.Input.Float32s())
	}
	distinct := 0
	for i := range crops {
		if i == 0 || !slices.Equal(crops[i], crops[i-1]) {
			distinct++
		}
	}
	if distinct < 3 { // 25 offsets: six epochs all but equal would be a bug
		t.Fatalf("augmentation barely changes across epochs: %d distinct runs", distinct)
	}
}
