//go:build amd64 && !purego

package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// packCase is one assembly packer: its panel width, how many rows of the
// panel it fills (rows < width: packTBRun's partial packer) and whether it
// transposes.
type packCase[T float] struct {
	name        string
	fn          func(dst, src *T, ld, k int)
	rows, width int
	trans       bool
}

// kernelPacks lists kn's assembly packers.
func kernelPacks[T float](kn *microKernel[T]) []packCase[T] {
	var ps []packCase[T]
	for _, p := range []packCase[T]{
		{kn.name + " packTA", kn.packTA, kn.mr, kn.mr, true},
		{kn.name + " packNA", kn.packNA, kn.mr, kn.mr, false},
		{kn.name + " packTB", kn.packTB, kn.nr, kn.nr, true},
		{kn.name + " packNB", kn.packNB, kn.nr, kn.nr, false},
	} {
		if p.fn != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// TestPackers holds every assembly packer this CPU runs (each kernel's
// four, the 8×48 kernel's and packTBRun's, float64's) to an index loop,
// for k = 0…70 (40 with -short: every tail of the transposes' blocks of
// 16 bytes, and of 64 in the AVX-512 float32 ones, and several whole
// blocks), source strides just past the panel and
// far past it, sources starting off a cache line, with guard bands around
// the destination and NaN sentinels in the source between and around the
// rows the packer may read. testPacks (gemm_test.go) covers k ≤ 40 with
// one stride.
func TestPackers(t *testing.T) {
	var ps32 []packCase[float32]
	for _, kn := range gemmCandidates32() {
		ps32 = append(ps32, kernelPacks(kn)...)
	}
	if hasAVX512 {
		ps32 = append(ps32, kernelPacks(sgemmAVX512x8)...)
		part, run := packTBRun(sgemmAVX512x8)
		ps32 = append(ps32, packCase[float32]{"packTBRun(8x48)", part, run, sgemmAVX512x8.nr, true})
	}
	var ps64 []packCase[float64]
	for _, kn := range gemmCandidates64() {
		ps64 = append(ps64, kernelPacks(kn)...)
	}
	for _, p := range ps32 {
		t.Run(p.name, func(t *testing.T) { testPacker(t, p) })
	}
	for _, p := range ps64 {
		t.Run(p.name, func(t *testing.T) { testPacker(t, p) })
	}
}

func testPacker[T float](t *testing.T, p packCase[T]) {
	rng := rand.New(rand.NewPCG(17, uint64(p.rows*100+p.width)))
	maxK := 70
	if testing.Short() {
		maxK = 40
	}
	for k := 0; k <= maxK; k++ {
		// the source is lines rows of span values, ld apart: p.rows rows
		// of k values (trans) or k rows of p.rows values
		lines, span := p.rows, k
		if !p.trans {
			lines, span = k, p.rows
		}
		for _, ld := range []int{span + 3, span + 61} {
			for _, off := range []int{0, 5} {
				name := fmt.Sprintf("k=%d ld=%d off=%d", k, ld, off)
				src := sentinels[T](guard + off + lines*ld + guard)
				base := guard + off
				for r := 0; r < lines; r++ {
					discrete(rng, src[base+r*ld:base+r*ld+span])
				}
				got := sentinels[T](guard + k*p.width + guard)
				discrete(rng, got[guard:guard+k*p.width]) // what a partial packer leaves alone
				want := append([]T(nil), got...)
				for i := 0; i < p.rows; i++ {
					for q := 0; q < k; q++ {
						if p.trans { // dst[q·width + i] = src[i·ld + q]
							want[guard+q*p.width+i] = src[base+i*ld+q]
						} else { // dst[q·width + i] = src[q·ld + i]
							want[guard+q*p.width+i] = src[base+q*ld+i]
						}
					}
				}
				p.fn(&got[guard], &src[base], ld, k)
				for i := range got {
					if !sameValue(got[i], want[i]) {
						t.Fatalf("%s: element %d (panel from %d) is %v, want %v", name, i, guard, got[i], want[i])
					}
				}
			}
		}
	}
}

// TestPackRows holds each row by row packer (packNBRows, packNARows) to
// an index loop: 0…3 panels, k = 0…70, source strides just past the
// panels and far past them, a source off a cache line, panel strides of
// exactly k·w and padded, with NaN sentinels between and around the
// source rows and around and between the destination panels, which must
// stay untouched.
func TestPackRows(t *testing.T) {
	kns := gemmCandidates32()
	if hasAVX512 {
		kns = append(kns, sgemmAVX512x8)
	}
	maxK := 70
	if testing.Short() {
		maxK = 40
	}
	type rowsPacker struct {
		name string
		fn   func(dst, src *float32, ld, k, panels, pstride int)
		nr   int // panel width
	}
	var ps []rowsPacker
	for _, kn := range kns {
		for _, p := range []rowsPacker{{kn.name + " packNBRows", kn.packNBRows, kn.nr}, {kn.name + " packNARows", kn.packNARows, kn.mr}} {
			if p.fn != nil {
				ps = append(ps, p)
			}
		}
	}
	for _, p := range ps {
		fn, nr := p.fn, p.nr
		t.Run(p.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(23, uint64(nr)))
			for panels := 0; panels <= 3; panels++ {
				for k := 0; k <= maxK; k++ {
					span := panels * nr
					for _, ld := range []int{span + 3, span + 61} {
						for _, pad := range []int{0, 16} {
							for _, off := range []int{0, 5} {
								name := fmt.Sprintf("panels=%d k=%d ld=%d pad=%d off=%d", panels, k, ld, pad, off)
								src := sentinels[float32](guard + off + k*ld + guard)
								base := guard + off
								for p := 0; p < k; p++ {
									discrete(rng, src[base+p*ld:base+p*ld+span])
								}
								ps := k*nr + pad
								got := sentinels[float32](guard + panels*ps + guard)
								want := append([]float32(nil), got...)
								for j := 0; j < panels; j++ {
									for p := 0; p < k; p++ {
										for i := 0; i < nr; i++ {
											want[guard+j*ps+p*nr+i] = src[base+p*ld+j*nr+i]
										}
									}
								}
								fn(&got[guard], &src[base], ld, k, panels, ps)
								for i := range got {
									if !sameValue(got[i], want[i]) {
										t.Fatalf("%s: element %d (panels from %d) is %v, want %v", name, i, guard, got[i], want[i])
									}
								}
							}
						}
					}
				}
			}
		})
	}
}

// TestGemmColARowsMatchesGo holds the products whose column-major A is
// packed row by row (packPanelsA with packNARows: A's columns a multiple
// of 1 KB apart, as a weight gradient xᵀ·g's are for a batch x of 256 or
// 512 features) to the pure-Go path, bit for bit, as testGemmAgainstGo
// does: blocks of rows whole and ending in a partial panel, one k block
// and several, a lone partial panel, the kernel's blocking and tiny
// blocks (many blocks of rows), one thread and several.
func TestGemmColARowsMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 7))
	kns := gemmCandidates32()
	if hasAVX512 {
		kns = append(kns, sgemmAVX512x8)
	}
	for _, kn := range kns {
		if kn.packNARows == nil {
			continue
		}
		for _, k := range []*microKernel[float32]{kn, tinyBlocks(kn)} {
			for _, sh := range [][3]int{{8*kn.mr + 5, 64, 128}, {300, 40, 70}, {3 * kn.mr, 33, 1}, {200, 100, 2*kn.kc + 3}, {kn.mr - 1, 50, 20}} {
				m, n, kk := sh[0], sh[1], sh[2]
				if A, _ := guardedMat[float32](m, kk, glColWide); !rowsWalkA[float32](A.cs) {
					t.Fatalf("column stride %d: not packed a column at a time", A.cs)
				}
				for _, threads := range []int{1, 3} {
					checkGemmAgainstGo(t, rng, k, m, n, kk, glColWide, glRow, glRow, threads)
				}
			}
		}
	}
}
