package train_test

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tapir-ml/tapir/optim/train"
	"github.com/tapir-ml/tapir/tensor"
	"gonum.org/v1/plot/plotutil"
)

func TestMean(t *testing.T) {
	var m train.Mean
	if !math.IsNaN(m.Value()) {
		t.Errorf("empty mean %v, want NaN", m.Value())
	}
	m.Add(2, 3) // 3 samples averaging 2
	m.Add(6, 1)
	m.Add(100, 0) // counts nothing
	if m.Value() != 3 || m.Count() != 4 {
		t.Errorf("mean %v over %d, want 3 over 4", m.Value(), m.Count())
	}
	m.Reset()
	if m.Count() != 0 {
		t.Error("Reset kept samples")
	}
}

func TestAccuracy(t *testing.T) {
	logits := tensor.FromSlice([]float32{
		0.1, 0.7, 0.2, // 1
		3, -1, 3, // tie between 0 and 2: the first, 0
		0, 0, 1, // 2
		-5, -4, -6, // 1
	}, 4, 3)
	target := tensor.FromSlice([]int64{1, 0, 0, 2})
	var a train.Accuracy
	a.Add(logits, target)
	a.Add(logits.Narrow(0, 0, 2), target.Narrow(0, 0, 2))
	if a.Correct != 4 || a.Total != 6 || a.Value() != 4.0/6 {
		t.Errorf("accuracy %d/%d = %v, want 4/6", a.Correct, a.Total, a.Value())
	}
	err := tensor.Try(func() { train.Correct(logits, tensor.FromSlice([]int64{1, 2})) })
	if !errors.Is(err, tensor.ErrShape) {
		t.Errorf("mismatched shapes: %v, want a tensor.ErrShape", err)
	}
}

func TestMetricsLog(t *testing.T) {
	var m train.Metrics
	m.Add("loss", 0.5, 10)
	m.Add("acc", 0.75, 4)
	m.Add("loss", 0.25, 30)
	m.AddAccuracy("acc", train.Accuracy{Correct: 0, Total: 4})
	if !slices.Equal(m.Names(), []string{"loss", "acc"}) {
		t.Errorf("names %v", m.Names())
	}
	var buf bytes.Buffer
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: noTime}))
	m.Log(logger, "epoch done", "epoch", 2)
	if want := "level=INFO msg=\"epoch done\" epoch=2 loss=0.3125 acc=0.375\n"; buf.String() != want {
		t.Errorf("logged %q, want %q", buf.String(), want)
	}
	m.Log(nil, "nothing") // a nil logger logs nothing
	buf.Reset()
	quiet := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m.Log(quiet, "below the level")
	if buf.Len() != 0 {
		t.Errorf("logged %q below the handler's level", buf.String())
	}
	if !math.IsNaN(m.Value("missing")) {
		t.Error("a missing metric is not NaN")
	}
	m.Reset()
	if len(m.Attrs()) != 0 {
		t.Error("Reset kept metrics")
	}
}

func TestHistory(t *testing.T) {
	var h train.History
	for s := 1; s <= 5; s++ {
		h.Add(s, "train/loss", 1/float64(s))
	}
	h.Add(5, "test/acc", 0.8)
	h.Truncate(3)
	if got := h.Series("train/loss"); !slices.Equal(got, []train.Point{{1, 1}, {2, 0.5}, {3, 1.0 / 3}}) {
		t.Errorf("after Truncate(3): %v", got)
	}
	if _, ok := h.Last("test/acc"); ok {
		t.Error("test/acc kept its point at step 5")
	}
	if p, ok := h.Last("train/loss"); !ok || p.Step != 3 {
		t.Errorf("Last = %v, %v", p, ok)
	}
}

func TestWritePNG(t *testing.T) {
	var h train.History
	for s := 0; s <= 100; s++ {
		h.Add(s, "train/loss", 2*math.Exp(-float64(s)/30))
	}
	for e := 1; e <= 4; e++ {
		h.Add(25*e, "train/acc", 0.6+0.05*float64(e))
		h.Add(25*e, "test/acc", 0.55+0.05*float64(e))
	}
	h.Add(100, "test/loss", math.NaN()) // skipped, not an error
	path := filepath.Join(t.TempDir(), "curves.png")
	if err := h.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// two panels (loss, acc) of 8×3 inches at 96 dpi
	if b := img.Bounds(); b.Dx() != 768 || b.Dy() != 576 {
		t.Errorf("image %v, want 768×576", b)
	}
	// each line's colour is drawn: series 0 of each panel in the first
	// palette colour, series 1 of the acc panel in the second
	top, bottom := count(img, plotutil.Color(0), 0, 288), count(img, plotutil.Color(0), 288, 576)
	second := count(img, plotutil.Color(1), 288, 576)
	if top < 200 || bottom < 50 || second < 50 {
		t.Errorf("pixels of the line colours: loss panel %d, acc panel %d and %d; want lines in both panels", top, bottom, second)
	}

	var empty train.History
	if err := empty.WritePNG(filepath.Join(t.TempDir(), "x.png")); err == nil {
		t.Error("an empty history plotted without error")
	}
}

// count returns the number of pixels of colour c in rows [y0, y1).
func count(img image.Image, c color.Color, y0, y1 int) int {
	r, g, b, _ := c.RGBA()
	n := 0
	bd := img.Bounds()
	for y := y0; y < y1; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if pr>>8 == r>>8 && pg>>8 == g>>8 && pb>>8 == b>>8 {
				n++
			}
		}
	}
	return n
}
