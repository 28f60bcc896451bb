package vision

import (
	"slices"
	"testing"
)

// The loaders take VGG's BatchNorm flag and class count from the state
// dict's shapes.
func TestVGGConfigFromShapes(t *testing.T) {
	shapes := map[string][]int{"classifier.6.weight": {10, 4096}, "features.1.running_var": {64}}
	c := vggConfig(nil, func(k string) []int { return shapes[k] })
	if !c.BatchNorm || c.NumClasses != 10 || !c.SkipInit {
		t.Errorf("vgg_bn state dict: %+v", c)
	}
	delete(shapes, "features.1.running_var")
	c = vggConfig([]VGGConfig{{NumClasses: 3}}, func(k string) []int { return shapes[k] })
	if c.BatchNorm || c.NumClasses != 3 {
		t.Errorf("vgg state dict with 3 classes asked for: %+v", c)
	}
}

// torchvision's _make_divisible at the widths MobileNetV2 uses.
func TestMakeDivisible(t *testing.T) {
	var got []int
	for _, v := range []float64{32, 16, 24 * 0.5, 1280, 32 * 0.35, 96 * 0.75, 320 * 1.4, 3} {
		got = append(got, makeDivisible(v, 8))
	}
	// python: [_make_divisible(v, 8) for v in (32, 16, 12, 1280, 11.2, 72, 448, 3)]
	if want := []int{32, 16, 16, 1280, 16, 72, 448, 8}; !slices.Equal(got, want) {
		t.Errorf("makeDivisible: %v, want %v", got, want)
	}
}

// isTorchFile tells torch.save's formats from safetensors, including a
// safetensors file whose header length starts with the pickle bytes.
func TestIsTorchFile(t *testing.T) {
	for _, tc := range []struct {
		head string
		want bool
	}{
		{"PK\x03\x04\x00\x00\x00\x00\x00", true},
		{"\x80\x02\x8a\x0al\xfc\x9cF\xf9", true},
		{"\x80\x02\x8a\x0a\x00\x00\x00\x00{", false},
		{"\x80\x02\x00\x00\x00\x00\x00\x00{", false},
		{"\x80\x04\x95\x10\x00\x00\x00\x00\x00", true},
		{"", false},
	} {
		if got := isTorchFile([]byte(tc.head)); got != tc.want {
			t.Errorf("isTorchFile(%q) = %v", tc.head, got)
		}
	}
}
