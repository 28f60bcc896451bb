package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestVecStreaming: with the streaming threshold lowered, every kernel of
// every assembly table splits its output into an unaligned head, a body
// of whole lines written with non-temporal stores and a tail. Its result
// must be the plain kernel's, bit for bit, for each alignment of dst
// within a line (offsets 0–15 floats from a 64-byte boundary) and lengths
// around the split points, with nothing written outside dst.
func TestVecStreaming(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	defer func(old int) { ntMinElems = old }(ntMinElems)
	lengths := []int{1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 63, 64, 65, 100, 1000, 4099}
	for _, tbl := range vecCandidates() {
		for _, n := range lengths {
			for off := 0; off < 16; off++ {
				x, y := vecInputs(rng, n), vecInputs(rng, n)
				dst, ok := alignedGuarded(n, off)
				for k := vecUn(0); k < numVecUn; k++ {
					ntMinElems = math.MaxInt
					want := make([]float32, n)
					tbl.un[k](want, x, 1.25, 2.5)
					ntMinElems = 1
					tbl.un[k](dst, x, 1.25, 2.5)
					if !ok() {
						t.Fatalf("%s: kernel %d n=%d off=%d wrote outside dst", tbl.name, k, n, off)
					}
					for i := range dst {
						if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: kernel %d n=%d off=%d: [%d] streamed %v, plain %v", tbl.name, k, n, off, i, dst[i], want[i])
						}
					}
				}
				for k := vecBin(0); k < numVecBin; k++ {
					ntMinElems = math.MaxInt
					want := make([]float32, n)
					tbl.bin[k](want, x, y)
					ntMinElems = 1
					tbl.bin[k](dst, x, y)
					if !ok() {
						t.Fatalf("%s: binary kernel %d n=%d off=%d wrote outside dst", tbl.name, k, n, off)
					}
					for i := range dst {
						if math.Float32bits(dst[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s: binary kernel %d n=%d off=%d: [%d] streamed %v, plain %v", tbl.name, k, n, off, i, dst[i], want[i])
						}
					}
				}
			}
		}
	}
}

// alignedGuarded returns n floats starting off floats past a 64-byte
// boundary, inside guard bands of vecGuard marked values, and a check
// that the bands are intact.
func alignedGuarded(n, off int) (dst []float32, ok func() bool) {
	const mark = 0x7fa5a5a5
	const pad = 48 // whole lines, at least vecGuard floats
	buf := make([]float32, 15+pad+15+n+vecGuard)
	lead := int((64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64 / 4) // the first aligned index
	start := lead + pad + off
	for i := range buf {
		buf[i] = math.Float32frombits(mark)
	}
	dst = buf[start : start+n : start+n]
	return dst, func() bool {
		for i := start - vecGuard; i < start; i++ {
			if math.Float32bits(buf[i]) != mark {
				return false
			}
		}
		for i := start + n; i < start+n+vecGuard; i++ {
			if math.Float32bits(buf[i]) != mark {
				return false
			}
		}
		return true
	}
}

// TestNTSplit: the head reaches the first 64-byte boundary, the body is
// whole lines, and the parts add up to n.
func TestNTSplit(t *testing.T) {
	buf := make([]float32, 200)
	for s := 0; s < 32; s++ {
		for _, n := range []int{0, 1, 15, 16, 17, 64, 100} {
			p := &buf[s]
			h, m := ntSplit(p, n)
			if h+m > n || m%16 != 0 || h < 0 || m < 0 {
				t.Fatalf("ntSplit(start %d, %d) = %d, %d", s, n, h, m)
			}
			if m > 0 && (uintptr(unsafe.Pointer(p))+uintptr(4*h))%64 != 0 {
				t.Fatalf("ntSplit(start %d, %d): body at %d is not 64-byte aligned", s, n, h)
			}
			if m == 0 && n-h >= 16 {
				t.Fatalf("ntSplit(start %d, %d) = %d, %d: a whole line was left out", s, n, h, m)
			}
		}
	}
}
