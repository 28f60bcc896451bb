//go:build amd64 && !purego

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// vecAsmTables is the assembly tables this CPU runs, by name.
func vecAsmTables() map[string]*vecAsm {
	m := map[string]*vecAsm{}
	if hasAVX512 {
		m["AVX512"] = &vecAsmAVX512
	}
	if hasAVX2 {
		m["AVX2"] = &vecAsmAVX2
	}
	return m
}

// firstDiff32 returns the first index where got and want differ bit for
// bit (any NaN matching any NaN), and false; or 0 and true if they agree.
func firstDiff32(got, want []float32) (int, bool) {
	for i := range want {
		if g, w := got[i], want[i]; math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
			return i, false
		}
	}
	return 0, true
}

// TestVecRingKernels calls every binRing kernel directly against the
// pure-Go twin of its op, for lengths (multiples of the lanes) and ring
// sizes around every boundary of its loops: a ring of one group, the ring
// wrapping inside the single-vector loop and the drain, r = n (no main
// loop). Guard bands around dst and the ring catch a write outside dst[:n]
// or ring[:r]; the inputs must be left as they were.
func TestVecRingKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	twin := goVec32()
	for name, tbl := range vecAsmTables() {
		step := tbl.ringStep
		lanes := step / 4
		for _, n := range []int{step, step + lanes, 2 * step, 2*step + lanes, 3*step - lanes, 5*step + 3*lanes, 9 * step} {
			for _, r := range []int{step, 2 * step, 3 * step, n / step * step} {
				if r > n {
					continue
				}
				x, y := vecInputs(rng, n), vecInputs(rng, n)
				x0, y0 := append([]float32(nil), x...), append([]float32(nil), y...)
				for k := vecBin(0); k < numVecBin; k++ {
					want := make([]float32, n)
					twin.bin[k](want, x, y)
					dst, ok := alignedGuarded(n, 0)
					ring, ringOK := alignedGuarded(r, 0)
					tbl.binRing[k](&dst[0], &x[0], &y[0], &ring[0], n, r)
					if !ok() || !ringOK() {
						t.Fatalf("%s: binRing %d n=%d r=%d wrote outside dst or the ring", name, k, n, r)
					}
					if i, same := firstDiff32(dst, want); !same {
						t.Fatalf("%s: binRing %d n=%d r=%d: [%d] = %v, want %v (x %v, y %v)", name, k, n, r, i, dst[i], want[i], x[i], y[i])
					}
					if _, same := firstDiff32(x, x0); !same {
						t.Fatalf("%s: binRing %d changed x", name, k)
					}
					if _, same := firstDiff32(y, y0); !same {
						t.Fatalf("%s: binRing %d changed y", name, k)
					}
				}
			}
		}
	}
}

// TestVecStreamingAliased is TestVecStreaming for inputs that alias
// (streamsAlias): x and y are aligned 1 MiB apart, so the wrapped
// kernels stream through ringStream. Lengths and dst alignments cover
// heads and tails, bodies too short for a ring, and bodies not a
// multiple of the ring step.
func TestVecStreamingAliased(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	defer func(old int) { ntMinElems = old }(ntMinElems)
	const apart = aliasPeriod / 4 // floats
	maxN := 2*ringElems + 300
	slab := make([]float32, apart+maxN+16)
	a := int((64 - uintptr(unsafe.Pointer(&slab[0]))%64) % 64 / 4)
	twin := goVec32()
	for _, tbl := range vecCandidates() {
		for _, n := range []int{1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 79, 80, 127, 128, 129, 200, ringElems - 1, ringElems + 17, maxN} {
			x := slab[a : a+n : a+n]
			y := slab[a+apart : a+apart+n : a+apart+n]
			copy(x, vecInputs(rng, n))
			copy(y, vecInputs(rng, n))
			if !streamsAlias(&x[0], &y[0]) {
				t.Fatalf("x %p and y %p do not alias", &x[0], &y[0])
			}
			for _, off := range []int{0, 1, 7, 15} {
				dst, ok := alignedGuarded(n, off)
				for k := vecBin(0); k < numVecBin; k++ {
					want := make([]float32, n)
					twin.bin[k](want, x, y)
					ntMinElems = 1
					tbl.bin[k](dst, x, y)
					if !ok() {
						t.Fatalf("%s: binary kernel %d n=%d off=%d wrote outside dst", tbl.name, k, n, off)
					}
					if i, same := firstDiff32(dst, want); !same {
						t.Fatalf("%s: binary kernel %d n=%d off=%d: [%d] streamed %v, want %v", tbl.name, k, n, off, i, dst[i], want[i])
					}
				}
			}
			// in place, into either input: y is read ahead of the
			// writes to it, x at the index being written
			for k := vecBin(0); k < numVecBin; k++ {
				x0, y0 := append([]float32(nil), x...), append([]float32(nil), y...)
				want := make([]float32, n)
				twin.bin[k](want, x, y)
				tbl.bin[k](y, x, y)
				if i, same := firstDiff32(y, want); !same {
					t.Fatalf("%s: binary kernel %d n=%d into y: [%d] = %v, want %v", tbl.name, k, n, i, y[i], want[i])
				}
				copy(y, y0)
				tbl.bin[k](x, x, y)
				if i, same := firstDiff32(x, want); !same {
					t.Fatalf("%s: binary kernel %d n=%d into x: [%d] = %v, want %v", tbl.name, k, n, i, x[i], want[i])
				}
				copy(x, x0)
			}
		}
	}
}

// TestStreamsAlias: the inputs alias when their distance is within
// aliasSlack bytes of a multiple of aliasPeriod, either way.
func TestStreamsAlias(t *testing.T) {
	const base = uintptr(1) << 40
	for _, c := range []struct {
		d    int // bytes from x to y
		want bool
	}{
		{0, true}, {64, true}, {-64, true}, {aliasSlack - 4, true}, {aliasSlack, false}, {-aliasSlack + 4, true},
		{4 << 10, false}, {-(4 << 10), false}, {aliasPeriod / 2, false},
		{256 << 20, true}, {256<<20 + 4<<10, false}, {256<<20 - 4<<10, false}, {-(256 << 20), true},
	} {
		if got := addrsAlias(base, uintptr(int(base)+c.d)); got != c.want {
			t.Errorf("addrsAlias(x, x + %d bytes) = %v, want %v", c.d, got, c.want)
		}
	}
}
