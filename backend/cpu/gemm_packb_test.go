package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestPackPanelsB holds packPanelsB, for row-major B (the row by row
// packers where a kernel has them, the per-panel packers and the Go loop
// for the last, partial panel) and for column-major B, to an index loop:
// every nc from 1 to three panels and a partial one, kc 1…70, two row
// strides, a block off the matrix's corner, with NaN sentinels around the
// block and in the destination, whose padding between panels
// (bPanelStride) and tail past the last must come out untouched.
func TestPackPanelsB(t *testing.T) {
	kns := []*microKernel[float32]{refKernel[float32](4, 32, 512, 1024, 96), refKernel[float32](3, 5, 512, 1024, 96)}
	for _, kn := range gemmCandidates32() {
		kns = append(kns, kn)
		if alt := altKernel(kn); alt != nil {
			kns = append(kns, alt)
		}
	}
	maxK := 70
	if testing.Short() {
		maxK = 40
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, kn := range kns {
		nr := kn.nr
		t.Run(fmt.Sprintf("%s %dx%d", kn.name, kn.mr, nr), func(t *testing.T) {
			for nc := 1; nc <= 3*nr+nr/2+1; nc++ {
				for kc := 1; kc <= maxK; kc++ {
					for _, col := range []bool{false, true} {
						for _, extra := range []int{3, 61} {
							testPackPanelsB(t, rng, kn, nc, kc, extra, col)
						}
					}
				}
			}
		})
	}
}

func testPackPanelsB(t *testing.T, rng *rand.Rand, kn *microKernel[float32], nc, kc, extra int, col bool) {
	const pc, jc = 2, 3 // the block's corner in B
	rows, cols := pc+kc+1, jc+nc+1
	B := mat[float32]{rows: rows, cols: cols, rs: cols + extra, cs: 1, off: guard}
	if col {
		B.rs, B.cs = 1, rows+extra
	}
	extent := (rows-1)*B.rs + (cols-1)*B.cs + 1
	B.data = make([]float32, guard+extent+guard)
	for i := range B.data {
		B.data[i] = sentinel[float32]()
	}
	for i := pc; i < pc+kc; i++ { // only the block holds numbers
		for j := jc; j < jc+nc; j++ {
			B.data[B.off+i*B.rs+j*B.cs] = float32(rng.IntN(17)-8) / 4
		}
	}
	nr := kn.nr
	ps := bPanelStride[float32](nr, kc)
	panels := (nc + nr - 1) / nr
	got := sentinels[float32](panels*ps + guard)
	want := append([]float32(nil), got...)
	for jp := 0; jp < panels; jp++ {
		for p := 0; p < kc; p++ {
			for j := 0; j < nr; j++ {
				v := float32(0)
				if jj := jp*nr + j; jj < nc {
					v = B.at(pc+p, jc+jj)
				}
				want[jp*ps+p*nr+j] = v
			}
		}
	}
	packPanelsB(kn, got, B, pc, kc, jc, nc)
	for i := range got {
		if !sameValue(got[i], want[i]) {
			t.Fatalf("nc=%d kc=%d rs=%d cs=%d: element %d (panel %d, stride %d) is %v, want %v",
				nc, kc, B.rs, B.cs, i, i/ps, ps, got[i], want[i])
		}
	}
}

// TestBPanelStride checks that the packed panels of B start on cache
// lines, hold kc·nr elements, and are not a multiple of 4 KB apart.
func TestBPanelStride(t *testing.T) {
	for _, nr := range []int{5, 8, 16, 32, 48} {
		for kc := 1; kc <= 1024; kc++ {
			s32, s64 := bPanelStride[float32](nr, kc), bPanelStride[float64](nr, kc)
			for _, c := range []struct{ s, size int }{{s32, 4}, {s64, 8}} {
				if c.s < kc*nr || c.s*c.size%64 != 0 || c.s*c.size%4096 == 0 || c.s > kc*nr+2*64/c.size {
					t.Fatalf("nr=%d kc=%d: stride %d of %d-byte elements", nr, kc, c.s, c.size)
				}
			}
			if kc > 1 && bPanelStride[float32](nr, kc-1) > s32 {
				t.Fatalf("nr=%d: the stride shrinks from kc=%d to %d", nr, kc-1, kc)
			}
		}
	}
}
