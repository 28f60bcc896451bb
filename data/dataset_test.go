package data

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func all[T any](t *testing.T, ds Dataset[T]) []T {
	t.Helper()
	out := make([]T, ds.Len())
	for i := range out {
		x, err := ds.At(i)
		if err != nil {
			t.Fatalf("At(%d): %v", i, err)
		}
		out[i] = x
	}
	return out
}

func TestDatasetHelpers(t *testing.T) {
	a := FromSlice([]string{"a0", "a1", "a2"})
	b := FromSlice([]string{"b0"})
	c := FromSlice([]string{})
	d := FromSlice([]string{"d0", "d1"})
	cases := []struct {
		name string
		ds   Dataset[string]
		want []string
	}{
		{"slice", a, []string{"a0", "a1", "a2"}},
		{"subset", Subset[string](a, []int{2, 0, 2}), []string{"a2", "a0", "a2"}},
		{"concat", Concat[string](a, c, b, d), []string{"a0", "a1", "a2", "b0", "d0", "d1"}},
		{"concat none", Concat[string](), nil},
		{"map", Map[string, string](d, func(s string) (string, error) { return s + "!", nil }), []string{"d0!", "d1!"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.ds.Len() != len(c.want) {
				t.Fatalf("Len %d, want %d", c.ds.Len(), len(c.want))
			}
			if got := all(t, c.ds); !slices.Equal(got, c.want) && len(c.want) > 0 {
				t.Fatalf("%v, want %v", got, c.want)
			}
			for _, i := range []int{-1, len(c.want)} {
				if _, err := c.ds.At(i); !errors.Is(err, ErrOutOfRange) {
					t.Fatalf("At(%d): %v, want ErrOutOfRange", i, err)
				}
			}
		})
	}
	if _, err := Subset[string](a, []int{5}).At(0); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("subset with a bad index: %v", err)
	}
	idx := all(t, Indices(4))
	if !slices.Equal(idx, []int{0, 1, 2, 3}) {
		t.Fatalf("Indices(4): %v", idx)
	}
}

func TestRandomSplit(t *testing.T) {
	ds := Indices(10)
	parts, err := RandomSplit(ds, []int{6, 3, 1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	var union []int
	for i, p := range parts {
		if p.Len() != []int{6, 3, 1}[i] {
			t.Fatalf("part %d has %d samples", i, p.Len())
		}
		union = append(union, all[int](t, p)...)
	}
	if !isPermutation(union, 10) {
		t.Fatalf("parts %v do not partition 0…9", union)
	}
	again, _ := RandomSplit(ds, []int{6, 3, 1}, 4)
	if !slices.Equal(again[0].Indices, parts[0].Indices) {
		t.Fatal("the same seed gives another split")
	}
	other, _ := RandomSplit(ds, []int{6, 3, 1}, 5)
	if slices.Equal(other[0].Indices, parts[0].Indices) {
		t.Fatal("seeds 4 and 5 give the same split")
	}
	if _, err := RandomSplit(ds, []int{6, 3}, 4); err == nil {
		t.Fatal("lengths summing to 9 of 10: no error")
	}
}

type failing struct{ at int }

func (f failing) Len() int { return 5 }
func (f failing) At(i int) (int, error) {
	if i == f.at {
		return 0, errors.New("bad " + strconv.Itoa(i))
	}
	return i, nil
}

func TestIterateAndBatched(t *testing.T) {
	sum := func(xs []int) (int, error) {
		s := 0
		for _, x := range xs {
			s += x
		}
		return s, nil
	}
	var got []int
	for b, err := range Batched(Iterate[int](Indices(7)), 3, false, sum).All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	if !slices.Equal(got, []int{0 + 1 + 2, 3 + 4 + 5, 6}) {
		t.Fatalf("batched sums %v", got)
	}
	got = nil
	for b, err := range Batched(Iterate[int](Indices(7)), 3, true, sum).All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	if !slices.Equal(got, []int{3, 12}) {
		t.Fatalf("drop last: %v", got)
	}
	// an error ends the stream after one report, naming the index
	var errs []error
	n := 0
	for _, err := range Batched(Iterate[int](failing{at: 4}), 2, false, sum).All(context.Background()) {
		if err != nil {
			errs = append(errs, err)
		} else {
			n++
		}
	}
	var se *SampleError
	if len(errs) != 1 || !errors.As(errs[0], &se) || se.Index != 4 || n != 2 {
		t.Fatalf("%d batches, errors %v", n, errs)
	}
	// a cancelled context ends Iterate with ctx.Err()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, err := range Iterate[int](Indices(3)).All(ctx) {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v", err)
		}
	}
	// a loader is an IterableDataset of batches
	var _ IterableDataset[Sample] = NewLoader(FromSlice([]Sample{{Input: tensor.Zeros(1)}}), LoaderConfig{}, StackSamples)
}
