// Command pool generates the amd64 float32 max-pool kernels of
// github.com/tapir-ml/tapir/backend/cpu: backend/cpu/pool_amd64.s and its
// Go declarations backend/cpu/pool_stub_amd64.go. Run it through go
// generate in backend/cpu (see pool_amd64.go there), or by hand from _gen:
//
//	go run ./pool -out ../backend/cpu/pool_amd64.s -stubs ../backend/cpu/pool_stub_amd64.go -pkg cpu
//
// .ci/check-generated checks that the committed files are what this
// writes.
//
// Both kernels work on one plane of a 2×2, stride-2, unpadded max pool,
// 16 window positions (one AVX-512 vector of float32) at a time; the last
// ow mod 16 positions of each output row take masked loads and stores, so
// nothing outside the rows is read or written. Their pure-Go twins are
// maxPool2x2Plane and maxPool2x2GradPlane in backend/cpu/pool_max.go,
// whose loops are the specification.
//
// Forward: the 32 inputs of each of a window row pair are split into
// even and odd columns by VSHUFPS (which leaves the 16 windows in the
// lane order of perm below), giving the taps a, b (top row) and c, d
// (bottom row) of 16 windows. A tournament in which the earlier tap wins
// ties (b > a, d > c, then cd > ab) is the first maximum in row-major
// tap order, and each stage selects the tap itself, so ±0 come out as
// stored. Windows holding a NaN (rare: one test of the opmask per block)
// are then overwritten by a, b, c, d in turn where each is NaN, so that
// the last NaN wins. The value and the tap offset (0, 1, wd, wd+1) are
// put back in window order by one permute each, and the offset plus the
// window's first input position gives the int64 index.
//
// Backward: each window's gradient, plus 0 (so that −0 becomes +0, as in
// a scatter-add into zeros), goes to the one tap its index names, the
// other three get 0. The index minus the window's first input
// position must be 0, 1, wd or wd+1; the kernel returns false as soon as
// one is not (the caller then runs the general scatter on that plane).
// Gradient and offset are duplicated into the lanes of both columns of
// their window (VPERMPS, VPERMD), compared with the offsets each lane
// stands for, and stored with zeroing masks; a lane of an odd last
// column that no window covers gets 0.
package main

import (
	"flag"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

const (
	cmpUNORD = 0x03
	cmpGT    = 0x1e // GT_OQ
	cmpLT    = 0x01 // for VPCMPUD: unsigned less than
)

// u32s writes a 64-byte constant of 16 uint32 values.
func u32s(name string, v [16]uint32) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for i, x := range v {
		DATA(4*i, U32(x))
	}
	return m
}

var (
	perm, lanes2, dupLo, dupHi, pat01, c32 Mem
)

func consts() {
	// VSHUFPS $0x88 (even columns) or $0xdd (odd) of the inputs of
	// windows 0–7 (first vector) and 8–15 (second) puts, in 128-bit lane
	// j, windows 2j and 2j+1 of the first and then of the second: lane
	// position 4j+q holds window 2j+q for q < 2 and 8+2j+q−2 for q ≥ 2.
	// perm[o] is the position of window o.
	var p [16]uint32
	for o := 0; o < 16; o++ {
		if o < 8 {
			p[o] = uint32(4*(o/2) + o%2)
		} else {
			p[o] = uint32(4*((o-8)/2) + 2 + (o-8)%2)
		}
	}
	perm = u32s("poolperm", p)
	var l2, dl, dh, pt [16]uint32
	for i := range l2 {
		l2[i] = uint32(2 * i)
		dl[i] = uint32(i / 2)
		dh[i] = uint32(8 + i/2)
		pt[i] = uint32(i % 2)
	}
	lanes2 = u32s("poollanes2", l2)
	dupLo = u32s("pooldupLo", dl)
	dupHi = u32s("pooldupHi", dh)
	pat01 = u32s("poolpat01", pt)
	var c [16]uint32
	for i := range c {
		c[i] = 32
	}
	c32 = u32s("pool32", c)
}

// broadcastD is the int32 value in r32 in every lane of a new vector.
func broadcastD(r32 reg.Register) reg.VecVirtual {
	z := ZMM()
	VPBROADCASTD(r32, z)
	return z
}

// tailMasks returns opmasks of the first n lanes (n < 16; out for the
// float32 vector, out and outHi for the two int64 vectors) and of the
// first 2n+extra lanes of a 32-lane pair (in0, in1), n in a register.
func tailMasks(n reg.GPVirtual, extra int) (out, outHi, in0, in1 reg.OpmaskVirtual) {
	ones := GP32()
	MOVL(U32(0xffffffff), ones)
	t := GP32()
	BZHIL(n.As32(), ones, t)
	out, outHi = K(), K()
	KMOVW(t, out)
	SHRL(U8(8), t)
	KMOVW(t, outHi)
	n2 := GP64()
	LEAQ(Mem{Base: n, Index: n, Scale: 1, Disp: extra}, n2)
	t2 := GP32()
	BZHIL(n2.As32(), ones, t2)
	in0, in1 = K(), K()
	KMOVW(t2, in0)
	SHRL(U8(16), t2)
	KMOVW(t2, in1)
	return
}

func genForward() {
	TEXT("maxPool2x2AVX512", NOSPLIT, "func(vo *float32, io *int64, s *float32, rs, wd, oh, ow int)")
	Pragma("noescape")
	Doc("maxPool2x2AVX512 is maxPool2x2Plane for float32 with AVX-512F and BMI2:",
		"a 2×2, stride-2 max pool of the oh·2 rows of wd values at s (rows rs",
		"apart) into the oh×ow values vo and row-major indices io.")
	vo := Load(Param("vo"), GP64())
	io := Load(Param("io"), GP64())
	p0 := Load(Param("s"), GP64())
	rs := Load(Param("rs"), GP64())
	wd := Load(Param("wd"), GP64())
	oh := Load(Param("oh"), GP64())
	ow := Load(Param("ow"), GP64())

	TESTQ(oh, oh)
	JE(LabelRef("done"))
	TESTQ(ow, ow)
	JE(LabelRef("done"))

	n := GP64()
	MOVQ(ow, n)
	ANDQ(U32(15), n)
	kout, koutHi, kin0, kin1 := tailMasks(n, 0)
	nfull := GP64()
	MOVQ(ow, nfull)
	SHRQ(U8(4), nfull)

	p1 := GP64()
	SHLQ(U8(2), rs) // bytes
	LEAQ(Mem{Base: p0, Index: rs, Scale: 1}, p1)
	SHLQ(U8(1), rs) // a row pair, in bytes

	vperm := ZMM()
	VMOVDQU32(perm, vperm)
	vstep := ZMM()
	VMOVDQU32(c32, vstep)
	ones := ZMM()
	VPTERNLOGD(U8(0xff), ones, ones, ones)
	VPSRLD(U8(31), ones, ones) // 1 in every lane
	zeros := ZMM()
	VPXORD(zeros, zeros, zeros)
	vwd := broadcastD(wd.(reg.GPVirtual).As32())
	vwd1 := ZMM()
	VPADDD(ones, vwd, vwd1)
	rowbase := ZMM()
	VMOVDQU32(lanes2, rowbase)
	vrowstep := ZMM()
	VPADDD(vwd, vwd, vrowstep) // 2·wd: the next row pair's first index

	Label("row")
	q0, q1 := GP64(), GP64()
	MOVQ(p0, q0)
	MOVQ(p1, q1)
	colv := ZMM()
	VMOVDQA32(rowbase, colv)
	cnt := GP64()
	MOVQ(nfull, cnt)
	TESTQ(cnt, cnt)
	JE(LabelRef("tail"))

	block := func(masked bool, tag string) {
		ld := func(m Mem, k reg.OpmaskVirtual) reg.VecVirtual {
			z := ZMM()
			if masked {
				VMOVUPS_Z(m, k, z)
			} else {
				VMOVUPS(m, z)
			}
			return z
		}
		A0, A1 := ld(Mem{Base: q0}, kin0), ld(Mem{Base: q0, Disp: 64}, kin1)
		B0, B1 := ld(Mem{Base: q1}, kin0), ld(Mem{Base: q1, Disp: 64}, kin1)
		a, b, c, d := ZMM(), ZMM(), ZMM(), ZMM()
		VSHUFPS(U8(0x88), A1, A0, a)
		VSHUFPS(U8(0xdd), A1, A0, b)
		VSHUFPS(U8(0x88), B1, B0, c)
		VSHUFPS(U8(0xdd), B1, B0, d)
		k1, k2, k3 := K(), K(), K()
		v01, v23, v := ZMM(), ZMM(), ZMM()
		i01, i23, i := ZMM(), ZMM(), ZMM()
		VCMPPS(U8(cmpGT), a, b, k1) // b > a
		VBLENDMPS(b, a, k1, v01)
		VMOVDQA32_Z(ones, k1, i01)
		VCMPPS(U8(cmpGT), c, d, k2) // d > c
		VBLENDMPS(d, c, k2, v23)
		VPBLENDMD(vwd1, vwd, k2, i23)
		VCMPPS(U8(cmpGT), v01, v23, k3) // cd > ab
		VBLENDMPS(v23, v01, k3, v)
		VPBLENDMD(i23, i01, k3, i)
		// NaN windows: the last NaN tap wins
		kn, kn2 := K(), K()
		VCMPPS(U8(cmpUNORD), a, b, kn)
		VCMPPS(U8(cmpUNORD), c, d, kn2)
		KORTESTW(kn, kn2)
		JE(LabelRef("nonan" + tag))
		for _, t := range []struct {
			x, off reg.VecVirtual
		}{{a, zeros}, {b, ones}, {c, vwd}, {d, vwd1}} {
			k := K()
			VCMPPS(U8(cmpUNORD), t.x, t.x, k)
			VMOVAPS(t.x, k, v)
			VMOVDQA32(t.off, k, i)
		}
		Label("nonan" + tag)
		vv, ii := ZMM(), ZMM()
		VPERMPS(v, vperm, vv)
		VPERMD(i, vperm, ii)
		VPADDD(colv, ii, ii)
		lo, hi := ZMM(), ZMM()
		VPMOVZXDQ(ii.AsY(), lo)
		hy := YMM()
		VEXTRACTI64X4(U8(1), ii, hy)
		VPMOVZXDQ(hy, hi)
		if masked {
			VMOVUPS(vv, kout, Mem{Base: vo})
			VMOVDQU64(lo, kout, Mem{Base: io})
			VMOVDQU64(hi, koutHi, Mem{Base: io, Disp: 64})
		} else {
			VMOVUPS(vv, Mem{Base: vo})
			VMOVDQU64(lo, Mem{Base: io})
			VMOVDQU64(hi, Mem{Base: io, Disp: 64})
		}
	}

	Label("full")
	block(false, "full")
	ADDQ(U32(128), q0)
	ADDQ(U32(128), q1)
	ADDQ(U32(64), vo)
	ADDQ(U32(128), io)
	VPADDD(vstep, colv, colv)
	DECQ(cnt)
	JNE(LabelRef("full"))

	Label("tail")
	TESTQ(n, n)
	JE(LabelRef("next"))
	block(true, "tail")
	LEAQ(Mem{Base: vo, Index: n, Scale: 4}, vo)
	LEAQ(Mem{Base: io, Index: n, Scale: 8}, io)

	Label("next")
	ADDQ(rs, p0)
	ADDQ(rs, p1)
	VPADDD(vrowstep, rowbase, rowbase)
	DECQ(oh)
	JNE(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

func genBackward() {
	TEXT("maxPool2x2GradAVX512", NOSPLIT, "func(d, grad *float32, idx *int64, wd, oh, ow int) bool")
	Pragma("noescape")
	Doc("maxPool2x2GradAVX512 is maxPool2x2GradPlane's row pairs for float32",
		"with AVX-512F and BMI2: it writes rows 0 to 2·oh−1 of the contiguous",
		"plane d of rows of wd values (wd is 2·ow or 2·ow+1), each window's",
		"gradient grad at the tap its index names and 0 elsewhere, and returns",
		"false, leaving d partly written, at the first index outside its window.")
	dp := Load(Param("d"), GP64())
	gp := Load(Param("grad"), GP64())
	ip := Load(Param("idx"), GP64())
	wd := Load(Param("wd"), GP64())
	oh := Load(Param("oh"), GP64())
	ow := Load(Param("ow"), GP64())

	TESTQ(oh, oh)
	JE(LabelRef("ok"))

	n := GP64()
	MOVQ(ow, n)
	ANDQ(U32(15), n)
	extra := GP64() // wd − 2·ow: 0 or 1
	MOVQ(wd, extra)
	SUBQ(ow, extra)
	SUBQ(ow, extra)
	n2 := GP64()
	LEAQ(Mem{Base: n, Index: n, Scale: 1}, n2)
	ADDQ(extra, n2) // the inputs of the tail, 2n+extra < 32
	ones32 := GP32()
	MOVL(U32(0xffffffff), ones32)
	t := GP32()
	BZHIL(n.As32(), ones32, t)
	kout, koutHi := K(), K()
	KMOVW(t, kout)
	SHRL(U8(8), t)
	KMOVW(t, koutHi)
	t2 := GP32()
	BZHIL(n2.As32(), ones32, t2)
	kst0, kst1 := K(), K()
	KMOVW(t2, kst0)
	SHRL(U8(16), t2)
	KMOVW(t2, kst1)
	nfull := GP64()
	MOVQ(ow, nfull)
	SHRQ(U8(4), nfull)
	rowb := GP64() // a row in bytes
	LEAQ(Mem{Base: wd, Index: wd, Scale: 1}, rowb)
	SHLQ(U8(1), rowb)

	vstep := ZMM()
	VMOVDQU32(c32, vstep)
	two := ZMM()
	VPTERNLOGD(U8(0xff), two, two, two)
	VPSRLD(U8(31), two, two)
	VPADDD(two, two, two)
	vwd := broadcastD(wd.(reg.GPVirtual).As32())
	zero := ZMM()
	VPXORD(zero, zero, zero)
	vdl, vdh := ZMM(), ZMM()
	VMOVDQU32(dupLo, vdl)
	VMOVDQU32(dupHi, vdh)
	pat0 := ZMM()
	VMOVDQU32(pat01, pat0)
	pat1 := ZMM()
	VPADDD(vwd, pat0, pat1)
	rowbase := ZMM()
	VMOVDQU32(lanes2, rowbase)
	vrowstep := ZMM()
	VPADDD(vwd, vwd, vrowstep)

	Label("row")
	q0, q1 := GP64(), GP64()
	MOVQ(dp, q0)
	LEAQ(Mem{Base: dp, Index: rowb, Scale: 1}, q1)
	colv := ZMM()
	VMOVDQA32(rowbase, colv)
	cnt := GP64()
	MOVQ(nfull, cnt)
	TESTQ(cnt, cnt)
	JE(LabelRef("tail"))

	block := func(masked bool) {
		G, I0, I1 := ZMM(), ZMM(), ZMM()
		if masked {
			VMOVUPS_Z(Mem{Base: gp}, kout, G)
			VMOVDQU64_Z(Mem{Base: ip}, kout, I0)
			VMOVDQU64_Z(Mem{Base: ip, Disp: 64}, koutHi, I1)
		} else {
			VMOVUPS(Mem{Base: gp}, G)
			VMOVDQU64(Mem{Base: ip}, I0)
			VMOVDQU64(Mem{Base: ip, Disp: 64}, I1)
		}
		VADDPS(zero, G, G) // 0 + g, as the scatter into zeros: −0 becomes +0
		// the offset of each index in its window, unsigned-saturated
		// to 32 bits so that no index beyond them aliases a tap
		y0, y1 := YMM(), YMM()
		VPMOVUSQD(I0, y0)
		VPMOVUSQD(I1, y1)
		k := ZMM()
		VINSERTI64X4(U8(1), y1, y0.AsZ(), k)
		VPSUBD(colv, k, k)
		kv1, kv2, kbad := K(), K(), K()
		VPCMPUD(U8(cmpLT), two, k, kv1) // offset 0 or 1
		tk := ZMM()
		VPSUBD(vwd, k, tk)
		VPCMPUD(U8(cmpLT), two, tk, kv2) // offset wd or wd+1
		KORW(kv1, kv2, kv1)
		if masked {
			KANDNW(kout, kv1, kbad)
		} else {
			KNOTW(kv1, kbad)
		}
		KORTESTW(kbad, kbad)
		JNE(LabelRef("bad"))
		gg0, gg1, kk0, kk1 := ZMM(), ZMM(), ZMM(), ZMM()
		VPERMPS(G, vdl, gg0)
		VPERMPS(G, vdh, gg1)
		VPERMD(k, vdl, kk0)
		VPERMD(k, vdh, kk1)
		for _, r := range []struct {
			pat reg.VecVirtual
			q   reg.GPVirtual
		}{{pat0, q0}, {pat1, q1}} {
			m0, m1 := K(), K()
			VPCMPEQD(r.pat, kk0, m0)
			VPCMPEQD(r.pat, kk1, m1)
			o0, o1 := ZMM(), ZMM()
			VMOVAPS_Z(gg0, m0, o0)
			VMOVAPS_Z(gg1, m1, o1)
			if masked {
				VMOVUPS(o0, kst0, Mem{Base: r.q})
				VMOVUPS(o1, kst1, Mem{Base: r.q, Disp: 64})
			} else {
				VMOVUPS(o0, Mem{Base: r.q})
				VMOVUPS(o1, Mem{Base: r.q, Disp: 64})
			}
		}
	}

	Label("full")
	block(false)
	ADDQ(U32(128), q0)
	ADDQ(U32(128), q1)
	ADDQ(U32(64), gp)
	ADDQ(U32(128), ip)
	VPADDD(vstep, colv, colv)
	DECQ(cnt)
	JNE(LabelRef("full"))

	Label("tail")
	TESTQ(n2, n2)
	JE(LabelRef("next"))
	block(true)
	LEAQ(Mem{Base: gp, Index: n, Scale: 4}, gp)
	LEAQ(Mem{Base: ip, Index: n, Scale: 8}, ip)

	Label("next")
	LEAQ(Mem{Base: dp, Index: rowb, Scale: 2}, dp)
	VPADDD(vrowstep, rowbase, rowbase)
	DECQ(oh)
	JNE(LabelRef("row"))

	Label("ok")
	MOVB(U8(1), reg.AL)
	Store(reg.AL, ReturnIndex(0))
	VZEROUPPER()
	RET()

	Label("bad")
	MOVB(U8(0), reg.AL)
	Store(reg.AL, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func main() {
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	consts()
	genForward()
	genBackward()
	Generate()
}
