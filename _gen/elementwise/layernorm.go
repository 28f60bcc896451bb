package main

// The float32 LayerNorm row kernels of backend/cpu/layernorm_vec.go, whose
// pure-Go twins there (lnSqDevGo, lnFwdGo, lnBwdSumsGo, lnBwdGo) document
// them. Every one reads float32 operands, widens them to float64 lanes
// (VCVTPS2PD) and computes in float64, as the scalar LayerNorm does; the
// results are rounded to float32 once, on the way out. Each handles n
// elements, n a multiple of L (float64 lanes per vector: 8 on AVX-512, 4
// on AVX2); the Go wrapper does the rest of a row.
//
//	lnSqDev: Σ (x[i] − μ)² over two accumulators, lanes taking L
//	consecutive elements each per step of 2L, single vectors to the
//	first; combined a0 + a1, then the lanes by halving.
//	lnFwd: y[i] = (x[i] − μ)·r·w[i] + b[i] (without w or b where the
//	kernel's name lacks W or B), each product and sum rounded on its own
//	(no FMA), exactly the scalar expression in float64.
//	lnBwdSums: A = Σ ĝ[i], C = Σ ĝ[i]·(x[i] − μ) with ĝ = g·w (g without
//	W), each over two accumulators as lnSqDev's.
//	lnBwd: x̂ = (x[i] − μ)·r; h[i] = g[i]·x̂ (H kernels); ĝ = g[i]·w[i] (W);
//	dx[i] = r·((ĝ − a) − x̂·c), the last difference fused (one rounding).

import (
	"bytes"
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The variants' name suffixes, in the order of the Go tables' indices.
var (
	lnWB  = []string{"", "B", "W", "WB"} // lnFwd: bit 1 w, bit 0 b
	lnW   = []string{"", "W"}            // lnBwdSums
	lnWH  = []string{"", "H", "W", "WH"} // lnBwd: bit 1 w, bit 0 h
	lnGen = map[string][]string{}        // names by ISA and kernel
)

// bcastSD loads the float64 parameter name into every lane of a vector,
// straight from the argument frame: a legacy-SSE MOVSD after the first
// broadcast has dirtied the upper halves costs an SSE/AVX transition,
// about 130 ns per call on this machine's Xeon (AVX-512), which
// was 4/5 of a 256-element row's forward.
func bcastSD(name string) V {
	p, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	r := vreg()
	VBROADCASTSD(p.Addr, r)
	return r
}

// zeroF is a zeroed vector using AVX-512F only (VXORPS on a ZMM needs
// AVX512DQ).
func zeroF() V {
	r := vreg()
	if cur.avx512 {
		VPXORQ(r, r, r)
	} else {
		VXORPS(r, r, r)
	}
	return r
}

// cvtStore rounds the float64 lanes of v to float32 and stores them at m.
func cvtStore(v V, m Mem) {
	if cur.avx512 {
		y := YMM()
		VCVTPD2PS(v, y)
		VMOVUPS(y, m)
	} else {
		x := XMM()
		VCVTPD2PSY(v, x)
		VMOVUPS(x, m)
	}
}

// lnLoop runs body(off) for each vector of float32 at byte offset off
// from the pointers ptrs: unroll vectors a step while n allows, then
// single ones. The counter n is in elements; body's u is the vector's
// index within the step (accumulator choice).
func lnLoop(unroll int, ptrs []reg.Register, n reg.Register, body func(off, u int)) {
	l := cur.lanes / 2
	vb := 4 * l
	advance := func(k int) {
		for _, p := range ptrs {
			ADDQ(U32(k*vb), p)
		}
		SUBQ(U32(k*l), n)
	}
	Label("loop")
	CMPQ(n, U32(unroll*l))
	JB(LabelRef("single"))
	for u := 0; u < unroll; u++ {
		body(u*vb, u)
	}
	advance(unroll)
	JMP(LabelRef("loop"))
	Label("single")
	CMPQ(n, U32(l))
	JB(LabelRef("done"))
	body(0, 0)
	advance(1)
	JMP(LabelRef("single"))
	Label("done")
}

func genLNSqDev() string {
	name := "lnSqDev" + cur.name
	TEXT(name, NOSPLIT, "func(x *float32, n int, mu float64) float64")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s returns Σ (x[i] − mu)² for i < n in float64 (n a multiple of %d), using %s.", name, cur.lanes/2, cur.name))
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	mu := bcastSD("mu")
	acc := []V{zeroF(), zeroF()}
	lnLoop(2, []reg.Register{x}, n, func(off, u int) {
		d := cvt(Mem{Base: x, Disp: off})
		VSUBPD(mu, d, d)
		VFMADD231PD(d, d, acc[u])
	})
	VADDPD(acc[1], acc[0], acc[0])
	r := hsumPD(acc[0])
	VZEROUPPER()
	Store(r, ReturnIndex(0))
	RET()
	return name
}

func genLNFwd(hasW, hasB bool, sfx string) string {
	name := "lnFwd" + sfx + cur.name
	TEXT(name, NOSPLIT, "func(y, x, w, b *float32, n int, mu, r float64)")
	Pragma("noescape")
	doc := "(x[i] − mu)·r"
	if hasW {
		doc += "·w[i]"
	}
	if hasB {
		doc += " + b[i]"
	}
	Doc(fmt.Sprintf("%s sets y[i] = %s for i < n in float64 (n a multiple of %d), using %s.", name, doc, cur.lanes/2, cur.name))
	y := Load(Param("y"), GP64())
	x := Load(Param("x"), GP64())
	ptrs := []reg.Register{y, x}
	var w, b reg.Register
	if hasW {
		w = Load(Param("w"), GP64())
		ptrs = append(ptrs, w)
	}
	if hasB {
		b = Load(Param("b"), GP64())
		ptrs = append(ptrs, b)
	}
	n := Load(Param("n"), GP64())
	mu, rv := bcastSD("mu"), bcastSD("r")
	lnLoop(4, ptrs, n, func(off, u int) {
		v := cvt(Mem{Base: x, Disp: off})
		VSUBPD(mu, v, v)
		VMULPD(rv, v, v)
		if hasW {
			VMULPD(cvt(Mem{Base: w, Disp: off}), v, v)
		}
		if hasB {
			VADDPD(cvt(Mem{Base: b, Disp: off}), v, v)
		}
		cvtStore(v, Mem{Base: y, Disp: off})
	})
	VZEROUPPER()
	RET()
	return name
}

func genLNBwdSums(hasW bool, sfx string) string {
	name := "lnBwdSums" + sfx + cur.name
	TEXT(name, NOSPLIT, "func(dy, x, w *float32, n int, mu float64) (a, c float64)")
	Pragma("noescape")
	gh := "dy[i]"
	if hasW {
		gh = "dy[i]·w[i]"
	}
	Doc(fmt.Sprintf("%s returns a = Σ ĝ and c = Σ ĝ·(x[i] − mu), ĝ = %s, for i < n in float64 (n a multiple of %d), using %s.", name, gh, cur.lanes/2, cur.name))
	g := Load(Param("dy"), GP64())
	x := Load(Param("x"), GP64())
	ptrs := []reg.Register{g, x}
	var w reg.Register
	if hasW {
		w = Load(Param("w"), GP64())
		ptrs = append(ptrs, w)
	}
	n := Load(Param("n"), GP64())
	mu := bcastSD("mu")
	as, cs := []V{zeroF(), zeroF()}, []V{zeroF(), zeroF()}
	lnLoop(2, ptrs, n, func(off, u int) {
		gv := cvt(Mem{Base: g, Disp: off})
		if hasW {
			VMULPD(cvt(Mem{Base: w, Disp: off}), gv, gv)
		}
		VADDPD(gv, as[u], as[u])
		d := cvt(Mem{Base: x, Disp: off})
		VSUBPD(mu, d, d)
		VFMADD231PD(d, gv, cs[u])
	})
	VADDPD(as[1], as[0], as[0])
	VADDPD(cs[1], cs[0], cs[0])
	ra := hsumPD(as[0])
	rc := hsumPD(cs[0])
	VZEROUPPER()
	Store(ra, ReturnIndex(0))
	Store(rc, ReturnIndex(1))
	RET()
	return name
}

func genLNBwd(hasW, hasH bool, sfx string) string {
	name := "lnBwd" + sfx + cur.name
	TEXT(name, NOSPLIT, "func(dx, h, dy, x, w *float32, n int, mu, r, a, c float64)")
	Pragma("noescape")
	doc := ""
	if hasH {
		doc = "h[i] = dy[i]·x̂ and "
	}
	gh := "dy[i]"
	if hasW {
		gh = "dy[i]·w[i]"
	}
	Doc(fmt.Sprintf("%s sets %sdx[i] = r·((ĝ − a) − x̂·c), x̂ = (x[i] − mu)·r, ĝ = %s, for i < n in float64 (n a multiple of %d), using %s.", name, doc, gh, cur.lanes/2, cur.name))
	dx := Load(Param("dx"), GP64())
	g := Load(Param("dy"), GP64())
	x := Load(Param("x"), GP64())
	ptrs := []reg.Register{dx, g, x}
	var h, w reg.Register
	if hasH {
		h = Load(Param("h"), GP64())
		ptrs = append(ptrs, h)
	}
	if hasW {
		w = Load(Param("w"), GP64())
		ptrs = append(ptrs, w)
	}
	n := Load(Param("n"), GP64())
	mu, rv, av, cv := bcastSD("mu"), bcastSD("r"), bcastSD("a"), bcastSD("c")
	lnLoop(2, ptrs, n, func(off, u int) {
		xh := cvt(Mem{Base: x, Disp: off})
		VSUBPD(mu, xh, xh)
		VMULPD(rv, xh, xh)
		gv := cvt(Mem{Base: g, Disp: off})
		if hasH {
			t := vreg()
			VMULPD(xh, gv, t)
			cvtStore(t, Mem{Base: h, Disp: off})
		}
		if hasW {
			VMULPD(cvt(Mem{Base: w, Disp: off}), gv, gv)
		}
		VSUBPD(av, gv, gv)
		VFNMADD231PD(cv, xh, gv) // gv −= x̂·c
		VMULPD(rv, gv, gv)
		cvtStore(gv, Mem{Base: dx, Disp: off})
	})
	VZEROUPPER()
	RET()
	return name
}

// genLayerNorm generates the current ISA's LayerNorm kernels.
func genLayerNorm() {
	k := cur.name
	lnGen[k+"sq"] = []string{genLNSqDev()}
	for i, s := range lnWB {
		lnGen[k+"fwd"] = append(lnGen[k+"fwd"], genLNFwd(i&2 != 0, i&1 != 0, s))
	}
	for i, s := range lnW {
		lnGen[k+"sums"] = append(lnGen[k+"sums"], genLNBwdSums(i != 0, s))
	}
	for i, s := range lnWH {
		lnGen[k+"bwd"] = append(lnGen[k+"bwd"], genLNBwd(i&2 != 0, i&1 != 0, s))
	}
}

// writeLNTable writes lnAsm<ISA>, each instruction set's LayerNorm
// kernels (lnAsm in backend/cpu/layernorm_vec.go).
func writeLNTable(b *bytes.Buffer, isas []isa) {
	for _, is := range isas {
		k := is.name
		fmt.Fprintf(b, "\n// lnAsm%s is the %s LayerNorm row kernels.\n", k, k)
		fmt.Fprintf(b, "var lnAsm%s = lnAsm{\n\tlanes: %d,\n\tsqDev: %s,\n", k, is.lanes/2, lnGen[k+"sq"][0])
		fmt.Fprintf(b, "\tfwd: [4]func(y, x, w, b *float32, n int, mu, r float64){%s},\n", join(lnGen[k+"fwd"]))
		fmt.Fprintf(b, "\tbwdSums: [2]func(g, x, w *float32, n int, mu float64) (a, c float64){%s},\n", join(lnGen[k+"sums"]))
		fmt.Fprintf(b, "\tbwd: [4]func(dx, h, g, x, w *float32, n int, mu, r, a, c float64){%s},\n}\n", join(lnGen[k+"bwd"]))
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x)
	}
	return b.String()
}
