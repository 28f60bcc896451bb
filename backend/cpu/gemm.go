package cpu

import (
	"sync"

	"github.com/tapir-ml/tapir/backend"
)

// The float GEMM follows the BLIS loop structure: B is packed in KC×NC
// blocks into column panels NR wide, A in MC×KC blocks into row panels MR
// tall, and a micro-kernel keeps an MR×NR tile of C in registers while it
// walks K. Packing absorbs any strides, so transposed operands cost no
// extra copy. This is the pure-Go reference the SIMD kernels replace.
//
// The tile is 4×2: Go keeps 15 XMM registers for scalar floats, and 8
// accumulators plus 4 values of A and 2 of B fit without spilling (a 4×4
// tile spills and ran 30–40% slower here).
const (
	gemmMR = 4
	gemmNR = 2
	gemmKC = 256
	gemmMC = 96
	gemmNC = 2048
)

// MatMul implements backend.Backend.
func (*CPU) MatMul(dst, a, b backend.View) {
	switch a.DType() {
	case backend.Float32:
		matmulFloat[float32](dst, a, b)
	case backend.Float64:
		matmulFloat[float64](dst, a, b)
	case backend.Int64:
		matmulInt[int64](dst, a, b)
	case backend.Int32:
		matmulInt[int32](dst, a, b)
	case backend.Uint8:
		matmulInt[uint8](dst, a, b)
	default:
		panic(badDType("matmul", a.DType()))
	}
}

// mat is one strided matrix inside a storage.
type mat[T any] struct {
	data       []T
	off        int
	rows, cols int
	rs, cs     int
}

func (m mat[T]) at(i, j int) T { return m.data[m.off+i*m.rs+j*m.cs] }

// t is m transposed: the same elements with rows and columns swapped.
func (m mat[T]) t() mat[T] { return mat[T]{m.data, m.off, m.cols, m.rows, m.cs, m.rs} }

func batchMats[T any](v backend.View) (data []T, batch, rows, cols, bs, rs, cs int) {
	return slice[T](v.Storage), v.Shape[0], v.Shape[1], v.Shape[2], v.Strides[0], v.Strides[1], v.Strides[2]
}

func matmulFloat[T float](dst, a, b backend.View) {
	_, batch, m, k, _, _, _ := batchMats[T](a)
	n := b.Shape[2]
	p := NumThreads()
	if p > 1 && batch >= p && m*n*k >= 4096 {
		// many small products: one goroutine per batch slice
		parallelFor(batch, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				matmulSlice[T](dst, a, b, i, 1)
			}
		})
		return
	}
	threads := 1
	if m*n*k >= 1<<16 {
		threads = p
	}
	for i := 0; i < batch; i++ {
		matmulSlice[T](dst, a, b, i, threads)
	}
}

// matmulSlice sets batch slice i of dst to the product of a's and b's
// on up to threads goroutines. (A function, not a closure in
// matmulFloat, so that a product on one thread allocates nothing.)
func matmulSlice[T float](dst, a, b backend.View, i, threads int) {
	ad, _, m, k, abs, ars, acs := batchMats[T](a)
	bd, _, _, n, bbs, brs, bcs := batchMats[T](b)
	cd, _, _, _, cbs, crs, ccs := batchMats[T](dst)
	A := mat[T]{ad, a.Offset + i*abs, m, k, ars, acs}
	B := mat[T]{bd, b.Offset + i*bbs, k, n, brs, bcs}
	C := mat[T]{cd, dst.Offset + i*cbs, m, n, crs, ccs}
	gemm(C, A, B, threads)
}

// gemm sets C = A·B using up to threads goroutines: tiny products by
// direct dot products, the rest with the SIMD kernel when there is one
// (gemm_packed.go) and in pure Go otherwise.
func gemm[T float](C, A, B mat[T], threads int) {
	m, n, k := C.rows, C.cols, A.cols
	if m == 0 || n == 0 {
		return
	}
	kn := kernelFor[T]()
	small := smallGemm
	if kn != nil {
		small = smallGemmSIMD
	}
	if m*n*k <= small { // k = 0 too: every dot product is empty
		gemmSmall(C, A, B)
		return
	}
	if kn != nil {
		if m*n*k < simdParallelGemm {
			threads = 1
		}
		gemmPacked(kn, C, A, B, threads)
		return
	}
	gemmGo(C, A, B, threads)
}

// simdParallelGemm is the size (m·n·k) from which the SIMD path splits a
// product across goroutines: below it one core finishes in a few
// microseconds, about what starting the helpers costs.
const simdParallelGemm = 1 << 18

// gemmGo is the pure-Go GEMM, for k ≥ 1. Every goroutine reads one shared
// packed block of B; they split the rows of C when there are enough, and
// the column panels of a block of rows otherwise.
func gemmGo[T float](C, A, B mat[T], threads int) {
	m, n, k := C.rows, C.cols, A.cols
	kc0 := min(k, gemmKC)
	bps := getScratch[T](kc0 * roundUp(min(n, gemmNC), gemmNR))
	defer putScratch(bps)
	bp := *bps
	splitRows := threads > 1 && m >= threads*gemmMR*8
	if threads > 1 && !splitRows && (n+gemmNR-1)/gemmNR < 2*threads {
		threads = 1 // too small to split either way
	}
	for jc := 0; jc < n; jc += gemmNC {
		nc := min(gemmNC, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			packB(bp, B, pc, kc, jc, nc)
			if splitRows {
				// the closure captures copies, so that only this path
				// moves them to the heap
				parts, jc := threads, jc
				parallelFor(parts, 1, func(lo, hi int) {
					aps := getScratch[T](roundUp(gemmMC, gemmMR) * kc0)
					defer putScratch(aps)
					ap := *aps
					for part := lo; part < hi; part++ {
						r0, r1 := rowSplit(m, part, parts)
						for ic := r0; ic < r1; ic += gemmMC {
							mc := min(gemmMC, r1-ic)
							packA(ap, A, ic, mc, pc, kc)
							macroKernel(C, ap, bp, ic, mc, jc, 0, nc, pc, kc)
						}
					}
				})
				continue
			}
			aps := getScratch[T](roundUp(min(m, gemmMC), gemmMR) * kc0)
			ap := *aps
			for ic := 0; ic < m; ic += gemmMC {
				mc := min(gemmMC, m-ic)
				packA(ap, A, ic, mc, pc, kc)
				if threads == 1 { // no closure: one thread allocates nothing
					macroKernel(C, ap, bp, ic, mc, jc, 0, nc, pc, kc)
					continue
				}
				panels, parts, jc := (nc+gemmNR-1)/gemmNR, threads, jc // copies, as above
				parallelFor(parts, 1, func(lo, hi int) {
					for part := lo; part < hi; part++ {
						p0, p1 := panels*part/parts, panels*(part+1)/parts
						macroKernel(C, ap, bp, ic, mc, jc, p0*gemmNR, min(p1*gemmNR, nc), pc, kc)
					}
				})
			}
			putScratch(aps)
		}
	}
}

// smallGemm is the size (m·n·k) up to which packing costs more than it
// saves and gemmSmall's direct loops win; smallGemmSIMD is the same with
// a SIMD kernel (measured: 4×4×4 takes 0.1 µs by dot products and 0.4 µs
// packed, 8×8×8 0.6 µs and 0.5 µs, 16×16×16 4.4 µs and 1 µs).
const (
	smallGemm     = 4096
	smallGemmSIMD = 256
)

// gemmSmall is C = A·B by direct dot products, for tiny float operands
// and for integers.
func gemmSmall[T number](C, A, B mat[T]) {
	for i := 0; i < C.rows; i++ {
		for j := 0; j < C.cols; j++ {
			var s T
			a, b := A.off+i*A.rs, B.off+j*B.cs
			for p := 0; p < A.cols; p++ {
				s += A.data[a] * B.data[b]
				a += A.cs
				b += B.rs
			}
			C.data[C.off+i*C.rs+j*C.cs] = s
		}
	}
}

// rowSplit divides n rows into parts at multiples of gemmMR where it can.
func rowSplit(n, part, parts int) (int, int) {
	q := (n + gemmMR - 1) / gemmMR
	lo, hi := q*part/parts*gemmMR, q*(part+1)/parts*gemmMR
	return min(lo, n), min(hi, n)
}

// macroKernel multiplies the packed rows ic…ic+mc of A by the packed
// columns jr0…jr1 (relative to jc) of B's block into C: it overwrites C
// on the first K block (pc = 0) and accumulates after.
func macroKernel[T float](C mat[T], ap, bp []T, ic, mc, jc, jr0, jr1, pc, kc int) {
	var tile [gemmMR * gemmNR]T
	for jr := jr0; jr < jr1; jr += gemmNR {
		nr := min(gemmNR, jr1-jr)
		bpanel := bp[jr*kc : jr*kc+gemmNR*kc]
		for ir := 0; ir < mc; ir += gemmMR {
			mr := min(gemmMR, mc-ir)
			apanel := ap[ir*kc : ir*kc+gemmMR*kc]
			micro4x2(&tile, apanel, bpanel, kc)
			co := C.off + (ic+ir)*C.rs + (jc+jr)*C.cs
			for i := 0; i < mr; i++ {
				for j := 0; j < nr; j++ {
					p := co + i*C.rs + j*C.cs
					if pc == 0 {
						C.data[p] = tile[i*gemmNR+j]
					} else {
						C.data[p] += tile[i*gemmNR+j]
					}
				}
			}
		}
	}
}

func roundUp(n, m int) int { return (n + m - 1) / m * m }

// packB copies B[pc:pc+kc, jc:jc+nc] into panels of gemmNR columns, each
// stored k-major (NR values per k), zero-padding the last panel.
func packB[T float](bp []T, B mat[T], pc, kc, jc, nc int) {
	for jr := 0; jr < nc; jr += gemmNR {
		nr := min(gemmNR, nc-jr)
		dst := bp[jr*kc : jr*kc+gemmNR*kc]
		base := B.off + pc*B.rs + (jc+jr)*B.cs
		if nr == gemmNR && B.cs == 1 {
			for p := 0; p < kc; p++ {
				src := B.data[base+p*B.rs : base+p*B.rs+gemmNR]
				d := dst[p*gemmNR : p*gemmNR+gemmNR]
				d[0], d[1] = src[0], src[1]
			}
			continue
		}
		for p := 0; p < kc; p++ {
			for j := 0; j < gemmNR; j++ {
				var v T
				if j < nr {
					v = B.data[base+p*B.rs+j*B.cs]
				}
				dst[p*gemmNR+j] = v
			}
		}
	}
}

// packA copies A[ic:ic+mc, pc:pc+kc] into panels of gemmMR rows, each
// stored k-major (MR values per k), zero-padding the last panel.
func packA[T float](ap []T, A mat[T], ic, mc, pc, kc int) {
	for ir := 0; ir < mc; ir += gemmMR {
		mr := min(gemmMR, mc-ir)
		dst := ap[ir*kc : ir*kc+gemmMR*kc]
		base := A.off + (ic+ir)*A.rs + pc*A.cs
		for i := 0; i < gemmMR; i++ {
			if i >= mr {
				for p := 0; p < kc; p++ {
					dst[p*gemmMR+i] = 0
				}
				continue
			}
			row := base + i*A.rs
			if A.cs == 1 {
				src := A.data[row : row+kc]
				for p, v := range src {
					dst[p*gemmMR+i] = v
				}
				continue
			}
			for p := 0; p < kc; p++ {
				dst[p*gemmMR+i] = A.data[row+p*A.cs]
			}
		}
	}
}

// micro4x2 computes the 4×2 tile Σ_p a[p]⊗b[p] with eight register
// accumulators; a holds 4 values per p, b holds 2.
func micro4x2[T float](tile *[gemmMR * gemmNR]T, a, b []T, kc int) {
	var c00, c01, c10, c11, c20, c21, c30, c31 T
	a = a[:kc*gemmMR]
	b = b[:kc*gemmNR]
	for p := 0; p < kc; p++ {
		av := a[gemmMR*p : gemmMR*p+gemmMR : gemmMR*p+gemmMR]
		bv := b[gemmNR*p : gemmNR*p+gemmNR : gemmNR*p+gemmNR]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1 := bv[0], bv[1]
		c00 += a0 * b0
		c10 += a1 * b0
		c20 += a2 * b0
		c30 += a3 * b0
		c01 += a0 * b1
		c11 += a1 * b1
		c21 += a2 * b1
		c31 += a3 * b1
	}
	*tile = [gemmMR * gemmNR]T{c00, c01, c10, c11, c20, c21, c30, c31}
}

// Packing scratch is reused across calls: a 1024³ product would
// otherwise allocate over a megabyte of it per call.
var scratch32, scratch64 sync.Pool

// getScratch returns n elements of packing scratch, behind the pointer
// that putScratch hands back to the pool (a slice put by value would cost
// an allocation for its header on every call).
func getScratch[T float](n int) *[]T {
	p := scratchPool[T]()
	if v, _ := p.Get().(*[]T); v != nil && cap(*v) >= n {
		*v = (*v)[:n]
		return v
	}
	s := make([]T, n)
	return &s
}

func putScratch[T float](s *[]T) { scratchPool[T]().Put(s) }

func scratchPool[T float]() *sync.Pool {
	var z T
	if _, ok := any(z).(float32); ok {
		return &scratch32
	}
	return &scratch64
}

// matmulInt is the integer product: direct dot products per batch
// (integer products are rare; they get no blocked kernel).
func matmulInt[T integer](dst, a, b backend.View) {
	ad, batch, m, k, abs, ars, acs := batchMats[T](a)
	bd, _, _, n, bbs, brs, bcs := batchMats[T](b)
	cd, _, _, _, cbs, crs, ccs := batchMats[T](dst)
	for i := 0; i < batch; i++ {
		gemmSmall(mat[T]{cd, dst.Offset + i*cbs, m, n, crs, ccs},
			mat[T]{ad, a.Offset + i*abs, m, k, ars, acs},
			mat[T]{bd, b.Offset + i*bbs, k, n, brs, bcs})
	}
}
