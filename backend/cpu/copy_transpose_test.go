package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// transposeCase is a source layout: storage of n elements seen through
// shape, strides and offset.
type transposeCase struct {
	name   string
	shape  []int
	stride []int
	off, n int
}

// transposeCases builds sources whose last two dims are swapped (and some
// that are not, which must take the generic path): plain transposes of
// odd and even sizes, column-sliced (sc > rows), flipped (sc < 0),
// batched with plain, permuted and broadcast leading dims, empty and
// size-1 dims.
func transposeCases() []transposeCase {
	var cs []transposeCase
	add := func(name string, shape, stride []int, off int) {
		// the storage must reach every element: the largest offset + 1
		hi := off
		for i, e := range shape {
			if e == 0 {
				hi = off
				break
			}
			if stride[i] > 0 {
				hi += (e - 1) * stride[i]
			}
		}
		cs = append(cs, transposeCase{name, shape, stride, off, hi + 1 + 5})
	}
	for _, rc := range [][2]int{{8, 8}, {32, 32}, {33, 31}, {31, 33}, {40, 100}, {100, 40}, {64, 65}, {1, 2000}, {2000, 1}, {7, 300}, {300, 7}, {97, 129}, {0, 50}, {50, 0}} {
		r, c := rc[0], rc[1]
		// dst [r, c] from a contiguous [c, r]: strides [1, r]
		add(fmt.Sprintf("T%dx%d", r, c), []int{r, c}, []int{1, r}, 3)
		// column-sliced source: [c, r+5] storage, strides [1, r+5]
		add(fmt.Sprintf("Tslice%dx%d", r, c), []int{r, c}, []int{1, r + 5}, 2)
		if c > 0 {
			// flipped columns: strides [1, −r] from the last row
			add(fmt.Sprintf("Tflip%dx%d", r, c), []int{r, c}, []int{1, -r}, (c-1)*r+1)
		}
		// batched: [3, r, c] from contiguous [3, c, r]
		add(fmt.Sprintf("B3T%dx%d", r, c), []int{3, r, c}, []int{r * c, 1, r}, 1)
		// batch dim last in storage: [2, r, c] from [c, r, 2]…permuted: strides [1, 2, 2r]
		// (dim −2 has stride 2: not a plain transpose, generic path)
		add(fmt.Sprintf("Bperm%dx%d", r, c), []int{2, r, c}, []int{1, 2, 2 * r}, 0)
		// two leading dims, one permuted: [4, 2, r, c] from [2, 4, c, r]
		add(fmt.Sprintf("B42T%dx%d", r, c), []int{4, 2, r, c}, []int{r * c, 4 * r * c, 1, r}, 0)
		// broadcast leading dim
		add(fmt.Sprintf("Bcast%dx%d", r, c), []int{3, r, c}, []int{0, 1, r}, 4)
		// empty and size-1 leading dims
		add(fmt.Sprintf("E%dx%d", r, c), []int{0, r, c}, []int{r * c, 1, r}, 0)
		add(fmt.Sprintf("One%dx%d", r, c), []int{1, 1, r, c}, []int{7, 7, 1, r}, 1)
	}
	// the attention case: [16, 128, 4, 64] permuted (0, 2, 1, 3), last
	// dim plain (generic path), and its (0, 2, 3, 1) transpose
	add("perm0213", []int{16, 4, 128, 64}, []int{32768, 64, 256, 1}, 0)
	add("perm0231", []int{16, 4, 64, 128}, []int{32768, 64, 1, 256}, 0)
	// runs contiguous in both (copyRows): column slices, head splits,
	// broadcast and flipped outer dims, one-element and empty runs
	for _, rc := range [][2]int{{5, 3}, {33, 1}, {7, 64}, {100, 17}, {3, 1023}, {2, 1024}, {0, 5}, {4, 0}} {
		r, c := rc[0], rc[1]
		add(fmt.Sprintf("Rslice%dx%d", r, c), []int{r, c}, []int{c + 5, 1}, 2)
		add(fmt.Sprintf("Rperm%dx%d", r, c), []int{3, 4, r, c}, []int{4 * r * c, c, 4 * c, 1}, 1)
		add(fmt.Sprintf("Rbcast%dx%d", r, c), []int{3, r, c}, []int{0, c + 1, 1}, 0)
		if r > 0 {
			add(fmt.Sprintf("Rflip%dx%d", r, c), []int{2, r, c}, []int{r * c, -c, 1}, (r-1)*c)
		}
	}
	return cs
}

// TestCopyTransposed checks the tiled transpose copy against the generic
// iterator for element sizes 2, 4 and 8, bit for bit, with nothing
// written outside the destination.
func TestCopyTransposed(t *testing.T) {
	old := transpose8
	defer func() { transpose8 = old }()
	for _, k := range []func(*uint32, int, *uint32, int, int){transpose8Kernel(), nil} {
		transpose8 = k
		testCopyTransposed(t, k != nil)
	}
}

func testCopyTransposed(t *testing.T, kernel bool) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dt := range []backend.DType{backend.Float32, backend.Float64, backend.Int32, backend.Int64, backend.Float16} {
		for _, tc := range transposeCases() {
			name := fmt.Sprintf("%v/kernel=%v/%s", dt, kernel, tc.name)
			src, err := be.Alloc(dt, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			sb := src.(*Buffer).Bytes()
			for i := range sb {
				sb[i] = uint8(rng.Uint32())
			}
			sv := backend.View{Storage: src, Layout: backend.Layout{Shape: tc.shape, Strides: tc.stride, Offset: tc.off}}
			numel := sv.Numel()
			const doff = 3
			want, got := transposeDst(t, dt, numel, doff), transposeDst(t, dt, numel, doff)
			wv := backend.View{Storage: want, Layout: backend.Layout{Shape: tc.shape, Strides: backend.ContiguousStrides(tc.shape), Offset: doff}}
			gv := backend.View{Storage: got, Layout: wv.Layout}
			transposeOff = true
			be.Copy(wv, sv)
			transposeOff = false
			be.Copy(gv, sv)
			wb, gb := want.(*Buffer).Bytes(), got.(*Buffer).Bytes()
			for i := range wb {
				if wb[i] != gb[i] {
					t.Fatalf("%s: byte %d: got %#x, generic path %#x", name, i, gb[i], wb[i])
				}
			}
		}
	}
}

// transposeDst is a destination of numel elements at off, with a guard
// band of fixed garbage before and after.
func transposeDst(t *testing.T, dt backend.DType, numel, off int) backend.Storage {
	t.Helper()
	s, err := be.Alloc(dt, off+numel+9)
	if err != nil {
		t.Fatal(err)
	}
	b := s.(*Buffer).Bytes()
	for i := range b {
		b[i] = uint8(i*7 + 1)
	}
	return s
}

// BenchmarkCopyTransposed is x.T().Contiguous() on [784, 512] and
// [1024, 1024] float32, and the attention head split [16, 128, 4, 64] →
// permute(0, 2, 1, 3): in strips with the AVX kernel ("strip-avx") and
// with the Go loop alone ("strip-go"), and through the generic iterator
// ("generic"). The permute has contiguous runs: the strip modes take
// copyRows, the generic one the iterator run by run.
func BenchmarkCopyTransposed(b *testing.B) {
	cases := []struct {
		name          string
		shape, stride []int
	}{
		{"784x512.T", []int{512, 784}, []int{1, 512}},
		{"1024x1024.T", []int{1024, 1024}, []int{1, 1024}},
		{"16x128x4x64.permute0213", []int{16, 4, 128, 64}, []int{32768, 64, 256, 1}},
	}
	for _, c := range cases {
		n := 1
		for _, e := range c.shape {
			n *= e
		}
		src, _ := be.Alloc(f32, n)
		dst, _ := be.Alloc(f32, n)
		// write every page: untouched pages would all map to the one
		// zero page, which no real source does
		for i, s := 0, slice[float32](src); i < n; i++ {
			s[i] = float32(i)
		}
		clear(slice[float32](dst))
		sv := backend.View{Storage: src, Layout: backend.Layout{Shape: c.shape, Strides: c.stride}}
		dv := backend.View{Storage: dst, Layout: backend.Contiguous(c.shape)}
		for _, mode := range []struct {
			name   string
			off    bool
			kernel func(*uint32, int, *uint32, int, int)
		}{{"strip-avx", false, transpose8Kernel()}, {"strip-go", false, nil}, {"generic", true, nil}} {
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				old, oldK := transposeOff, transpose8
				transposeOff, transpose8 = mode.off, mode.kernel
				defer func() { transposeOff, transpose8 = old, oldK }()
				b.SetBytes(int64(8 * n))
				c0 := processCPU()
				for b.Loop() {
					be.Copy(dv, sv)
				}
				b.ReportMetric((processCPU()-c0)*1e9/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
