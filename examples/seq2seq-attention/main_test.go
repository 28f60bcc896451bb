package main

import (
	"slices"
	"strings"
	"testing"
)

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestShortRun is the short mode CI runs: a small model for a few dozen
// steps must bring the teacher-forced loss well down, and the held-out
// evaluation must run over every length.
func TestShortRun(t *testing.T) {
	c := config{
		Task: "reverse", MinLen: 3, MaxLen: 10, Steps: 60, Batch: 32,
		Embed: 16, Hidden: 32, LR: 1e-2, Clip: 1, TestSize: 100, Seed: 3, LogEvery: 20,
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
	t.Logf("mean loss of the first 5 steps %.3f, of the last 5 %.3f; held-out exact match %.2f",
		first, last, res.Accuracy)
	if !(last < 0.75*first) {
		t.Errorf("loss did not fall: first steps %.3f, last steps %.3f", first, last)
	}
	if res.Accuracy < 0 || res.Accuracy > 1 || res.TokenAcc < res.Accuracy {
		t.Errorf("accuracy %v, digit accuracy %v: inconsistent", res.Accuracy, res.TokenAcc)
	}
	for l := c.MinLen; l <= c.MaxLen; l++ {
		if _, ok := res.ByLength[l]; !ok {
			t.Errorf("no held-out string of length %d was evaluated", l)
		}
	}
}

// TestBatchLayout checks the teacher-forcing layout: the decoder input is
// BOS followed by the target, the target ends in EOS, and both are padded.
func TestBatchLayout(t *testing.T) {
	b := makeBatch("reverse", [][]int{{1, 2, 3}, {4, 5, 6, 7, 8}})
	if got := b.lengths; !slices.Equal(got, []int{3, 5}) {
		t.Fatalf("lengths %v", got)
	}
	d := func(x int) int64 { return int64(digit + x) }
	wantSrc := []int64{d(1), d(2), d(3), pad, pad, d(4), d(5), d(6), d(7), d(8)}
	wantDec := []int64{bos, d(3), d(2), d(1), pad, pad, bos, d(8), d(7), d(6), d(5), d(4)}
	wantTgt := []int64{d(3), d(2), d(1), eos, pad, pad, d(8), d(7), d(6), d(5), d(4), eos}
	for _, c := range []struct {
		name      string
		got, want []int64
	}{{"src", b.src.Int64s(), wantSrc}, {"dec", b.dec.Int64s(), wantDec}, {"tgt", b.tgt.Int64s(), wantTgt}} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if got := target("sort", []int{3, 1, 2}); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("sort target %v", got)
	}
}

// TestHeldOutNeverTrained checks that training batches skip held-out strings.
func TestHeldOutNeverTrained(t *testing.T) {
	tk := &task{minLen: 1, maxLen: 1, rng: newRand(1), heldOut: map[string]bool{}}
	for d := range 9 { // hold out every one-digit string but "9"
		tk.heldOut[key([]int{d})] = true
	}
	batch, err := tk.trainBatch(50)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range batch {
		if key(s) != "9" {
			t.Fatalf("training drew held-out string %q", key(s))
		}
	}
}

// TestTinySpace checks that a held-out set covering every possible string
// is an error rather than an endless search for a training string.
func TestTinySpace(t *testing.T) {
	c := config{Task: "reverse", MinLen: 1, MaxLen: 1, Steps: 1, Batch: 4, Embed: 4, Hidden: 4,
		LR: 1e-3, TestSize: 50, Seed: 1}
	if _, err := run(c); err == nil {
		t.Fatal("run succeeded with every one-digit string held out")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
