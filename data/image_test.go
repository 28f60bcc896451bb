package data

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestImageFolderOrderMatchesTorchvision(t *testing.T) {
	fx := loadFixtures(t).ImageFolder
	root := filepath.Join("testdata", "imagefolder")
	ds, err := ImageFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Classes, fx.Classes) {
		t.Fatalf("classes %q, torchvision %q", ds.Classes, fx.Classes)
	}
	if len(ds.Files) != len(fx.Samples) {
		t.Fatalf("%d files, torchvision %d", len(ds.Files), len(fx.Samples))
	}
	for i, s := range fx.Samples {
		rel, _ := filepath.Rel(root, ds.Files[i].Path)
		if filepath.ToSlash(rel) != s[0].(string) || ds.Files[i].Label != int(s[1].(float64)) {
			t.Fatalf("file %d: %s label %d, torchvision %v", i, rel, ds.Files[i].Label, s)
		}
	}
	// the placeholders are empty files: decoding fails with the path in the error
	if _, err := ds.At(0); err == nil || !strings.Contains(err.Error(), "x.jpg") {
		t.Fatalf("empty file: %v", err)
	}
}

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(path, ".jpg") {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 100})
	} else {
		err = png.Encode(f, img)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestImageFolderDecodes(t *testing.T) {
	root := t.TempDir()
	// dog/1.png: 2×3 RGB with known pixels; cat/g.png: gray 2×2; cat/j.jpg: flat colour
	rgb := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	for y := range 2 {
		for x := range 3 {
			rgb.Set(x, y, color.NRGBA{uint8(10*x + y), uint8(100 + x), uint8(255 - y), uint8(128 + x)})
		}
	}
	writeImage(t, filepath.Join(root, "dog", "1.png"), rgb)
	gray := image.NewGray(image.Rect(0, 0, 2, 2))
	gray.Pix = []uint8{0, 51, 204, 255}
	writeImage(t, filepath.Join(root, "cat", "g.png"), gray)
	flat := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < len(flat.Pix); i += 4 {
		copy(flat.Pix[i:], []uint8{200, 100, 50, 255})
	}
	writeImage(t, filepath.Join(root, "cat", "j.jpg"), flat)
	os.WriteFile(filepath.Join(root, "cat", "readme.md"), []byte("not an image"), 0o644)

	ds, err := ImageFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ds.Classes, []string{"cat", "dog"}) || ds.Len() != 3 {
		t.Fatalf("classes %v, %d files", ds.Classes, ds.Len())
	}
	// cat/g.png: gray repeated in RGB, pixel/255
	s, err := ds.At(0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Input.Shape(), []int{3, 2, 2}) || s.Target.Item() != 0 {
		t.Fatalf("gray as RGB: %v label %v", s.Input.Shape(), s.Target)
	}
	want := []float32{0, 51.0 / 255, 204.0 / 255, 1}
	got := s.Input.Float32s()
	for c := range 3 {
		if !slices.Equal(got[4*c:4*c+4], want) {
			t.Fatalf("channel %d: %v, want %v", c, got[4*c:4*c+4], want)
		}
	}
	// cat/j.jpg: JPEG is lossy; a flat colour comes back within a few levels
	s, _ = ds.At(1)
	for c, v := range []float64{200, 100, 50} {
		if m := s.Input.Narrow(0, c, 1).Mean().Item() * 255; math.Abs(m-v) > 3 {
			t.Fatalf("jpeg channel %d mean %v, want about %v", c, m, v)
		}
	}
	// dog/1.png: RGB non-premultiplied values, alpha dropped, label 1
	s, _ = ds.At(2)
	if !slices.Equal(s.Input.Shape(), []int{3, 2, 3}) || s.Target.Item() != 1 {
		t.Fatalf("rgb: %v label %v", s.Input.Shape(), s.Target)
	}
	for y := range 2 {
		for x := range 3 {
			w := []float64{float64(10*x + y), float64(100 + x), float64(255 - y)}
			for c := range 3 {
				if g := s.Input.At(c, y, x) * 255; math.Abs(g-w[c]) > 1e-4 {
					t.Fatalf("pixel (%d,%d) channel %d = %v/255, want %v", y, x, c, g, w[c])
				}
			}
		}
	}
	// Gray: one channel, luma
	g, err := ImageFolder(root, ImageFolderConfig{Gray: true, Extensions: []string{".png"}})
	if err != nil {
		t.Fatal(err)
	}
	if g.Len() != 2 {
		t.Fatalf("png only: %d files", g.Len())
	}
	s, _ = g.At(1)
	// PIL's convert("L") ignores alpha: ITU-R 601 luma of (10, 101, 255)
	// is 0.299·10 + 0.587·101 + 0.114·255 = 91.347 → 91
	if l := s.Input.At(0, 0, 1) * 255; s.Input.Size(0) != 1 || math.Abs(l-91) > 1e-4 {
		t.Fatalf("luma %v, want 91", l)
	}
	// with a transform, reproducible per epoch
	tf, err := ImageFolder(root, ImageFolderConfig{Transform: Compose(Resize(4, 4), RandomHorizontalFlip(0.5)), Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tf.At(2)
	b2, _ := tf.At(2)
	if !slices.Equal(a.Input.Shape(), []int{3, 4, 4}) || !slices.Equal(a.Input.Float32s(), b2.Input.Float32s()) {
		t.Fatal("transformed sample not reproducible")
	}
	l := NewLoader(tf, LoaderConfig{BatchSize: 3, Workers: 2}, StackSamples)
	for batch, err := range l.All(context.Background()) {
		if err != nil || !slices.Equal(batch.Input.Shape(), []int{3, 3, 4, 4}) || !slices.Equal(batch.Target.Int64s(), []int64{0, 0, 1}) {
			t.Fatalf("batch %v %v", batch, err)
		}
	}
}

func TestImageFolderErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := ImageFolder(root); err == nil || !strings.Contains(err.Error(), "no class folders") {
		t.Fatalf("empty root: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "empty"), 0o755)
	writeImage(t, filepath.Join(root, "full", "a.png"), image.NewGray(image.Rect(0, 0, 1, 1)))
	if _, err := ImageFolder(root); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty class: %v", err)
	}
	if _, err := ImageFolder(filepath.Join(root, "missing")); err == nil {
		t.Fatal("missing root: no error")
	}
}

func TestToTensorAndBack(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 2, 1))
	gray.Pix = []uint8{0, 255}
	x := ToTensor(gray)
	if !slices.Equal(x.Shape(), []int{1, 1, 2}) || !slices.Equal(x.Float32s(), []float32{0, 1}) {
		t.Fatalf("gray: %v", x)
	}
	// a premultiplied RGBA pixel (R=100, A=128) is non-premultiplied on the way in
	rgba := image.NewRGBA(image.Rect(0, 0, 1, 1))
	rgba.Pix = []uint8{100, 0, 0, 128}
	y := ToTensor(rgba)
	if r := y.At(0, 0, 0) * 255; math.Abs(r-199) > 1 { // 100·255/128 ≈ 199
		t.Fatalf("un-premultiplied red %v, want about 199", r)
	}
	// sub-images start at their own origin
	big := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range big.Pix {
		big.Pix[i] = uint8(i)
	}
	sub := ToTensor(big.SubImage(image.Rect(1, 2, 3, 4)))
	if got := sub.Float32s(); !slices.Equal(got, []float32{9.0 / 255, 10.0 / 255, 13.0 / 255, 14.0 / 255}) {
		t.Fatalf("sub-image %v", got)
	}
	img, err := ToImage(ToTensorRGB(big))
	if err != nil {
		t.Fatal(err)
	}
	if c := img.(*image.NRGBA).NRGBAAt(3, 1); c != (color.NRGBA{7, 7, 7, 255}) {
		t.Fatalf("round trip pixel %v", c)
	}
	gimg, _ := ToImage(x)
	if !slices.Equal(gimg.(*image.Gray).Pix, []uint8{0, 255}) {
		t.Fatal("gray round trip")
	}
	if _, err := ToImage(y.Narrow(0, 0, 2)); err == nil {
		t.Fatal("two channels: no error")
	}
}
