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
// Three AVX-512 kernels over rows of n float32 values, each taking 64
// values (four vectors) per block so that four independent chains of
// FMAs are in flight. The last block's vectors are masked (an opmask per
// vector from BZHI of the count left, clamped at 0), so nothing outside
// the rows is read or written: masked-off lanes of a memory operand are
// not loaded.
//
//   - dwTapsAVX512: o[i] = Σ_t w[t]·x[offs[t]+i], the t loop innermost
//     (a window row's taps, summed in tap order in each lane).
//   - dwAxpyAVX512: o[i] += a·x[i].
//   - dwDotAVX512:  Σ x[i]·y[i], in four vectors of 16 running sums,
//     added as (s0+s1)+(s2+s3) and then across the lanes by halves.
//
// Their pure-Go twins are dwTapsGo, dwAxpyGo and dwDotGo in
// backend/cpu/depthwise.go.
package main

import (
	"flag"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// blockMasks sets the four opmasks of the block at i: vector j's lanes
// are those below n − i − 16j (clamped to 0…16; BZHI leaves the 16 ones
// whole for counts of 16 and more).
func blockMasks(n, i reg.Register, ks [4]reg.OpmaskVirtual) {
	rem := GP64()
	MOVQ(n, rem)
	SUBQ(i, rem)
	zero, ones, t := GP64(), GP32(), GP32()
	XORQ(zero, zero)
	MOVL(U32(0xffff), ones)
	for j, k := range ks {
		c := GP64()
		MOVQ(rem, c)
		if j > 0 {
			SUBQ(U32(16*j), c)
		}
		CMOVQLT(zero, c)
		BZHIL(c.As32(), ones, t)
		KMOVW(t, k)
	}
}

func genTaps() {
	TEXT("dwTapsAVX512", NOSPLIT, "func(o, x *float32, offs *int, w *float32, n, k int)")
	Pragma("noescape")
	Doc("dwTapsAVX512 sets o[i] = Σ_t w[t]·x[offs[t]+i] for i < n, t < k; n ≥ 1, k ≥ 1.")
	o := Load(Param("o"), GP64())
	x := Load(Param("x"), GP64())
	offs := Load(Param("offs"), GP64())
	w := Load(Param("w"), GP64())
	n := Load(Param("n"), GP64())
	k := Load(Param("k"), GP64())
	ks := [4]reg.OpmaskVirtual{K(), K(), K(), K()}
	i := GP64()
	XORQ(i, i)
	Label("block")
	blockMasks(n, i, ks)
	var acc [4]reg.VecVirtual
	for j := range acc {
		acc[j] = ZMM()
		VXORPS(acc[j], acc[j], acc[j])
	}
	t, p, bw := GP64(), GP64(), ZMM()
	XORQ(t, t)
	Label("tap")
	// p = x + 4·(offs[t] + i)
	MOVQ(Mem{Base: offs, Index: t, Scale: 8}, p)
	ADDQ(i, p)
	LEAQ(Mem{Base: x, Index: p, Scale: 4}, p)
	VBROADCASTSS(Mem{Base: w, Index: t, Scale: 4}, bw)
	for j := range acc {
		VFMADD231PS(Mem{Base: p, Disp: 64 * j}, bw, ks[j], acc[j])
	}
	INCQ(t)
	CMPQ(t, k)
	JLT(LabelRef("tap"))
	for j := range acc {
		VMOVUPS(acc[j], ks[j], Mem{Base: o, Disp: 64 * j})
	}
	ADDQ(U32(64*4), o)
	ADDQ(U8(64), i)
	CMPQ(i, n)
	JLT(LabelRef("block"))
	VZEROUPPER()
	RET()
}

func genAxpy() {
	TEXT("dwAxpyAVX512", NOSPLIT, "func(o, x *float32, n int, a float32)")
	Pragma("noescape")
	Doc("dwAxpyAVX512 adds a·x[i] to o[i] for i < n; n ≥ 1.")
	o := Load(Param("o"), GP64())
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	a := ZMM()
	VBROADCASTSS(Load(Param("a"), XMM()), a)
	ks := [4]reg.OpmaskVirtual{K(), K(), K(), K()}
	i := GP64()
	XORQ(i, i)
	Label("block")
	blockMasks(n, i, ks)
	var v [4]reg.VecVirtual
	for j := range v {
		v[j] = ZMM()
		VMOVUPS_Z(Mem{Base: o, Disp: 64 * j}, ks[j], v[j])
		VFMADD231PS(Mem{Base: x, Disp: 64 * j}, a, ks[j], v[j])
		VMOVUPS(v[j], ks[j], Mem{Base: o, Disp: 64 * j})
	}
	ADDQ(U32(64*4), o)
	ADDQ(U32(64*4), x)
	ADDQ(U8(64), i)
	CMPQ(i, n)
	JLT(LabelRef("block"))
	VZEROUPPER()
	RET()
}

func genDot() {
	TEXT("dwDotAVX512", NOSPLIT, "func(x, y *float32, n int) float32")
	Pragma("noescape")
	Doc("dwDotAVX512 returns Σ x[i]·y[i] over i < n; n ≥ 1.")
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	n := Load(Param("n"), GP64())
	ks := [4]reg.OpmaskVirtual{K(), K(), K(), K()}
	var s [4]reg.VecVirtual
	for j := range s {
		s[j] = ZMM()
		VXORPS(s[j], s[j], s[j])
	}
	i, v := GP64(), ZMM()
	XORQ(i, i)
	Label("block")
	blockMasks(n, i, ks)
	for j := range s {
		VMOVUPS_Z(Mem{Base: y, Disp: 64 * j}, ks[j], v)
		VFMADD231PS(Mem{Base: x, Disp: 64 * j}, v, ks[j], s[j])
	}
	ADDQ(U32(64*4), x)
	ADDQ(U32(64*4), y)
	ADDQ(U8(64), i)
	CMPQ(i, n)
	JLT(LabelRef("block"))
	VADDPS(s[1], s[0], s[0])
	VADDPS(s[3], s[2], s[2])
	VADDPS(s[2], s[0], s[0])
	// lanes 0–7 + 8–15, then 0–3 + 4–7, 0–1 + 2–3, 0 + 1
	h := YMM()
	VEXTRACTF32X8(U8(1), s[0], h)
	lo := s[0].AsY()
	VADDPS(h, lo, lo)
	hx := XMM()
	VEXTRACTF128(U8(1), lo, hx)
	lx := s[0].AsX()
	VADDPS(hx, lx, lx)
	VMOVHLPS(lx, hx, hx)
	VADDPS(hx, lx, lx)
	VMOVSHDUP(lx, hx)
	VADDSS(hx, lx, lx)
	VZEROUPPER()
	Store(lx, ReturnIndex(0))
	RET()
}

func main() {
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	genTaps()
	genAxpy()
	genDot()
	Generate()
}
