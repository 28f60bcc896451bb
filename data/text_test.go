package data

import (
	"slices"
	"strings"
	"testing"
)

func TestCharVocab(t *testing.T) {
	v := NewVocab("hello wörld", CharLevel)
	// sorted(set("hello wörld")) in Python
	if want := []string{" ", "d", "e", "h", "l", "o", "r", "w", "ö"}; !slices.Equal(v.Tokens, want) {
		t.Fatalf("tokens %q, want %q", v.Tokens, want)
	}
	ids, err := v.Encode("hölle")
	if err != nil || !slices.Equal(ids, []int64{3, 8, 4, 4, 2}) {
		t.Fatalf("encode %v %v", ids, err)
	}
	if s := v.Decode(ids); s != "hölle" {
		t.Fatalf("decode %q", s)
	}
	if _, err := v.Encode("hex"); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Fatalf("unknown char: %v", err)
	}
	if id, ok := v.ID("w"); !ok || id != 7 {
		t.Fatalf("ID(w) = %d %v", id, ok)
	}
}

func TestWordVocab(t *testing.T) {
	// as PyTorch's word_language_model: words in order of first
	// appearance, <eos> after each line
	c, err := ReadText(strings.NewReader("the cat  sat\nthe dog\n"), WordLevel)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"the", "cat", "sat", EOS, "dog"}; !slices.Equal(c.Vocab.Tokens, want) {
		t.Fatalf("tokens %q", c.Vocab.Tokens)
	}
	if !slices.Equal(c.IDs, []int64{0, 1, 2, 3, 0, 4, 3}) {
		t.Fatalf("ids %v", c.IDs)
	}
	if s := c.Vocab.Decode(c.IDs); s != "the cat sat\nthe dog\n" {
		t.Fatalf("decode %q", s)
	}
	if _, err := ReadText(strings.NewReader("a\xffb"), CharLevel); err == nil {
		t.Fatal("invalid UTF-8: no error")
	}
}

func TestWindows(t *testing.T) {
	ids := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	cases := []struct {
		seqLen, stride, n int
		lastIn, lastTg    []int64
	}{
		{3, 0, 3, []int64{6, 7, 8}, []int64{7, 8, 9}}, // non-overlapping: starts 0, 3, 6
		{3, 1, 7, []int64{6, 7, 8}, []int64{7, 8, 9}},
		{4, 4, 2, []int64{4, 5, 6, 7}, []int64{5, 6, 7, 8}}, // start 8 would need 13 tokens
		{9, 0, 1, []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{10, 0, 0, nil, nil},
	}
	for _, c := range cases {
		w := NewWindowDataset(ids, c.seqLen, c.stride)
		if w.Len() != c.n {
			t.Fatalf("seq %d stride %d: %d windows, want %d", c.seqLen, c.stride, w.Len(), c.n)
		}
		if c.n == 0 {
			continue
		}
		s, err := w.At(c.n - 1)
		if err != nil || !slices.Equal(s.Input.Int64s(), c.lastIn) || !slices.Equal(s.Target.Int64s(), c.lastTg) {
			t.Fatalf("seq %d stride %d: last window %v → %v (%v)", c.seqLen, c.stride, s.Input, s.Target, err)
		}
	}
	c, _ := ReadText(strings.NewReader("abcabc"), CharLevel)
	b, err := StackSamples([]Sample{must(c.Windows(2, 1).At(0)), must(c.Windows(2, 1).At(1))})
	if err != nil || !slices.Equal(b.Input.Shape(), []int{2, 2}) || !slices.Equal(b.Target.Int64s(), []int64{1, 2, 2, 0}) {
		t.Fatalf("batch %v %v", b, err)
	}
}

func must[T any](x T, err error) T {
	if err != nil {
		panic(err)
	}
	return x
}
