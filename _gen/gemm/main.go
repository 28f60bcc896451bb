// Command gemm generates the amd64 GEMM micro-kernels and packing routines
// of github.com/tapir-ml/tapir/backend/cpu: backend/cpu/gemm_amd64.s, its
// Go declarations backend/cpu/gemm_stub_amd64.go, and (-table) the Go
// arrays of each kernel's edge variants (_rH: the first H rows of the
// tile) and narrow variants (_cN: the first vector of N columns),
// backend/cpu/gemm_table_amd64.go.
// Run it through go generate in backend/cpu (see gemm_amd64.go there), or
// by hand from _gen:
//
//	go run ./gemm -table ../backend/cpu/gemm_table_amd64.go -out ../backend/cpu/gemm_amd64.s -stubs ../backend/cpu/gemm_stub_amd64.go -pkg cpu
//
// .ci/check-generated checks that the committed files are what this
// writes.
//
// Every kernel computes one register tile of C = A·B from packed panels:
//
//	for i < MR, j < NR:  c[i·ldc + j] (= or +=) Σ_{p<k} a[p·MR + i] · b[p·NR + j]
//
// a is a panel of MR rows of A stored k-major (MR values per k), b a panel
// of NR columns of B stored k-major (NR values per k). NR is a whole number
// of vectors: each k step loads NR/lanes vectors of b and, for each of the
// MR rows, broadcasts one value of a and multiplies it into NR/lanes
// accumulators, so the whole MR×NR tile stays in registers and the rows of
// C are written with full-width vector stores. backend/cpu/gemm_packed.go
// holds the pure-Go twin of this loop (microRef) and the blocking around it.
// The _ra kernels (rowAKernels) take A unpacked instead, the MR rows of a
// row-major matrix lda elements apart: a[i·lda + p] (microRefRowA); the
// _rb kernels (rowBKernels) take B unpacked, b[p·ldb + j].
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// elem is the element type of a kernel.
type elem struct {
	goType string
	size   int // bytes
	fma    func(ops ...Op)
	fmaB   func(ops ...Op) // fma with an embedded broadcast (AVX-512)
	bcast  func(ops ...Op)
	movu   func(ops ...Op)
	add    func(ops ...Op)
}

var (
	f32 = elem{"float32", 4, VFMADD231PS, VFMADD231PS_BCST, VBROADCASTSS, VMOVUPS, VADDPS}
	f64 = elem{"float64", 8, VFMADD231PD, VFMADD231PD_BCST, VBROADCASTSD, VMOVUPD, VADDPD}
)

// isa is a vector instruction set: its vector width and registers.
type isa struct {
	name  string
	bytes int // vector width
	regs  []VecPhysical
	zero  func(v VecPhysical)
}

var (
	avx2 = isa{"AVX2", 32, []VecPhysical{
		Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15,
	}, func(v VecPhysical) { VXORPS(v, v, v) }}
	avx512 = isa{"AVX512", 64, []VecPhysical{
		Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31,
	}, func(v VecPhysical) { VPXORD(v, v, v) }}
)

// kernel is one micro-kernel: an mr×(nv vectors) tile.
type kernel struct {
	e      elem
	is     isa
	mr, nv int
	unroll int  // k steps per loop iteration
	bcstM  bool // AVX-512: broadcast a from memory inside each FMA
	prefC  bool // prefetch the C tile before the k loop
	prefB  int  // prefetch b this many k steps ahead (0: none)
	rows   int  // rows of the tile computed, for the edge of C (0: mr)
	vecs   int  // vectors of columns computed, for narrow C (0: nv)
	// lateC, with prefC: prefetch the C tile when lateC steps of k are
	// left instead (before the loop if k is shorter)
	lateC int
	// noNarrow: generate no narrow variants (their one vector of columns
	// is nr/2, what the blocking expects, only for two-vector tiles)
	noNarrow bool
	// rowA: read A unpacked, mr rows of a row-major matrix lda elements
	// apart, instead of a packed panel (see rowAKernels)
	rowA bool
	// segs, with rowA or rowB: the k steps come in nseg segments of k
	// each, segment s reading A from a + offs[s] (rowA, see
	// rowASegKernels) or B from b + offs[s] (rowB, see rowBSegKernels)
	segs bool
	// rowB: read B unpacked, nr columns of each of k rows of a row-major
	// matrix ldb elements apart, instead of a packed panel (see
	// rowBKernels)
	rowB bool
}

// narrow returns k computing only the first vector of columns of its
// tile (and rows rows), still reading panels of nr columns: the kernel
// for a last panel of columns at most one vector wide, at half the cost.
func (k kernel) narrow(rows int) kernel {
	k.rows, k.vecs = rows, 1
	return k
}

// edge returns k computing only the first rows rows of its tile, still
// reading a panel of mr rows: the kernel for the last, partial panel of
// rows of C.
func (k kernel) edge(rows int) kernel {
	k.rows = rows
	return k
}

func (k kernel) nr() int { return k.nv * k.is.bytes / k.e.size }

func (k kernel) name() string {
	t := "s"
	if k.e.size == 8 {
		t = "d"
	}
	s := fmt.Sprintf("%sgemm%s_%dx%d", t, k.is.name, k.mr, k.nr())
	if k.vecs > 0 {
		s += fmt.Sprintf("_c%d", k.vecs*k.is.bytes/k.e.size)
	}
	if k.rows > 0 && k.rows < k.mr {
		s += fmt.Sprintf("_r%d", k.rows)
	}
	if k.rowA {
		s += "_ra"
	}
	if k.rowB {
		s += "_rb"
	}
	if k.segs {
		s += "s"
	}
	return s
}

func (k kernel) generate() {
	mr, nv, nr, sz := k.mr, k.nv, k.nr(), k.e.size
	rows := mr // rows computed; a panel still holds mr per k
	if k.rows > 0 {
		rows = k.rows
	}
	if k.vecs > 0 { // vectors computed; a panel still holds nr per k
		nv = k.vecs
	}
	regs := k.is.regs
	acc := func(i, v int) VecPhysical { return regs[i*nv+v] }
	bv := func(v int) VecPhysical { return regs[rows*nv+v] }
	tmp := regs[rows*nv+nv]
	if need := rows*nv + nv + 1; need > len(regs) {
		panic(fmt.Sprintf("%s needs %d vector registers", k.name(), need))
	}

	switch {
	case k.segs && k.rowB:
		TEXT(k.name(), NOSPLIT, fmt.Sprintf("func(k int, a, b *%s, ldb int, offs *int, nseg int, c *%s, ldc int, accum bool)", k.e.goType, k.e.goType))
	case k.segs:
		TEXT(k.name(), NOSPLIT, fmt.Sprintf("func(k int, a *%s, lda int, offs *int, nseg int, b, c *%s, ldc int, accum bool)", k.e.goType, k.e.goType))
	case k.rowA:
		TEXT(k.name(), NOSPLIT, fmt.Sprintf("func(k int, a *%s, lda int, b, c *%s, ldc int, accum bool)", k.e.goType, k.e.goType))
	case k.rowB:
		TEXT(k.name(), NOSPLIT, fmt.Sprintf("func(k int, a, b *%s, ldb int, c *%s, ldc int, accum bool)", k.e.goType, k.e.goType))
	default:
		TEXT(k.name(), NOSPLIT, fmt.Sprintf("func(k int, a, b, c *%s, ldc int, accum bool)", k.e.goType))
	}
	Pragma("noescape")
	switch {
	case k.segs && k.rowB:
		Doc(fmt.Sprintf("%s is %s for the first %d rows of the tile, reading B unpacked in nseg", k.name(), kernel{e: k.e, is: k.is, mr: k.mr, nv: k.nv}.name(), rows),
			fmt.Sprintf("segments of k steps each: Σ_{s<nseg} Σ_{p<k} a[(s·k+p)·%d+i]·b[offs[s]+p·ldb+j].", mr))
	case k.segs:
		Doc(fmt.Sprintf("%s is %s reading A unpacked in nseg segments of k steps each:", k.name(), kernel{e: k.e, is: k.is, mr: k.mr, nv: k.nv}.name()),
			fmt.Sprintf("Σ_{s<nseg} Σ_{p<k} a[offs[s]+i·lda+p]·b[(s·k+p)·%d+j].", nr))
	case k.rowA:
		Doc(fmt.Sprintf("%s is %s reading A unpacked: Σ_{p<k} a[i·lda+p]·b[p·%d+j].", k.name(), kernel{e: k.e, is: k.is, mr: k.mr, nv: k.nv}.name(), nr))
	case k.rowB:
		Doc(fmt.Sprintf("%s is %s for the first %d rows of the tile, reading B unpacked:", k.name(), kernel{e: k.e, is: k.is, mr: k.mr, nv: k.nv}.name(), rows),
			fmt.Sprintf("Σ_{p<k} a[p·%d+i]·b[p·ldb+j].", mr))
	case nv < k.nv:
		Doc(fmt.Sprintf("%s is %s for the first %d columns and %d rows of the tile only.", k.name(), kernel{e: k.e, is: k.is, mr: k.mr, nv: k.nv}.name(), nv*k.is.bytes/sz, rows))
	case rows == mr:
		Doc(fmt.Sprintf("%s sets (accum false) or adds to (accum true) the %d×%d tile of C at c, row stride ldc", k.name(), mr, nr),
			fmt.Sprintf("elements, to Σ_{p<k} a[p·%d+i]·b[p·%d+j], using %s.", mr, nr, k.is.name))
	default:
		Doc(fmt.Sprintf("%s is %s for the first %d rows of the tile only.", k.name(), k.edge(0).name(), rows))
	}
	n := Load(Param("k"), RCX)
	pa := Load(Param("a"), RSI)
	pb := Load(Param("b"), RDX)

	// aRow is where row i of A holds the p-th value of k of the current
	// iteration: packed, a[p·mr + i]; unpacked (rowA), row i of a
	// row-major A, addressed from one of the bases pa, pa+4·lda and
	// pa+8·lda plus 0, 1, 2 or 3 times lda.
	aRow := func(i, p int) Mem { return Mem{Base: pa, Disp: (p*mr + i) * sz} }
	aBases := []Register{pa}
	setBases := func() {}
	// segs: the first row of A (rowA) or B (rowB) in a0, the offsets'
	// next at offs, the segments left in segLeft
	a0, offs, segLeft := RAX, R13, R14
	if k.rowB {
		offs, segLeft = R9, R10
	}
	if k.rowA {
		lda := Load(Param("lda"), R9)
		SHLQ(U8(k.e.shift()), lda)
		l3 := R10
		LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, l3)
		aBases = []Register{pa, R11, R12}[:(mr+3)/4]
		setBases = func() {
			for j := 1; j < len(aBases); j++ {
				LEAQ(Mem{Base: aBases[j-1], Index: lda, Scale: 4}, aBases[j])
			}
		}
		if k.segs {
			MOVQ(pa, a0)
			Load(Param("offs"), offs)
			Load(Param("nseg"), segLeft)
		} else {
			setBases()
		}
		aRow = func(i, p int) Mem {
			m := Mem{Base: aBases[i/4], Disp: p * sz}
			switch i % 4 {
			case 1:
				m.Index, m.Scale = lda, 1
			case 2:
				m.Index, m.Scale = lda, 2
			case 3:
				m.Index, m.Scale = l3, 1
			}
			return m
		}
	}

	// bRow is where the p-th row of B of the current iteration starts:
	// packed, b[p·nr]; unpacked (rowB), b[p·ldb], from pb plus 0, 1, 2 or
	// 3 times ldb.
	bRow := func(p int) Mem { return Mem{Base: pb, Disp: p * nr * sz} }
	var ldb, l3b Register
	if k.rowB {
		ldb, l3b = R11, R12
		Load(Param("ldb"), ldb)
		SHLQ(U8(k.e.shift()), ldb)
		LEAQ(Mem{Base: ldb, Index: ldb, Scale: 2}, l3b)
		bRow = func(p int) Mem {
			switch p {
			case 0:
				return Mem{Base: pb}
			case 1:
				return Mem{Base: pb, Index: ldb, Scale: 1}
			case 2:
				return Mem{Base: pb, Index: ldb, Scale: 2}
			case 3:
				return Mem{Base: pb, Index: l3b, Scale: 1}
			}
			panic("rowB kernels unroll at most 4 steps")
		}
	}
	var pfB Register // rowB with prefB: pb + prefB·ldb, advanced with pb
	setPfB := func() {}
	if k.rowB && k.prefB > 0 {
		pfB = R13
		setPfB = func() {
			IMUL3Q(U32(k.prefB), ldb, pfB)
			ADDQ(pb, pfB)
		}
	}
	if k.rowB && k.segs {
		MOVQ(pb, a0)
		Load(Param("offs"), offs)
		Load(Param("nseg"), segLeft)
	} else {
		setPfB()
	}
	advanceB := func(steps int) {
		ptrs := []Register{pb}
		if pfB != nil {
			ptrs = append(ptrs, pfB)
		}
		for _, r := range ptrs {
			switch {
			case !k.rowB:
				ADDQ(U32(steps*nr*sz), r)
			case steps == 1:
				ADDQ(ldb, r)
			case steps == 4:
				LEAQ(Mem{Base: r, Index: ldb, Scale: 4}, r)
			default:
				panic("rowB kernels advance 1 or 4 steps")
			}
		}
	}

	pc := Load(Param("c"), RDI)
	ldc := Load(Param("ldc"), R8)
	SHLQ(U8(k.e.shift()), ldc)
	prefetchC := func() {
		Comment("prefetch the C tile")
		MOVQ(pc, RBX)
		for i := 0; i < rows; i++ {
			PREFETCHT0(Mem{Base: RBX})
			for off := 64; off < nv*k.is.bytes-64; off += 64 { // rows of more than two lines
				PREFETCHT0(Mem{Base: RBX, Disp: off})
			}
			PREFETCHT0(Mem{Base: RBX, Disp: nv*k.is.bytes - 1})
			ADDQ(ldc, RBX)
		}
	}
	if k.prefC && k.lateC == 0 {
		prefetchC()
	}

	Comment("zero the accumulators")
	for i := 0; i < rows; i++ {
		for v := 0; v < nv; v++ {
			k.is.zero(acc(i, v))
		}
	}

	step := func(p int) {
		if k.rowB && k.prefB > 0 {
			m := bRow(p)
			m.Base = pfB
			for off := 0; off < nv*k.is.bytes; off += 64 {
				m2 := m
				m2.Disp += off
				PREFETCHT0(m2)
			}
		} else if k.prefB > 0 {
			for off := 0; off < nv*k.is.bytes; off += 64 {
				PREFETCHT0(Mem{Base: pb, Disp: (p+k.prefB)*nr*sz + off})
			}
		}
		for v := 0; v < nv; v++ {
			m := bRow(p)
			m.Disp += v * k.is.bytes
			k.e.movu(m, bv(v))
		}
		for i := 0; i < rows; i++ {
			src := aRow(i, p)
			if k.bcstM {
				for v := 0; v < nv; v++ {
					k.e.fmaB(src, bv(v), acc(i, v))
				}
				continue
			}
			k.e.bcast(src, tmp)
			for v := 0; v < nv; v++ {
				k.e.fma(tmp, bv(v), acc(i, v))
			}
		}
	}

	// advanceA moves A on by steps values of k
	advanceA := func(steps int) {
		if !k.rowA {
			ADDQ(U32(steps*mr*sz), pa)
			return
		}
		for _, r := range aBases {
			ADDQ(U32(steps*sz), r)
		}
	}

	// unrolled emits a loop, at label, of k.unroll steps an iteration
	// while at least left + k.unroll steps of k remain, then goes to exit
	unrolled := func(label, exit string, left int) {
		Label(label)
		CMPQ(n, Imm(uint64(left+k.unroll)))
		JL(LabelRef(exit))
		for p := 0; p < k.unroll; p++ {
			step(p)
		}
		advanceA(k.unroll)
		advanceB(k.unroll)
		SUBQ(Imm(uint64(k.unroll)), n)
		JMP(LabelRef(label))
	}
	if k.prefC && k.lateC > 0 {
		Comment(fmt.Sprintf("k loop until %d steps are left, %d steps per iteration", k.lateC, k.unroll))
		unrolled("early", "late", k.lateC)
		Label("late")
		prefetchC()
	}

	tailExit := "store"
	if k.segs {
		tailExit = "next"
		Label("segment")
		if k.rowB {
			Comment("B from b + offs[s] on, k steps")
			MOVQ(Mem{Base: offs}, pb)
			SHLQ(U8(k.e.shift()), pb)
			ADDQ(a0, pb)
			setPfB()
		} else {
			Comment("A from a + offs[s] on, k steps")
			MOVQ(Mem{Base: offs}, pa)
			SHLQ(U8(k.e.shift()), pa)
			ADDQ(a0, pa)
			setBases()
		}
		Load(Param("k"), n)
	}
	Comment(fmt.Sprintf("k loop, %d steps per iteration", k.unroll))
	unrolled("loop", "tail", 0)

	Label("tail")
	TESTQ(n, n)
	JE(LabelRef(tailExit))
	step(0)
	advanceA(1)
	advanceB(1)
	DECQ(n)
	JMP(LabelRef("tail"))

	if k.segs {
		Label("next")
		ADDQ(U8(8), offs)
		DECQ(segLeft)
		JNE(LabelRef("segment"))
	}

	Label("store")
	accum := Load(Param("accum"), R9B)
	TESTB(accum, accum)
	JNE(LabelRef("add"))
	for i := 0; i < rows; i++ {
		for v := 0; v < nv; v++ {
			k.e.movu(acc(i, v), Mem{Base: pc, Disp: v * k.is.bytes})
		}
		if i < rows-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()

	Label("add")
	for i := 0; i < rows; i++ {
		for v := 0; v < nv; v++ {
			k.e.add(Mem{Base: pc, Disp: v * k.is.bytes}, acc(i, v), acc(i, v))
			k.e.movu(acc(i, v), Mem{Base: pc, Disp: v * k.is.bytes})
		}
		if i < rows-1 {
			ADDQ(ldc, pc)
		}
	}
	VZEROUPPER()
	RET()
}

// peak generates fmaPeak<ISA>(n int): n iterations of chains independent
// FMAs on registers only (no memory operands), to measure the core's FMA
// throughput. Each iteration is chains·lanes·2 float32 operations.
func peak(is isa, chains int) {
	name := "fmaPeak" + is.name
	TEXT(name, NOSPLIT, "func(n int)")
	Doc(fmt.Sprintf("%s runs n iterations of %d independent register-only %d-byte float32 FMAs,", name, chains, is.bytes),
		"to measure the peak FMA throughput of one core.")
	n := Load(Param("n"), RCX)
	x, y := is.regs[chains], is.regs[chains+1]
	for i := 0; i < chains+2; i++ {
		is.zero(is.regs[i])
	}
	Label("loop")
	TESTQ(n, n)
	JE(LabelRef("done"))
	for i := 0; i < chains; i++ {
		VFMADD231PS(x, y, is.regs[i])
	}
	DECQ(n)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// packT generates packT<w><R>(dst, src *T, ld, k int): the transposing
// pack, dst[p·R + i] = src[i·ld + p] for i < R, p < k. It copies R rows
// of a row-major block into k-major order: A's panels when A is
// row-major, B's when B is column-major. Each iteration takes L = 16/size
// values of k (one XMM register) from every row: L rows at a time are
// loaded and transposed in registers (4×4 for float32, 2×2 for float64)
// and stored as L contiguous runs; rows past the last whole group of L,
// and the last k mod L values, move one element at a time.
func packT(e elem, rows int) { packTInto(e, rows, rows) }

// packTInto generates packT<w><R>w<W>(dst, src *T, ld, k int) (packT<w><R>
// where W = R): packT for R rows of a panel W ≥ R wide, dst[p·W + i] =
// src[i·ld + p] for i < R, p < k, leaving dst[p·W + i] for i ≥ R alone.
// A panel whose rows come from several runs of a strided source (the
// implicit convolutions' taps) is packed a run at a time.
func packTInto(e elem, rows, width int) { packTGen(e, rows, width, false) }

// packTWide generates packT<w><R>AVX512, packT for float32 with a first
// loop that takes 16 values of k an iteration: the 4×4 transposes of
// four rows run in all four 128-bit lanes of ZMM registers at once, a
// quarter of the shuffles and loads of the XMM loop, and each lane is
// stored where its four values of k go (VEXTRACTF32X4 to memory, a
// store without a shuffle). The XMM loop and the scalar tail then take
// the last k mod 16 values. R must be a multiple of 4. The AVX-512
// float32 kernels pack with these: a 12-row panel from L2
// (BenchmarkPackMLP, CPU ns per element) 0.137 → 0.058, 32 rows 0.129 →
// 0.099, from L3 5–10% faster; the median share of the FMA peak at 1024³
// (BenchmarkSgemmPeakShare, 5 runs of interleaved binaries) 78.1 →
// 78.8%. Prefetching each row 256 to 1024 bytes ahead made them slower.
func packTWide(rows int) { packTGen(f32, rows, rows, true) }

func packTGen(e elem, rows, width int, wide bool) {
	name := fmt.Sprintf("packT%s%d", e.short(), rows)
	if width != rows {
		name += fmt.Sprintf("w%d", width)
	}
	if wide {
		if e.size != 4 || rows%4 != 0 {
			panic("packTWide: float32 and whole groups of 4 rows only")
		}
		name += "AVX512"
	}
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, src *%s, ld, k int)", e.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[p·%d+i] = src[i·ld+p] for i < %d, p < k.", name, width, rows))
	lanes := 16 / e.size
	ld := Load(Param("ld"), R8)
	SHLQ(U8(e.shift()), ld)
	l3, lg := R9, R10 // 3·ld, lanes·ld
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, l3)
	MOVQ(ld, lg)
	SHLQ(U8(map[int]int{2: 1, 4: 2}[lanes]), lg)
	src := Load(Param("src"), RSI)
	dst := Load(Param("dst"), RDI)
	n := Load(Param("k"), RCX)
	t := R11
	row := func(r int) Mem {
		return []Mem{{Base: t}, {Base: t, Index: ld, Scale: 1}, {Base: t, Index: ld, Scale: 2}, {Base: t, Index: l3, Scale: 1}}[r]
	}
	mov, val := MOVL, Register(EAX)
	if e.size == 8 {
		mov, val = MOVQ, RAX
	}
	whole := rows / lanes * lanes

	if wide {
		Comment("16 values of k per iteration")
		Label("wide")
		CMPQ(n, U8(16))
		JL(LabelRef("loop"))
		MOVQ(src, t)
		z := []VecPhysical{Z0, Z1, Z2, Z3}
		for g := 0; g < rows; g += 4 {
			if g > 0 {
				ADDQ(lg, t)
			}
			for r := 0; r < 4; r++ {
				VMOVUPS(row(r), z[r])
			}
			// in each 128-bit lane L, as the XMM loop's 4×4 transpose:
			// out[q] lane L holds rows g…g+3 at k = 4L+q
			VUNPCKLPS(Z1, Z0, Z4)
			VUNPCKLPS(Z3, Z2, Z5)
			VUNPCKHPS(Z1, Z0, Z6)
			VUNPCKHPS(Z3, Z2, Z7)
			VSHUFPS(U8(0x44), Z5, Z4, Z0) // t0.lo t1.lo
			VSHUFPS(U8(0xee), Z5, Z4, Z1) // t0.hi t1.hi
			VSHUFPS(U8(0x44), Z7, Z6, Z2)
			VSHUFPS(U8(0xee), Z7, Z6, Z3)
			x := []VecPhysical{X0, X1, X2, X3}
			for lane := 0; lane < 4; lane++ {
				for q := 0; q < 4; q++ {
					m := Mem{Base: dst, Disp: ((4*lane+q)*width + g) * e.size}
					if lane == 0 {
						VMOVUPS(x[q], m)
					} else {
						VEXTRACTF32X4(U8(lane), z[q], m)
					}
				}
			}
		}
		ADDQ(U8(16*e.size), src)
		ADDQ(U32(16*width*e.size), dst)
		SUBQ(U8(16), n)
		JMP(LabelRef("wide"))
	}

	Comment(fmt.Sprintf("%d values of k per iteration", lanes))
	Label("loop")
	CMPQ(n, U8(lanes))
	JL(LabelRef("tail"))
	MOVQ(src, t)
	for g := 0; g < rows; g += lanes {
		if g > 0 {
			ADDQ(lg, t)
		}
		if g >= whole { // the last rows, one element at a time
			for r := 0; g+r < rows; r++ {
				for j := 0; j < lanes; j++ {
					m := row(r)
					m.Disp = j * e.size
					mov(m, val)
					mov(val, Mem{Base: dst, Disp: (j*width + g + r) * e.size})
				}
			}
			continue
		}
		x := []VecPhysical{X0, X1, X2, X3}
		for r := 0; r < lanes; r++ {
			VMOVUPS(row(r), x[r])
		}
		var out []VecPhysical
		if lanes == 4 {
			// t0 = r0k0 r1k0 r0k1 r1k1, t1 = r2k0 r3k0 r2k1 r3k1,
			// t2 = r0k2 r1k2 r0k3 r1k3, t3 = r2k2 r3k2 r2k3 r3k3
			VUNPCKLPS(X1, X0, X4)
			VUNPCKLPS(X3, X2, X5)
			VUNPCKHPS(X1, X0, X6)
			VUNPCKHPS(X3, X2, X7)
			VMOVLHPS(X5, X4, X0) // k0: t0.lo t1.lo
			VMOVHLPS(X4, X5, X1) // k1: t0.hi t1.hi
			VMOVLHPS(X7, X6, X2) // k2
			VMOVHLPS(X6, X7, X3) // k3
			out = x
		} else {
			VUNPCKLPD(X1, X0, X4) // k0: r0k0 r1k0
			VUNPCKHPD(X1, X0, X5) // k1: r0k1 r1k1
			out = []VecPhysical{X4, X5}
		}
		for j := 0; j < lanes; j++ {
			VMOVUPS(out[j], Mem{Base: dst, Disp: (j*width + g) * e.size})
		}
	}
	ADDQ(U8(lanes*e.size), src)
	ADDQ(U32(lanes*width*e.size), dst)
	SUBQ(U8(lanes), n)
	JMP(LabelRef("loop"))

	Comment("the last k mod lanes values, one at a time")
	Label("tail")
	TESTQ(n, n)
	JE(LabelRef("done"))
	MOVQ(src, t)
	for g := 0; g < rows; g += lanes {
		if g > 0 {
			ADDQ(lg, t)
		}
		for r := 0; r < lanes && g+r < rows; r++ {
			mov(row(r), val)
			mov(val, Mem{Base: dst, Disp: (g + r) * e.size})
		}
	}
	ADDQ(U8(e.size), src)
	ADDQ(U32(width*e.size), dst)
	DECQ(n)
	JMP(LabelRef("tail"))
	Label("done")
	if wide {
		VZEROUPPER()
	}
	RET()
}

// packN generates packN<w><W>(dst, src *T, ld, k int): the plain pack,
// dst[p·W + j] = src[p·ld + j] for j < W, p < k, copying W contiguous
// elements per k with AVX moves: B's panels when B is row-major, A's
// when A is column-major.
func packN(e elem, width int) {
	name := fmt.Sprintf("packN%s%d", e.short(), width)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, src *%s, ld, k int)", e.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[p·%d+j] = src[p·ld+j] for j < %d, p < k.", name, width, width))
	ld := Load(Param("ld"), R8)
	SHLQ(U8(e.shift()), ld)
	src := Load(Param("src"), RSI)
	dst := Load(Param("dst"), RDI)
	cnt := Load(Param("k"), RCX)
	TESTQ(cnt, cnt)
	JE(LabelRef("done"))
	Label("loop")
	bytes := width * e.size
	copyRun(src, dst, bytes)
	ADDQ(ld, src)
	ADDQ(U32(bytes), dst)
	DECQ(cnt)
	JNE(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// copyRun copies bytes bytes from src to dst (registers holding the
// addresses) with AVX moves, widest first.
func copyRun(src, dst Register, bytes int) {
	for off, r := 0, 0; off < bytes; r++ {
		switch {
		case bytes-off >= 32:
			VMOVUPS(Mem{Base: src, Disp: off}, Y(r))
			VMOVUPS(Y(r), Mem{Base: dst, Disp: off})
			off += 32
		case bytes-off >= 16:
			VMOVUPS(Mem{Base: src, Disp: off}, X(r))
			VMOVUPS(X(r), Mem{Base: dst, Disp: off})
			off += 16
		case bytes-off >= 8:
			MOVQ(Mem{Base: src, Disp: off}, RAX)
			MOVQ(RAX, Mem{Base: dst, Disp: off})
			off += 8
		default:
			MOVL(Mem{Base: src, Disp: off}, EAX)
			MOVL(EAX, Mem{Base: dst, Disp: off})
			off += 4
		}
	}
}

// packNRows generates packN<w><W>Rows(dst, src *T, ld, k, panels,
// pstride int): packN<w><W> for panels whole panels side by side, panel j
// from src[j·W] to dst[j·pstride], walked row by row instead of panel by
// panel. Each row of k is read once, panels·W contiguous elements, so the
// hardware prefetchers follow the reads as they would a copy's; the panel
// at a time walk reads W elements of each of k rows ld apart, a new page
// every row or two once ld passes 2 KB. The writes go to one stream per
// panel; pstride should not be a multiple of 4 KB, or every panel's
// lines land in the same L1 set (see bPanelStride in
// backend/cpu/gemm_packed.go). Groups of 2 and 4 rows per panel visit
// (fewer, longer write runs) were tried and were slower from memory than
// one row, about as slow as the panel at a time walk.
func packNRows(e elem, width int) {
	name := fmt.Sprintf("packN%s%dRows", e.short(), width)
	TEXT(name, NOSPLIT, fmt.Sprintf("func(dst, src *%s, ld, k, panels, pstride int)", e.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[j·pstride+p·%d+i] = src[p·ld+j·%d+i] for i < %d, p < k, j < panels.", name, width, width, width))
	bytes := width * e.size
	ld := Load(Param("ld"), R8)
	SHLQ(U8(e.shift()), ld)
	src := Load(Param("src"), RSI)
	dst := Load(Param("dst"), RDI)
	cnt := Load(Param("k"), RCX)
	panels := Load(Param("panels"), R9)
	step := Load(Param("pstride"), R10)
	SHLQ(U8(e.shift()), step)
	TESTQ(cnt, cnt)
	JE(LabelRef("done"))
	TESTQ(panels, panels)
	JE(LabelRef("done"))
	s, d, j := R11, R12, R13
	Label("row")
	MOVQ(src, s)
	MOVQ(dst, d)
	MOVQ(panels, j)
	Label("panel")
	copyRun(s, d, bytes)
	ADDQ(U32(bytes), s)
	ADDQ(step, d)
	DECQ(j)
	JNE(LabelRef("panel"))
	ADDQ(ld, src)
	ADDQ(U32(bytes), dst)
	DECQ(cnt)
	JNE(LabelRef("row"))
	Label("done")
	VZEROUPPER()
	RET()
}

// Y and X name the r-th (mod 16) AVX register.
func Y(r int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[r%16]
}

func X(r int) VecPhysical {
	return []VecPhysical{X0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15}[r%16]
}

func (e elem) short() string {
	if e.size == 8 {
		return "D"
	}
	return "S"
}

func (e elem) shift() int {
	if e.size == 8 {
		return 3
	}
	return 2
}

// kernels lists the generated micro-kernels. The tile shapes and
// prefetch distances were chosen by measurement on an AMD EPYC (Zen 4)
// with BenchmarkSgemm and BenchmarkGemmKernel in backend/cpu: in cache
// every AVX-512 shape tried (12×32, 14×32, 8×48, 6×64, with the a values
// broadcast from memory inside the FMA or into a register first) ran at
// the core's FMA peak, and at 1024³ they were within the machine's noise
// of each other; 12×32 (24 accumulators, 2 vectors of b) wastes least on
// the edges of small and odd sizes. On an Intel Xeon with two 512-bit
// FMA units (215 GFLOP/s a core) the memory broadcasts bound the kernel
// by its loads: each FMA's broadcast is a load, 26 a k step against 24
// FMAs and 2 load ports; a broadcast into a register first (14 loads a
// step) took the float32 kernel in cache from 175 to 190 GFLOP/s, the
// MLP's products (BenchmarkSgemmMLP) from 146–150 to 162–166 and
// BenchmarkSgemm 256–512 up 8–12%, so the float32 AVX-512 kernels
// broadcast into a register (the float64 one, not measured so, keeps the
// memory broadcasts). On that Xeon, with the packed product's block of B
// in L2 (bBlock in backend/cpu), the 12×32 float32 kernel prefetches no
// b: the two prefetches a k step took load slots the broadcasts need,
// and without them the kernel ran 4% faster in cache and 1024³ and 2048³
// 2–5% faster at one thread, the MLP's products alike (interleaved
// binaries, medians of 3). The loads still cost there even when no FMA
// waits for them: a register-only FMA loop (220 GFLOP/s) ran at 183–210
// with 2 to 12 independent 512-bit loads per 24 FMAs added, broadcasts
// costing less than whole vectors, so every shape above tops out at
// 185–205 in cache (12×32, 14×32, 6×64, 8×48 unrolled 1, 2, 4 or 8 times
// all within that noise). The 12×32 kernel prefetches its C tile when
// lateC = 32 steps of k are left rather than before the loop, where
// 6,000 cycles of streaming b at kc = 512 evicted it again: the median
// share of the FMA peak at 1024³ (BenchmarkSgemmPeakShare, 4 runs of
// interleaved binaries) went 78.3 → 79.9%, against 78.5 at 16 steps,
// 78.0 at 48 and 78.2 at 96. AVX2 has 16 vector registers: 6×16 uses 12
// accumulators, 2 vectors of b and a broadcast register.
var kernels = []kernel{
	{e: f32, is: avx512, mr: 12, nv: 2, unroll: 4, prefC: true, lateC: 32},
	{e: f32, is: avx2, mr: 6, nv: 2, unroll: 4, prefC: true, prefB: 8},
	{e: f64, is: avx512, mr: 12, nv: 2, unroll: 4, bcstM: true, prefC: true, prefB: 8},
	{e: f64, is: avx2, mr: 6, nv: 2, unroll: 4, prefC: true, prefB: 8},
	// 8×48 (24 accumulators, 3 vectors of b, 8 broadcasts per k) for
	// products whose M is a multiple of 8 but not of 12: the convolutions'
	// 64 output channels take 8 whole panels instead of 5 and a 4-row edge.
	{e: f32, is: avx512, mr: 8, nv: 3, unroll: 4, prefC: true, prefB: 8, noNarrow: true},
}

// rowAKernels lists the float32 kernels' twins that read A unpacked from
// a row-major matrix (kernel.rowA): where a product would otherwise pack a
// row-major A by transposing it and then use each panel for a few tiles
// only (a Linear layer's forward on a small batch, computed as
// Cᵀ = W·xᵀ), reading the rows where they lie costs less than the
// transposing pack. Full tiles only: the driver packs the last, partial
// panel of rows and takes the edge kernels for it. They prefetch nothing
// of A: prefetching each row 256 bytes ahead once per iteration made the
// 12×32 kernel 5% slower on rows in L1 and no faster on weights rotating
// through L3 (BenchmarkSgemmRowA); the hardware follows the rows' streams.
var rowAKernels = []kernel{
	{e: f32, is: avx512, mr: 12, nv: 2, unroll: 4, prefC: true, prefB: 8, rowA: true},
	{e: f32, is: avx2, mr: 6, nv: 2, unroll: 4, prefC: true, prefB: 8, rowA: true},
}

// rowASegKernels are the rowA kernels over segments of k (kernel.segs):
// a tile of the channels-last convolution (backend/cpu/conv_nhwc.go)
// sums one segment of A per row of the filter, each a shifted view of
// the same image, and one call keeps the tile in registers across them
// instead of storing and reloading it between calls of k = kw·C.
var rowASegKernels = []kernel{
	{e: f32, is: avx512, mr: 12, nv: 2, unroll: 4, prefC: true, prefB: 8, rowA: true, segs: true},
	{e: f32, is: avx2, mr: 6, nv: 2, unroll: 4, prefC: true, prefB: 8, rowA: true, segs: true},
}

// rowBKernels lists the 12×32 float32 kernel's twins, whole and for each
// edge of rows, that read B unpacked from a row-major matrix
// (kernel.rowB): where a product with few rows of A (a training batch's
// activations times a weight stored [in, out]) would pack the whole
// weight, a copy each element of which serves a few tiles only. Rows of
// B ldb apart defeat the hardware's stream prefetch, so these prefetch
// each row's two lines 8 rows ahead: the MLP's raw step
// (BenchmarkMLPStep, one thread, medians of 5) took 3.28 ms with B
// packed, 3.35 unpacked without prefetch, and 3.26, 3.21 and 3.21 with
// prefetch 4, 8 and 16 rows ahead.
var rowBKernels = func() []kernel {
	k := kernel{e: f32, is: avx512, mr: 12, nv: 2, unroll: 4, prefC: true, prefB: 8, rowB: true}
	ks := []kernel{k}
	for r := 1; r < k.mr; r++ {
		ks = append(ks, k.edge(r))
	}
	return ks
}()

// rowBSegKernels are rowBKernels over segments of k (kernel.segs), whole
// and for each edge of rows: the channels-last convolution's weight
// gradient (backend/cpu/conv_nhwc.go) sums over the output positions of
// several output rows at once, each row's positions a run of the image
// apart from the next row's.
var rowBSegKernels = func() []kernel {
	ks := make([]kernel, len(rowBKernels))
	for i, k := range rowBKernels {
		k.segs = true
		ks[i] = k
	}
	return ks
}()

var table = flag.String("table", "", "write the Go table of edge kernels to this file")

// writeTable writes, for each kernel, the Go arrays of its edge kernels:
// <name>Edges[h] computes the first h rows of the tile, <name>Narrow[h]
// the first h rows and one vector of columns (index 0 unused).
func writeTable(path string) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by command: go run main.go %s. DO NOT EDIT.\n\n", strings.Join(os.Args[1:], " "))
	b.WriteString("//go:build amd64 && !purego\n\npackage cpu\n")
	for _, k := range kernels {
		fmt.Fprintf(&b, "\n// %sEdges[h] is %s for the first h rows of its tile only.\n", k.name(), k.name())
		fmt.Fprintf(&b, "var %sEdges = [%d]func(k int, a, b, c *%s, ldc int, accum bool){nil", k.name(), k.mr, k.e.goType)
		for r := 1; r < k.mr; r++ {
			fmt.Fprintf(&b, ", %s", k.edge(r).name())
		}
		b.WriteString("}\n")
		if k.noNarrow {
			continue
		}
		fmt.Fprintf(&b, "\n// %sNarrow[h] is %s for the first h rows and %d columns of its tile only.\n", k.name(), k.name(), k.is.bytes/k.e.size)
		fmt.Fprintf(&b, "var %sNarrow = [%d]func(k int, a, b, c *%s, ldc int, accum bool){nil", k.name(), k.mr+1, k.e.goType)
		for r := 1; r <= k.mr; r++ {
			fmt.Fprintf(&b, ", %s", k.narrow(r).name())
		}
		b.WriteString("}\n")
	}
	// the rowB kernels' edges, ks[0] the whole tile and ks[h] its first h
	// rows, with the parameters between b and c
	rowBEdges := func(ks []kernel, params string) {
		k0 := ks[0]
		fmt.Fprintf(&b, "\n// %sEdges[h] is %s for the first h rows of its tile only.\n", k0.name(), k0.name())
		fmt.Fprintf(&b, "var %sEdges = [%d]func(k int, a, b *%s, %s, c *%s, ldc int, accum bool){nil", k0.name(), k0.mr, k0.e.goType, params, k0.e.goType)
		for _, k := range ks[1:] {
			fmt.Fprintf(&b, ", %s", k.name())
		}
		b.WriteString("}\n")
	}
	rowBEdges(rowBKernels, "ldb int")
	rowBEdges(rowBSegKernels, "ldb int, offs *int, nseg int")
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, src, 0o644); err != nil {
		log.Fatal(err)
	}
}

func main() {
	flag.Parse()
	if *table != "" {
		writeTable(*table)
	}
	ConstraintExpr("amd64,!purego")
	for _, k := range kernels {
		k.generate()
	}
	for _, k := range rowAKernels {
		k.generate()
	}
	for _, k := range rowASegKernels {
		k.generate()
	}
	for _, k := range rowBSegKernels {
		k.generate()
	}
	for _, k := range rowBKernels {
		k.generate()
	}
	for _, k := range kernels {
		for r := 1; r < k.mr; r++ {
			k.edge(r).generate()
		}
		for r := 1; r <= k.mr && !k.noNarrow; r++ {
			k.narrow(r).generate()
		}
	}
	seen := map[string]bool{}
	for _, k := range kernels {
		for _, w := range []int{k.mr, k.nr()} {
			if key := fmt.Sprint(k.e.size, w); !seen[key] {
				seen[key] = true
				if k.is.bytes == 64 && k.e.size == 4 { // whole groups of 4 rows: 12, 32, 8, 48
					packTWide(w)
				} else {
					packT(k.e, w)
				}
				packN(k.e, w)
			}
		}
	}
	// the row-major B and column-major A packers of the float32 kernels
	// (see packNRows)
	for _, w := range []int{32, 48, 16, 12, 8, 6} {
		packNRows(f32, w)
	}
	// the implicit convolutions' weight gradient with 8×48: a panel of
	// 48 columns of the column matrix is three runs of 16 channels
	packTInto(f32, 16, 48)
	peak(avx512, 24)
	peak(avx2, 12)
	Generate()
}
