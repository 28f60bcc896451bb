package backend

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// positions lists the storage index of every element of l, by brute force.
func positions(l Layout) []int {
	n := 1
	for _, s := range l.Shape {
		n *= s
	}
	if n == 0 {
		return nil
	}
	var out []int
	idx := make([]int, len(l.Shape))
	for {
		p := l.Offset
		for i, x := range idx {
			p += x * l.Strides[i]
		}
		out = append(out, p)
		d := len(idx) - 1
		for ; d >= 0; d-- {
			if idx[d]++; idx[d] < l.Shape[d] {
				break
			}
			idx[d] = 0
		}
		if d < 0 {
			return out
		}
	}
}

func TestContiguousStrides(t *testing.T) {
	// PyTorch's strides for torch.empty(shape) (size-0 and size-1 dims
	// count as 1 when multiplying up)
	cases := []struct{ shape, want []int }{
		{[]int{}, []int{}},
		{[]int{5}, []int{1}},
		{[]int{2, 3, 4}, []int{12, 4, 1}},
		{[]int{3, 1, 2}, []int{2, 2, 1}},
		{[]int{4, 1, 1}, []int{1, 1, 1}},
		{[]int{0, 3}, []int{3, 1}},
		{[]int{3, 0}, []int{1, 1}},
		{[]int{2, 0, 3}, []int{3, 3, 1}},
		{[]int{1, 1}, []int{1, 1}},
	}
	for _, c := range cases {
		if got := ContiguousStrides(c.shape); !slices.Equal(got, c.want) {
			t.Errorf("ContiguousStrides(%v) = %v, want %v", c.shape, got, c.want)
		}
		l := Contiguous(c.shape)
		if !slices.Equal(l.Shape, c.shape) || !slices.Equal(l.Strides, c.want) || l.Offset != 0 {
			t.Errorf("Contiguous(%v) = %+v", c.shape, l)
		}
		if !l.IsContiguous() {
			t.Errorf("Contiguous(%v) is not IsContiguous", c.shape)
		}
		// dense: the elements are exactly 0..n-1, in row-major order
		ps := positions(l)
		for i, p := range ps {
			if p != i {
				t.Errorf("Contiguous(%v): element %d at %d", c.shape, i, p)
				break
			}
		}
	}
	// Contiguous copies its argument
	sh := []int{2, 3}
	l := Contiguous(sh)
	sh[0] = 9
	if l.Shape[0] != 2 {
		t.Error("Contiguous kept the caller's shape slice")
	}
}

func TestNumel(t *testing.T) {
	for _, c := range []struct {
		shape []int
		want  int
	}{{nil, 1}, {[]int{}, 1}, {[]int{4}, 4}, {[]int{2, 3, 4}, 24}, {[]int{0, 3}, 0}, {[]int{3, 1, 0}, 0}} {
		if got := Numel(c.shape); got != c.want {
			t.Errorf("Numel(%v) = %d, want %d", c.shape, got, c.want)
		}
		if got := (Layout{Shape: c.shape}).Numel(); got != c.want {
			t.Errorf("Layout.Numel(%v) = %d, want %d", c.shape, got, c.want)
		}
	}
}

func TestIsContiguous(t *testing.T) {
	cases := []struct {
		name string
		l    Layout
		want bool
	}{
		{"row-major", Layout{[]int{2, 3}, []int{3, 1}, 0}, true},
		{"row-major at an offset", Layout{[]int{2, 3}, []int{3, 1}, 5}, true},
		{"0-d", Layout{[]int{}, []int{}, 7}, true},
		{"transposed", Layout{[]int{3, 2}, []int{1, 3}, 0}, false},
		{"step 2", Layout{[]int{2, 3}, []int{6, 2}, 1}, false},
		{"padded rows", Layout{[]int{2, 3}, []int{4, 1}, 0}, false},
		{"broadcast row", Layout{[]int{3, 4}, []int{0, 1}, 0}, false},
		{"broadcast column", Layout{[]int{3, 4}, []int{1, 0}, 0}, false},
		{"size-1 dim, odd stride", Layout{[]int{2, 1, 3}, []int{3, 99, 1}, 0}, true},
		{"leading size-1 dim, odd stride", Layout{[]int{1, 4}, []int{100, 1}, 0}, true},
		{"size-1 broadcast", Layout{[]int{1, 4}, []int{0, 1}, 2}, true},
		{"all size 1", Layout{[]int{1, 1}, []int{0, 0}, 0}, true},
		{"1-d stride 2", Layout{[]int{4}, []int{2}, 0}, false},
		{"1-d size 1 stride 5", Layout{[]int{1}, []int{5}, 0}, true},
		{"trailing size-1, wrong outer", Layout{[]int{4, 1}, []int{2, 1}, 0}, false},
		{"empty, odd strides", Layout{[]int{0, 3}, []int{5, 9}, 0}, true},
		{"empty inner", Layout{[]int{3, 0}, []int{7, 1}, 0}, true},
	}
	for _, c := range cases {
		if got := c.l.IsContiguous(); got != c.want {
			t.Errorf("%s %+v: IsContiguous = %v, want %v", c.name, c.l, got, c.want)
		}
	}
	// against the definition, on random layouts: contiguous iff the
	// elements in row-major order sit at Offset, Offset+1, …
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 5000; i++ {
		l := randomLayout(rng)
		ps := positions(l)
		want := true
		for k, p := range ps {
			if p != l.Offset+k {
				want = false
			}
		}
		if got := l.IsContiguous(); got != want {
			t.Fatalf("%+v: IsContiguous = %v, want %v", l, got, want)
		}
	}
}

// randomLayout draws a small layout whose strides are often, but not
// always, row-major.
func randomLayout(rng *rand.Rand) Layout {
	nd := rng.IntN(4)
	sh := make([]int, nd)
	for i := range sh {
		sh[i] = rng.IntN(4)
		if rng.IntN(8) > 0 && sh[i] == 0 {
			sh[i] = 1 + rng.IntN(3)
		}
	}
	st := ContiguousStrides(sh)
	for i := range st {
		if rng.IntN(4) == 0 {
			st[i] = rng.IntN(7)
		}
	}
	return Layout{Shape: sh, Strides: st, Offset: rng.IntN(5)}
}

func TestSpan(t *testing.T) {
	cases := []struct {
		l      Layout
		lo, hi int
	}{
		{Layout{[]int{2, 3}, []int{3, 1}, 0}, 0, 6},
		{Layout{[]int{2, 3}, []int{3, 1}, 4}, 4, 10},
		{Layout{[]int{3, 2}, []int{1, 3}, 0}, 0, 6},
		{Layout{[]int{2, 3}, []int{6, 2}, 3}, 3, 14},
		{Layout{[]int{3, 4}, []int{0, 1}, 0}, 0, 4},
		{Layout{[]int{1, 4}, []int{100, 1}, 0}, 0, 4},
		{Layout{[]int{}, []int{}, 5}, 5, 6},
		{Layout{[]int{0, 3}, []int{3, 1}, 7}, 7, 7},
		{Layout{[]int{3, 0}, []int{1, 1}, 2}, 2, 2},
	}
	for _, c := range cases {
		if lo, hi := c.l.Span(); lo != c.lo || hi != c.hi {
			t.Errorf("%+v: Span = %d, %d; want %d, %d", c.l, lo, hi, c.lo, c.hi)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		l := randomLayout(rng)
		ps := positions(l)
		wlo, whi := l.Offset, l.Offset
		if len(ps) > 0 {
			wlo, whi = slices.Min(ps), slices.Max(ps)+1
		}
		if lo, hi := l.Span(); lo != wlo || hi != whi {
			t.Fatalf("%+v: Span = %d, %d; want %d, %d", l, lo, hi, wlo, whi)
		}
	}
}

func TestDTypes(t *testing.T) {
	sizes := map[DType]int{Float32: 4, Float64: 8, Float16: 2, BFloat16: 2, Int64: 8, Int32: 4, Uint8: 1, Bool: 1}
	all := DTypes()
	if len(all) != len(sizes) {
		t.Fatalf("DTypes() has %d types, want %d", len(all), len(sizes))
	}
	for _, d := range all {
		if !d.Valid() || d.Size() != sizes[d] {
			t.Errorf("%v: Valid %v, Size %d; want true, %d", d, d.Valid(), d.Size(), sizes[d])
		}
		if d.IsFloat() == d.IsInt() && d != Bool {
			t.Errorf("%v: IsFloat %v, IsInt %v", d, d.IsFloat(), d.IsInt())
		}
	}
	if bad := DType(200); bad.Valid() || bad.Size() != 0 || bad.String() != fmt.Sprintf("DType(%d)", 200) {
		t.Errorf("DType(200): Valid %v, Size %d, String %q", bad.Valid(), bad.Size(), bad.String())
	}
}
