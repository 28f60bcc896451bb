// Command depthwise generates the amd64 float32 row kernels of the
// depthwise convolutions of github.com/tapir-ml/tapir/backend/cpu:
// backend/cpu/depthwise_amd64.s and its Go declarations
// backend/cpu/depthwise_stub_amd64.go. Run it through go generate in
// backend/cpu (see depthwise_amd64.go there), or by hand from _gen:
//
//	go run ./depthwise -out ../backend/cpu/depthwise_amd64.s -stubs ../backend/cpu/depthwise_stub_amd64.go -pkg cpu
//
// .ci/check-generated checks that the committed files are what this
// writes.
//
// Four AVX-512 kernels over the rows of a plane, each one call per plane
// (or chunk of rows), so the per-call work of the short rows of small
// planes (28 or 56 values) is paid once. The last, partial vectors of a
// row are masked (opmasks from BZHI of the count left, clamped to 0…16:
// BZHI reads only the count's low byte), so nothing outside the rows is
// read or written: masked-off lanes of a memory operand are not loaded.
//
//   - dwTapsAVX512: o[r·os+i] = Σ_t w[t]·x[r·xs+offs[t]+i], 64 values
//     (four vectors, four independent FMA chains) per block, the t loop
//     innermost (a window's taps, summed in tap order in each lane): the
//     forward rows, and the phases of the input gradient gathered from the
//     padded output gradient.
//   - dwDotAVX512: acc[16t + i mod 16] += dy[r·n+i]·p[r·ps+offs[t]+i], a
//     vector of 16 running sums per tap, for the weight gradient.
//   - dwSplit2AVX512 / dwMerge2AVX512: a row's even and odd columns into
//     two rows and back (VPERMI2PS with two index tables), the phase
//     planes of a column stride of 2.
//
// Their pure-Go twins are dwTapsGo, dwDotGo, dwSplit2Go and dwMerge2Go in
// backend/cpu/depthwise.go.
package main

import (
	"flag"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// blockMasks sets the four opmasks of the block at i: vector j's lanes
// are those below n − i − 16j, clamped to 0…16 (laneMask).
func blockMasks(n, i reg.Register, ks [4]reg.OpmaskVirtual) {
	rem := GP64()
	MOVQ(n, rem)
	SUBQ(i, rem)
	for j, k := range ks {
		c := GP64()
		MOVQ(rem, c)
		if j > 0 {
			SUBQ(U32(16*j), c)
		}
		laneMask(c, k)
	}
}

// laneMask sets k to the lanes below c, c clamped to 0…16 first: BZHI
// reads only the low byte of its count, so a count of 256 or more must
// not reach it unclamped.
func laneMask(c reg.GPVirtual, k reg.OpmaskVirtual) {
	lim, ones, t := GP64(), GP32(), GP32()
	XORQ(lim, lim)
	CMPQ(c, U8(0))
	CMOVQLT(lim, c)
	MOVQ(U32(16), lim)
	CMPQ(c, lim)
	CMOVQGT(lim, c)
	MOVL(U32(0xffff), ones)
	BZHIL(c.As32(), ones, t)
	KMOVW(t, k)
}

// pairMasks sets the opmasks of a block of 32 interleaved values of which
// rem are left (rem ≥ 1): kw[j] the lanes of the j-th vector of the
// interleaved row, ke and ko those of the even (⌈rem/2⌉) and odd
// (⌊rem/2⌋) columns.
func pairMasks(rem reg.Register, kw [2]reg.OpmaskVirtual, ke, ko reg.OpmaskVirtual) {
	for j, k := range kw {
		c := GP64()
		MOVQ(rem, c)
		if j > 0 {
			SUBQ(U8(16), c)
		}
		laneMask(c, k)
	}
	e, o := GP64(), GP64()
	MOVQ(rem, o)
	SHRQ(U8(1), o)
	MOVQ(rem, e)
	SUBQ(o, e)
	laneMask(e, ke)
	laneMask(o, ko)
}

// permTable is a read-only table of 16 lane indices for VPERMI2PS.
func permTable(name string, idx func(i int) int) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(idx(i)))
	}
	return m
}

// tapBlock writes one block of dwTapsAVX512: len(ks) vectors of values
// at o, each the sum over the k taps t of w[t] times the vector at
// xr + 4·offs[t], under the opmasks ks; label names its tap loop.
func tapBlock(o, xr, offs, w, k reg.Register, ks []reg.OpmaskVirtual, label string) {
	acc := make([]reg.VecVirtual, len(ks))
	for j := range acc {
		acc[j] = ZMM()
		VXORPS(acc[j], acc[j], acc[j])
	}
	t, p, bw := GP64(), GP64(), ZMM()
	XORQ(t, t)
	Label(label)
	// p = xr + 4·offs[t]
	MOVQ(Mem{Base: offs, Index: t, Scale: 8}, p)
	LEAQ(Mem{Base: xr, Index: p, Scale: 4}, p)
	VBROADCASTSS(Mem{Base: w, Index: t, Scale: 4}, bw)
	for j := range acc {
		VFMADD231PS(Mem{Base: p, Disp: 64 * j}, bw, ks[j], acc[j])
	}
	INCQ(t)
	CMPQ(t, k)
	JLT(LabelRef(label))
	for j := range acc {
		VMOVUPS(acc[j], ks[j], Mem{Base: o, Disp: 64 * j})
	}
}

func genTaps() {
	TEXT("dwTapsAVX512", NOSPLIT, "func(o, x *float32, offs *int, w *float32, n, k, rows, xs, os int)")
	Pragma("noescape")
	Doc("dwTapsAVX512 sets o[r·os+i] = Σ_t w[t]·x[r·xs+offs[t]+i] for r < rows, i < n, t < k; n, k, rows ≥ 1.")
	orow := Load(Param("o"), GP64())
	x := Load(Param("x"), GP64())
	offs := Load(Param("offs"), GP64())
	w := Load(Param("w"), GP64())
	n := Load(Param("n"), GP64())
	k := Load(Param("k"), GP64())
	rows := Load(Param("rows"), GP64())
	xs := Load(Param("xs"), GP64())
	os := Load(Param("os"), GP64())
	SHLQ(U8(2), xs)
	SHLQ(U8(2), os)
	o := GP64()
	ks := [4]reg.OpmaskVirtual{K(), K(), K(), K()}
	i, xr := GP64(), GP64()
	Label("row")
	XORQ(i, i)
	MOVQ(x, xr)
	MOVQ(orow, o)
	Label("block")
	blockMasks(n, i, ks)
	// a row's last block of 32 values or fewer takes two vectors, not
	// four half-idle ones (rows of 28, as of a stride-2 layer's output).
	left := GP64()
	MOVQ(n, left)
	SUBQ(i, left)
	CMPQ(left, U8(32))
	JLE(LabelRef("short"))
	tapBlock(o, xr, offs, w, k, ks[:], "tap")
	ADDQ(U32(64*4), o)
	ADDQ(U32(64*4), xr)
	ADDQ(U8(64), i)
	CMPQ(i, n)
	JLT(LabelRef("block"))
	JMP(LabelRef("rowend"))
	Label("short")
	tapBlock(o, xr, offs, w, k, ks[:2], "tapshort")
	Label("rowend")
	ADDQ(os, orow)
	ADDQ(xs, x)
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// tapRows writes the loops of dwDotAVX512: for each of
// rows rows (≥ 1), for each tap t < k (≥ 1), the row's n (≥ 1) values in
// blocks of 16, whole ones unmasked, then the last, partial one under
// the opmask of n mod 16 (set once). a is the row of the tap's runs,
// advanced by as elements a row, g the row of n values, advanced by n.
// perTap runs before a tap's blocks with its index; block moves one
// block from ga and ta (the tap's run), masked or not; endTap runs after
// the tap's blocks.
func tapRows(a, g, offs, n, k, rows, as reg.Register, perTap func(t reg.Register), block func(ga, ta reg.Register, km reg.OpmaskVirtual, masked bool), endTap func(t reg.Register)) {
	km := K()
	tail := GP64()
	MOVQ(n, tail)
	ANDQ(U8(15), tail)
	laneMask(tail, km)
	SHLQ(U8(2), as)
	t, ga, ta, cnt := GP64(), GP64(), GP64(), GP64()
	Label("row")
	XORQ(t, t)
	Label("tap")
	perTap(t)
	MOVQ(Mem{Base: offs, Index: t, Scale: 8}, ta)
	LEAQ(Mem{Base: a, Index: ta, Scale: 4}, ta)
	MOVQ(g, ga)
	MOVQ(n, cnt)
	CMPQ(cnt, U8(16))
	JL(LabelRef("tail"))
	Label("whole")
	block(ga, ta, km, false)
	ADDQ(U8(64), ga)
	ADDQ(U8(64), ta)
	SUBQ(U8(16), cnt)
	CMPQ(cnt, U8(16))
	JGE(LabelRef("whole"))
	TESTQ(cnt, cnt)
	JZ(LabelRef("next"))
	Label("tail")
	block(ga, ta, km, true)
	Label("next")
	endTap(t)
	INCQ(t)
	CMPQ(t, k)
	JLT(LabelRef("tap"))
	ADDQ(as, a)
	LEAQ(Mem{Base: g, Index: n, Scale: 4}, g)
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}

func genDot() {
	TEXT("dwDotAVX512", NOSPLIT, "func(acc, dy, p *float32, offs *int, n, k, rows, ps int)")
	Pragma("noescape")
	Doc("dwDotAVX512 adds dy[r·n+i]·p[r·ps+offs[t]+i] to acc[16t + i mod 16] for r < rows, t < k, i < n (in this order); n, k, rows ≥ 1.")
	acc := Load(Param("acc"), GP64())
	g := Load(Param("dy"), GP64())
	p := Load(Param("p"), GP64())
	offs := Load(Param("offs"), GP64())
	n := Load(Param("n"), GP64())
	k := Load(Param("k"), GP64())
	rows := Load(Param("rows"), GP64())
	ps := Load(Param("ps"), GP64())
	s, v, at := ZMM(), ZMM(), GP64()
	tapRows(p, g, offs, n, k, rows, ps, func(t reg.Register) {
		MOVQ(t, at)
		SHLQ(U8(6), at)
		VMOVUPS(Mem{Base: acc, Index: at, Scale: 1}, s)
	}, func(ga, ta reg.Register, km reg.OpmaskVirtual, masked bool) {
		if masked {
			VMOVUPS_Z(Mem{Base: ga}, km, v)
			VFMADD231PS(Mem{Base: ta}, v, km, s)
			return
		}
		VMOVUPS(Mem{Base: ga}, v)
		VFMADD231PS(Mem{Base: ta}, v, s)
	}, func(t reg.Register) {
		VMOVUPS(s, Mem{Base: acc, Index: at, Scale: 1})
	})
}

// pairBody moves one block of 32 interleaved values: at ptrs[0] the
// interleaved row, at ptrs[1] and ptrs[2] its even and odd columns. kw,
// ke and ko are pairMasks' opmasks, used where masked.
type pairBody func(ptrs [3]reg.Register, kw [2]reg.OpmaskVirtual, ke, ko reg.OpmaskVirtual, masked bool)

// pairKernel writes the loops of dwSplit2AVX512 and dwMerge2AVX512: rows
// (≥ 1) rows of n (≥ 1) interleaved values, row y at ptrs[0] + y·rs and
// its even and odd columns at ptrs[1] + y·qs and ptrs[2] + y·qs (strides
// in elements). Each row is whole blocks of 32 unmasked, then the last,
// partial block under the opmasks of n mod 32, set once for all rows.
func pairKernel(ptrs [3]reg.Register, n, rows, rs, qs reg.Register, body pairBody) {
	kw := [2]reg.OpmaskVirtual{K(), K()}
	ke, ko := K(), K()
	tail := GP64()
	MOVQ(n, tail)
	ANDQ(U8(31), tail)
	pairMasks(tail, kw, ke, ko)
	SHLQ(U8(2), rs)
	SHLQ(U8(2), qs)
	cur := [3]reg.Register{GP64(), GP64(), GP64()}
	cnt := GP64()
	Label("row")
	for j := range cur {
		MOVQ(ptrs[j], cur[j])
	}
	MOVQ(n, cnt)
	CMPQ(cnt, U8(32))
	JL(LabelRef("tail"))
	Label("whole")
	body(cur, kw, ke, ko, false)
	ADDQ(U32(128), cur[0])
	ADDQ(U8(64), cur[1])
	ADDQ(U8(64), cur[2])
	SUBQ(U8(32), cnt)
	CMPQ(cnt, U8(32))
	JGE(LabelRef("whole"))
	TESTQ(cnt, cnt)
	JZ(LabelRef("next"))
	Label("tail")
	body(cur, kw, ke, ko, true)
	Label("next")
	ADDQ(rs, ptrs[0])
	ADDQ(qs, ptrs[1])
	ADDQ(qs, ptrs[2])
	DECQ(rows)
	JNZ(LabelRef("row"))
	VZEROUPPER()
	RET()
}

// pairParams loads the parameters that dwSplit2AVX512 and dwMerge2AVX512
// share.
func pairParams() (n, rows, rs, qs reg.Register) {
	return Load(Param("n"), GP64()), Load(Param("rows"), GP64()), Load(Param("rs"), GP64()), Load(Param("qs"), GP64())
}

func genSplit2(even, odd Mem) {
	TEXT("dwSplit2AVX512", NOSPLIT, "func(a, b, r *float32, n, rows, rs, qs int)")
	Pragma("noescape")
	Doc("dwSplit2AVX512 sets a[y·qs+i] = r[y·rs+2i] and b[y·qs+i] = r[y·rs+2i+1] for y < rows and 2i < n, 2i+1 < n; n, rows ≥ 1.")
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	r := Load(Param("r"), GP64())
	n, rows, rs, qs := pairParams()
	ie, io := ZMM(), ZMM()
	VMOVUPS(even, ie)
	VMOVUPS(odd, io)
	pairKernel([3]reg.Register{r, a, b}, n, rows, rs, qs, func(p [3]reg.Register, kw [2]reg.OpmaskVirtual, ke, ko reg.OpmaskVirtual, masked bool) {
		v0, v1, e, o := ZMM(), ZMM(), ZMM(), ZMM()
		if masked {
			VMOVUPS_Z(Mem{Base: p[0]}, kw[0], v0)
			VMOVUPS_Z(Mem{Base: p[0], Disp: 64}, kw[1], v1)
		} else {
			VMOVUPS(Mem{Base: p[0]}, v0)
			VMOVUPS(Mem{Base: p[0], Disp: 64}, v1)
		}
		VMOVAPS(ie, e)
		VPERMI2PS(v1, v0, e)
		VMOVAPS(io, o)
		VPERMI2PS(v1, v0, o)
		if masked {
			VMOVUPS(e, ke, Mem{Base: p[1]})
			VMOVUPS(o, ko, Mem{Base: p[2]})
		} else {
			VMOVUPS(e, Mem{Base: p[1]})
			VMOVUPS(o, Mem{Base: p[2]})
		}
	})
}

func genMerge2(lo, hi Mem) {
	TEXT("dwMerge2AVX512", NOSPLIT, "func(r, a, b *float32, n, rows, rs, qs int)")
	Pragma("noescape")
	Doc("dwMerge2AVX512 sets r[y·rs+2i] = a[y·qs+i] and r[y·rs+2i+1] = b[y·qs+i] for y < rows and 2i < n, 2i+1 < n; n, rows ≥ 1.")
	r := Load(Param("r"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	n, rows, rs, qs := pairParams()
	il, ih := ZMM(), ZMM()
	VMOVUPS(lo, il)
	VMOVUPS(hi, ih)
	pairKernel([3]reg.Register{r, a, b}, n, rows, rs, qs, func(p [3]reg.Register, kw [2]reg.OpmaskVirtual, ke, ko reg.OpmaskVirtual, masked bool) {
		va, vb, l, h := ZMM(), ZMM(), ZMM(), ZMM()
		if masked {
			VMOVUPS_Z(Mem{Base: p[1]}, ke, va)
			VMOVUPS_Z(Mem{Base: p[2]}, ko, vb)
		} else {
			VMOVUPS(Mem{Base: p[1]}, va)
			VMOVUPS(Mem{Base: p[2]}, vb)
		}
		VMOVAPS(il, l)
		VPERMI2PS(vb, va, l)
		VMOVAPS(ih, h)
		VPERMI2PS(vb, va, h)
		if masked {
			VMOVUPS(l, kw[0], Mem{Base: p[0]})
			VMOVUPS(h, kw[1], Mem{Base: p[0], Disp: 64})
		} else {
			VMOVUPS(l, Mem{Base: p[0]})
			VMOVUPS(h, Mem{Base: p[0], Disp: 64})
		}
	})
}

func main() {
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	// VPERMI2PS indices over two vectors (0–15 the first, 16–31 the
	// second): the even and odd lanes of a pair of vectors, and the
	// interleaving of two vectors' low and high halves.
	even := permTable("dwpermeven", func(i int) int { return 2 * i })
	odd := permTable("dwpermodd", func(i int) int { return 2*i + 1 })
	lo := permTable("dwpermlo", func(i int) int { return i/2 + 16*(i%2) })
	hi := permTable("dwpermhi", func(i int) int { return 8 + i/2 + 16*(i%2) })
	genTaps()
	genDot()
	genSplit2(even, odd)
	genMerge2(lo, hi)
	Generate()
}
