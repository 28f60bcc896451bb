package cpu

import (
	"github.com/tapir-ml/tapir/backend"
)

// The float GEMM follows the BLIS loop structure: B is packed in KC×NC
// blocks into column panels NR wide, A in MC×KC blocks into row panels MR
// tall, and a micro-kernel keeps an MR×NR tile of C in registers while it
// walks K. Packing absorbs any strides, so transposed operands cost no
// extra copy. This is the pure-Go reference the SIMD kernels replace.
const (
	gemmMR = 4
	gemmNR = 4
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
		matmulNaive[int64](dst, a, b)
	case backend.Int32:
		matmulNaive[int32](dst, a, b)
	case backend.Uint8:
		matmulNaive[uint8](dst, a, b)
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

func batchMats[T any](v backend.View) (data []T, batch, rows, cols, bs, rs, cs int) {
	return slice[T](v.Storage), v.Shape[0], v.Shape[1], v.Shape[2], v.Strides[0], v.Strides[1], v.Strides[2]
}

func matmulFloat[T float](dst, a, b backend.View) {
	ad, batch, m, k, abs, ars, acs := batchMats[T](a)
	bd, _, _, n, bbs, brs, bcs := batchMats[T](b)
	cd, _, _, _, cbs, crs, ccs := batchMats[T](dst)
	work := m * n * k
	p := NumThreads()
	one := func(i int, split bool) {
		A := mat[T]{ad, a.Offset + i*abs, m, k, ars, acs}
		B := mat[T]{bd, b.Offset + i*bbs, k, n, brs, bcs}
		C := mat[T]{cd, dst.Offset + i*cbs, m, n, crs, ccs}
		if !split {
			gemm(C, A, B)
			return
		}
		gemmParallel(C, A, B, p)
	}
	switch {
	case p > 1 && batch >= p && work >= 4096:
		parallelFor(batch, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				one(i, false)
			}
		})
	default:
		split := p > 1 && work >= 1<<16
		for i := 0; i < batch; i++ {
			one(i, split)
		}
	}
}

// gemmParallel splits C into p blocks along its longer side.
func gemmParallel[T float](C, A, B mat[T], p int) {
	if C.rows >= C.cols {
		parts := min(p, (C.rows+gemmMR-1)/gemmMR)
		parallelFor(parts, 1, func(lo, hi int) {
			for part := lo; part < hi; part++ {
				r0, r1 := rowSplit(C.rows, part, parts)
				c, a := C, A
				c.off += r0 * C.rs
				c.rows = r1 - r0
				a.off += r0 * A.rs
				a.rows = r1 - r0
				gemm(c, a, B)
			}
		})
		return
	}
	parts := min(p, (C.cols+gemmNR-1)/gemmNR)
	parallelFor(parts, 1, func(lo, hi int) {
		for part := lo; part < hi; part++ {
			c0, c1 := rowSplit(C.cols, part, parts)
			c, b := C, B
			c.off += c0 * C.cs
			c.cols = c1 - c0
			b.off += c0 * B.cs
			b.cols = c1 - c0
			gemm(c, A, b)
		}
	})
}

// rowSplit divides n into parts at multiples of 4 where it can.
func rowSplit(n, part, parts int) (int, int) {
	q := (n + 3) / 4
	lo, hi := q*part/parts*4, q*(part+1)/parts*4
	return min(lo, n), min(hi, n)
}

// gemm sets C = A·B on one goroutine.
func gemm[T float](C, A, B mat[T]) {
	m, n, k := C.rows, C.cols, A.cols
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				C.data[C.off+i*C.rs+j*C.cs] = 0
			}
		}
		return
	}
	kc0 := min(k, gemmKC)
	bp := make([]T, kc0*roundUp(min(n, gemmNC), gemmNR))
	ap := make([]T, roundUp(min(m, gemmMC), gemmMR)*kc0)
	var tile [gemmMR * gemmNR]T
	for jc := 0; jc < n; jc += gemmNC {
		nc := min(gemmNC, n-jc)
		for pc := 0; pc < k; pc += gemmKC {
			kc := min(gemmKC, k-pc)
			packB(bp, B, pc, kc, jc, nc)
			for ic := 0; ic < m; ic += gemmMC {
				mc := min(gemmMC, m-ic)
				packA(ap, A, ic, mc, pc, kc)
				for jr := 0; jr < nc; jr += gemmNR {
					nr := min(gemmNR, nc-jr)
					bpanel := bp[jr*kc : jr*kc+gemmNR*kc]
					for ir := 0; ir < mc; ir += gemmMR {
						mr := min(gemmMR, mc-ir)
						apanel := ap[ir*kc : ir*kc+gemmMR*kc]
						micro4x4(&tile, apanel, bpanel, kc)
						// store: overwrite on the first K block, add after
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
				d[0], d[1], d[2], d[3] = src[0], src[1], src[2], src[3]
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

// micro4x4 computes the 4×4 tile Σ_p a[p]⊗b[p] with sixteen register
// accumulators.
func micro4x4[T float](tile *[gemmMR * gemmNR]T, a, b []T, kc int) {
	var c00, c01, c02, c03, c10, c11, c12, c13 T
	var c20, c21, c22, c23, c30, c31, c32, c33 T
	a = a[:kc*4]
	b = b[:kc*4]
	for p := 0; p < len(a); p += 4 {
		av := a[p : p+4 : p+4]
		bv := b[p : p+4 : p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	*tile = [16]T{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33}
}

func matmulNaive[T integer](dst, a, b backend.View) {
	ad, batch, m, k, abs, ars, acs := batchMats[T](a)
	bd, _, _, n, bbs, brs, bcs := batchMats[T](b)
	cd, _, _, _, cbs, crs, ccs := batchMats[T](dst)
	for bi := 0; bi < batch; bi++ {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var s T
				for p := 0; p < k; p++ {
					s += ad[a.Offset+bi*abs+i*ars+p*acs] * bd[b.Offset+bi*bbs+p*brs+j*bcs]
				}
				cd[dst.Offset+bi*cbs+i*crs+j*ccs] = s
			}
		}
	}
}
