//go:build amd64 && !purego

package cpu

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkPackMLP runs the float32 packers of the AVX-512 12×32 kernel
// alone on the operands of one MLP training step (see BenchmarkSgemmMLP),
// in the blocks gemmPacked hands them: every whole panel of the operand
// per pass, into one destination buffer the size of the driver's. It
// reports ns per packed element of the locked thread's CPU time.
//
// Where the source comes from decides the packers' speed, so each case
// runs in three places: hot (one copy, the small cases only: in L2), L3
// (the source rotates among copies of 4 MB in all) and mem (32 MB: past
// L3 on a loaded machine, and past the reach of the TLB). The training
// step's packers, profiled, run between the L3 and mem rows.
func BenchmarkPackMLP(b *testing.B) {
	if !hasAVX512 {
		b.Skip("no AVX-512")
	}
	kn := sgemmAVX512
	cases := []struct {
		name       string
		fn         func(dst, src *float32, ld, k int)
		w          int  // panel width
		trans      bool // packT: w rows of k values; else k rows of w values
		rows, cols int  // the source matrix, row-major
		kc         int  // k block
		hot        bool // small enough for L2
	}{
		{"TB32_fwd1", kn.packTB, 32, true, 512, 784, 392, false},
		{"TB32_fwd2", kn.packTB, 32, true, 512, 512, 512, false},
		{"NB32_dx2", kn.packNB, 32, false, 512, 512, 512, false},
		{"NB32_dw1", kn.packNB, 32, false, 128, 784, 128, false},
		{"TA12_fwd1", kn.packTA, 12, true, 128, 784, 392, false},
		{"NA12_dw2", kn.packNA, 12, false, 128, 512, 128, false},
		{"TB32", kn.packTB, 32, true, 32, 784, 256, true},
		{"NB32", kn.packNB, 32, false, 256, 64, 256, true},
		{"TA12", kn.packTA, 12, true, 12, 784, 392, true},
		{"NA12", kn.packNA, 12, false, 128, 24, 128, true},
	}
	for _, c := range cases {
		for _, place := range packPlaces {
			if c.hot != (place.mb == 0) {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", c.name, place.name), func(b *testing.B) {
				benchPack(b, c.fn, c.w, c.trans, c.rows, c.cols, c.kc, place.mb)
			})
		}
	}
}

// packPlaces are where a packing benchmark's source comes from: MB of
// copies it rotates among (0: one copy, hot in L2; 4: L3; 32: memory).
var packPlaces = []struct {
	name string
	mb   int
}{{"hot", 0}, {"L3", 4}, {"mem", 32}}

// benchPack packs every whole panel of a rows×cols row-major source per
// pass, with k blocks of kc, the source rotating among copies of mb MB in
// all (at least one).
func benchPack(b *testing.B, fn func(dst, src *float32, ld, k int), w int, trans bool, rows, cols, kc, mb int) {
	srcs := packSources(rows*cols, mb)
	copies := len(srcs)
	// panels: w rows (trans) or w columns (not) at a time
	panels, k := rows/w, cols
	if !trans {
		panels, k = cols/w, rows
	}
	dst := make([]float32, panels*w*kc)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	elems := 0
	for i := 0; b.Loop(); i++ {
		src := srcs[i%copies]
		for pc := 0; pc < k; pc += kc {
			kcc := min(kc, k-pc)
			for j := 0; j < panels; j++ {
				off := j*w*cols + pc // w rows from row j·w, columns from pc
				if !trans {
					off = pc*cols + j*w // rows from pc, w columns from j·w
				}
				fn(&dst[j*w*kcc], &src[off], cols, kcc)
			}
			elems += panels * w * kcc
		}
	}
	b.ReportMetric((threadCPU()-t0)*1e9/float64(elems), "ns/elem-cpu")
}

// BenchmarkPackB runs packPanelsB on the B blocks of the MLP step's
// products, one whole block per call as gemmPacked hands it, in the hot,
// L3 and mem places of BenchmarkPackMLP, for each float32 kernel with a
// row by row packer. Row-major: dx2 (the 512×512 weight, k = 512), dw1,
// dw2 (the 128×784 and 128×512 activations, k = 128), dx3 (the 10×512
// weight), "rows" as the driver runs it, "panel" with packNBRows unset
// (the panel at a time walk, into the same padded panels). Column-major
// (the forward products x·Wᵀ): fwd1 (W1 [512,784], kc 392) and fwd2 (W2
// [512,512]), "panel" as the driver runs it (packTB a panel at a time),
// in the L3 and mem places. It reports ns per packed element of the
// locked thread's CPU time.
func BenchmarkPackB(b *testing.B) {
	kns := gemmCandidates32()
	if hasAVX512 {
		kns = append(kns, sgemmAVX512x8)
	}
	cases := []struct {
		name           string
		rows, cols, kc int // B is rows×cols (k×n)
		col            bool
	}{{"dx2", 512, 512, 512, false}, {"dw1", 128, 784, 128, false}, {"dw2", 128, 512, 128, false}, {"dx3", 10, 512, 10, false},
		{"fwd1", 784, 512, 392, true}, {"fwd2", 512, 512, 512, true}}
	for _, kn := range kns {
		if kn.packNBRows == nil {
			continue
		}
		panel := *kn
		panel.packNBRows = nil
		for _, c := range cases {
			for _, place := range packPlaces {
				if c.col && place.mb == 0 {
					continue // 1.6 and 1 MB: no hot place
				}
				variants := []struct {
					name string
					kn   *microKernel[float32]
				}{{"rows", kn}, {"panel", &panel}}
				if c.col { // one walk
					variants = variants[1:]
				}
				for _, v := range variants {
					b.Run(fmt.Sprintf("%dx%d/%s/%s/%s", kn.mr, kn.nr, c.name, place.name, v.name), func(b *testing.B) {
						benchPackB(b, v.kn, c.rows, c.cols, c.kc, c.col, place.mb)
					})
				}
			}
		}
	}
}

// benchPackB packs a rows×cols B, row-major or (col) column-major, in
// blocks of kc rows and all its columns (at most the kernel's nc at once)
// per pass, the source rotating among copies of mb MB in all (at least
// one).
func benchPackB(b *testing.B, kn *microKernel[float32], rows, cols, kc int, col bool, mb int) {
	srcs := packSources(rows*cols, mb)
	copies := len(srcs)
	ncMax := min(roundUp(cols, kn.nr), roundUp(kn.nc, kn.nr))
	var buf packBuf[float32]
	bp := buf.aligned(ncMax / kn.nr * bPanelStride[float32](kn.nr, kc))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	elems := 0
	for i := 0; b.Loop(); i++ {
		B := mat[float32]{srcs[i%copies], 0, rows, cols, cols, 1}
		if col {
			B.rs, B.cs = 1, rows
		}
		for jc := 0; jc < cols; jc += ncMax {
			nc := min(ncMax, cols-jc)
			for pc := 0; pc < rows; pc += kc {
				kcc := min(kc, rows-pc)
				packPanelsB(kn, bp, B, pc, kcc, jc, nc)
				elems += nc * kcc
			}
		}
	}
	b.ReportMetric((threadCPU()-t0)*1e9/float64(elems), "ns/elem-cpu")
}

// packSources returns copies of a source of size elements, as many as
// fill mb MB (at least one), for a packing benchmark to rotate among so
// that its source comes from L3 or memory rather than L2.
func packSources(size, mb int) [][]float32 {
	srcs := make([][]float32, max(1, (mb<<20)/(4*size)))
	for i := range srcs {
		srcs[i] = make([]float32, size)
		for j := range srcs[i] {
			srcs[i][j] = float32(j % 1000)
		}
	}
	return srcs
}

// BenchmarkPackA runs packPanelsA on the column-major A blocks of the MLP
// step's weight gradients xᵀ·g (dw1: x [128,784], dw2: h [128,512], k =
// 128), a block of mc rows of A per call as gemmPacked hands them, in the
// hot, L3 and mem places of BenchmarkPackMLP, for each float32 kernel
// with a row by row packer: "rows" as the driver runs it (packNARows
// where rowsWalkA takes the stride: dw2's 512 columns, not dw1's 784),
// "panel" with packNARows unset (packNA a panel at a time). It reports ns
// per packed element of the locked thread's CPU time.
func BenchmarkPackA(b *testing.B) {
	kns := gemmCandidates32()
	if hasAVX512 {
		kns = append(kns, sgemmAVX512x8)
	}
	cases := []struct {
		name       string
		rows, cols int // the source x, rows×cols row-major: A = xᵀ is cols×rows, k = rows
	}{{"dw1", 128, 784}, {"dw2", 128, 512}}
	for _, kn := range kns {
		if kn.packNARows == nil {
			continue
		}
		panel := *kn
		panel.packNARows = nil
		for _, c := range cases {
			for _, place := range packPlaces {
				for _, v := range []struct {
					name string
					kn   *microKernel[float32]
				}{{"rows", kn}, {"panel", &panel}} {
					b.Run(fmt.Sprintf("%dx%d/%s/%s/%s", kn.mr, kn.nr, c.name, place.name, v.name), func(b *testing.B) {
						benchPackA(b, v.kn, c.rows, c.cols, place.mb)
					})
				}
			}
		}
	}
}

// benchPackA packs A = xᵀ for a rows×cols row-major x (k = rows, one k
// block), in blocks of the kernel's mc rows of A, the whole panels of
// each, per pass, the source rotating among copies of mb MB in all (at
// least one).
func benchPackA(b *testing.B, kn *microKernel[float32], rows, cols, mb int) {
	srcs := packSources(rows*cols, mb)
	copies := len(srcs)
	mc := roundUp(kn.mc, kn.mr)
	var buf packBuf[float32]
	ap := buf.aligned(mc * rows)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	elems := 0
	for i := 0; b.Loop(); i++ {
		A := mat[float32]{srcs[i%copies], 0, cols, rows, 1, cols}
		for ic := 0; ic < cols; ic += mc {
			whole := min(mc, cols-ic) / kn.mr * kn.mr
			packPanelsA(kn, ap, A, ic, whole, 0, rows)
			elems += whole * rows
		}
	}
	b.ReportMetric((threadCPU()-t0)*1e9/float64(elems), "ns/elem-cpu")
}
