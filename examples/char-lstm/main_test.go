package main

import (
	"math"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// mean is the average of xs.
func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestShortRun trains a small model for a few dozen steps (the short mode
// CI runs) and checks that it learns: the training loss falls, the
// held-out loss ends below where it started, and sampling gives text of
// the asked length that begins with the prime.
func TestShortRun(t *testing.T) {
	c := config{
		Steps: 40, Batch: 16, SeqLen: 32, Embed: 16, Hidden: 64, Layers: 1,
		LR: 5e-3, Clip: 1, Seed: 7, LogEvery: 10, EvalWindows: 32,
		SampleLen: 40, Temperature: 0.8, Prime: "The ",
		Out: testWriter{t},
	}
	res, err := run(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Losses) != c.Steps {
		t.Fatalf("recorded %d losses, want %d", len(res.Losses), c.Steps)
	}
	first, last := mean(res.Losses[:5]), mean(res.Losses[len(res.Losses)-5:])
	t.Logf("mean loss of the first 5 steps %.3f, of the last 5 %.3f; held-out %.3f → %.3f",
		first, last, res.ValLossBefore, res.ValLossAfter)
	if !(last < first-0.3) {
		t.Errorf("training loss did not fall: first steps %.3f, last steps %.3f", first, last)
	}
	if !(res.ValLossAfter < res.ValLossBefore) {
		t.Errorf("held-out loss did not fall: %.3f before, %.3f after", res.ValLossBefore, res.ValLossAfter)
	}
	if !strings.HasPrefix(res.Sample, c.Prime) || utf8.RuneCountInString(res.Sample) != len(c.Prime)+c.SampleLen {
		t.Errorf("sample %q: want %d characters after the prime %q", res.Sample, c.SampleLen, c.Prime)
	}
}

// TestSaveLoad checks that a saved model loads back to the same held-out
// loss, and that -steps 0 with -load only evaluates and samples.
func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	c := config{
		Steps: 3, Batch: 4, SeqLen: 16, Embed: 8, Hidden: 16, LR: 1e-2, Clip: 1, Seed: 1,
		EvalWindows: 8, SampleLen: 10, Temperature: 1, Prime: "a", Save: path,
	}
	trained, err := run(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Save, c.Load, c.Steps = "", path, 0
	loaded, err := run(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Losses) != 0 {
		t.Errorf("with -steps 0 it trained %d steps", len(loaded.Losses))
	}
	if d := math.Abs(loaded.ValLossBefore - trained.ValLossAfter); d > 1e-6 {
		t.Errorf("held-out loss %.6f after training, %.6f after loading the saved model", trained.ValLossAfter, loaded.ValLossBefore)
	}
	if loaded.ValLossAfter != loaded.ValLossBefore {
		t.Errorf("without training the held-out loss changed: %v → %v", loaded.ValLossBefore, loaded.ValLossAfter)
	}
}

// TestBadConfig checks that invalid settings are errors, not panics.
func TestBadConfig(t *testing.T) {
	for _, c := range []config{
		{Steps: 0, Batch: 1, SeqLen: 8, Embed: 4, Hidden: 4, Temperature: 1},
		{Steps: 1, Batch: 1, SeqLen: 8, Embed: 4, Hidden: 4, Temperature: 0},
		{Steps: 1, Batch: 1, SeqLen: 8, Embed: 4, Hidden: 4, Temperature: 1, TextPath: "does-not-exist.txt"},
	} {
		if _, err := run(c); err == nil {
			t.Errorf("run(%+v) succeeded, want an error", c)
		}
	}
}

// testWriter sends the program's output to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
