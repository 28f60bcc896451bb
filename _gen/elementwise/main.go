// Command elementwise generates the amd64 float32 elementwise kernels of
// github.com/tapir-ml/tapir/backend/cpu: backend/cpu/vecmath_amd64.s, its
// Go declarations backend/cpu/vecmath_stub_amd64.go and (-table) the Go
// tables that name each kernel by op, backend/cpu/vecmath_table_amd64.go.
// Run it through go generate in backend/cpu (see vec_amd64.go there), or
// by hand from _gen:
//
//	go run ./elementwise -table ../backend/cpu/vecmath_table_amd64.go -out ../backend/cpu/vecmath_amd64.s -stubs ../backend/cpu/vecmath_stub_amd64.go -pkg cpu
//
// .ci/check-generated checks that the committed files are what this
// writes.
//
// Every kernel is a map over n contiguous float32 values,
//
//	for i < n:  dst[i] = f(x[i])          func(dst, x *float32, n int, a, b float32)
//	for i < n:  dst[i] = f(x[i], y[i])    func(dst, x, y *float32, n int)
//
// generated once per instruction set (AVX-512F, and AVX2 with FMA3) from
// one description of f written with the small vector language below. The
// loop takes u vectors per iteration, then single vectors, then the last
// n mod lanes elements with masked loads and stores (AVX-512 opmask
// registers, AVX2 VMASKMOVPS), so nothing outside dst[:n] is written and
// nothing outside x[:n] is read. Constants are 64-byte rows of one value
// in read-only memory, used directly as memory operands.
//
// Besides the maps it generates the float32 reductions (below), the fused
// optimizer updates (optim.go) and the LayerNorm row kernels
// (layernorm.go), each documented where it is generated.
//
// The algorithms (range reductions and polynomial coefficients) are those
// of the pure-Go twins in backend/cpu/vecmath.go, whose comments give the
// derivation and the measured errors; the two must be changed together.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"math"
	"os"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// ---------------------------------------------------------------- the vector language

// isa is the instruction set a kernel is generated for.
type isa struct {
	name   string
	lanes  int // float32 values per vector
	avx512 bool
}

var (
	avx512 = isa{"AVX512", 16, true}
	avx2   = isa{"AVX2", 8, false}
	cur    isa
)

// V is a vector value: a virtual register.
type V = reg.VecVirtual

// Mask is the result of a comparison: an opmask register on AVX-512, a
// vector of all-ones or all-zeros lanes on AVX2.
type Mask struct {
	k reg.OpmaskVirtual
	v V
}

func vreg() V {
	if cur.avx512 {
		return ZMM()
	}
	return YMM()
}

var consts = map[uint32]Mem{}

// c is the float32 constant v as a memory operand (64 bytes of it), or
// the register it was hoisted into.
func c(v float64) Op { return ci(math.Float32bits(float32(v))) }

// ci is the 32-bit pattern v, repeated, as a memory operand, or the
// register hoistConsts loaded it into.
func ci(v uint32) Op {
	if r, ok := hoisted[v]; ok {
		return r
	}
	return constMem(v)
}

// hoisted maps constants to the registers hoistConsts loaded them into,
// for the kernel being generated.
var hoisted map[uint32]V

// hoistConsts loads the constants vs into registers, before a kernel's
// loop, so that c and ci name those registers instead of memory. A
// compute-bound kernel (e^x) then issues one load per vector, its input,
// instead of one per constant: with 512-bit loads at one a cycle, the
// constants' loads took as long as its arithmetic. Only AVX-512 has the
// registers to spare (32); a constant not hoisted stays a memory operand.
func hoistConsts(vs ...float64) {
	hoisted = map[uint32]V{}
	for _, v := range vs {
		b := math.Float32bits(float32(v))
		if _, ok := hoisted[b]; !ok {
			hoisted[b] = load(constMem(b))
		}
	}
}

// constMem is the 32-bit pattern v, repeated, as a memory operand.
func constMem(v uint32) Mem {
	if m, ok := consts[v]; ok {
		return m
	}
	m := GLOBL(fmt.Sprintf("vconst%08x", v), RODATA|NOPTR)
	for off := 0; off < 64; off += 4 {
		DATA(off, U32(v))
	}
	consts[v] = m
	constBits[m.Symbol.Name] = 32
	return m
}

// constBits is the width of the pattern, 32 or 64, of each row of
// constMem and constMem64, by symbol.
var constBits = map[string]int{}

// AVX-512 kernels read the constant rows through embedded broadcasts
// ({1to16} of a 4-byte pattern, {1to8} of an 8-byte one; VBROADCASTSS
// and VBROADCASTSD for plain loads), never as 64-byte vectors: the Go
// linker aligns data symbols to 32 bytes at most, so a 64-byte row
// starts at 0 or 32 mod 64 by the luck of the binary's layout, and at 32
// every such load splits a cache line. All rows share that luck, and it
// moved ops as far apart as exp, sigmoid and gelu by 20–50% (one thread,
// 1M float32) with unrelated changes to the program. A broadcast reads 4
// or 8 bytes, which never split, at the cost of a plain load. AVX2 reads
// 32 bytes, which a 32-byte aligned row never splits.

// bcst returns the row op names and its pattern's width, when op is one
// and the kernel is AVX-512.
func bcst(op Op) (Mem, int, bool) {
	m, ok := op.(Mem)
	if !ok || !cur.avx512 {
		return Mem{}, 0, false
	}
	b, ok := constBits[m.Symbol.Name]
	return m, b, ok
}

// ins emits plain(ops...), or bc(ops...), the instruction's embedded
// broadcast form, where ops[i] is a constant row read by an AVX-512
// kernel.
func ins(plain, bc func(...Op), i int, ops ...Op) {
	if _, _, ok := bcst(ops[i]); ok {
		bc(ops...)
		return
	}
	plain(ops...)
}

// insW is ins for the bitwise instructions, whose broadcast reads as
// many bits as the row's pattern has: bc32 ({1to16}) or bc64 ({1to8}).
func insW(plain, bc32, bc64 func(...Op), i int, ops ...Op) {
	if _, b, ok := bcst(ops[i]); ok {
		if b == 64 {
			bc64(ops...)
		} else {
			bc32(ops...)
		}
		return
	}
	plain(ops...)
}

// cv is the constant v as a vector to read, not to write: the register
// hoistConsts put it in, or else a new vector loaded with it.
func cv(v float64) V {
	if r, ok := c(v).(V); ok {
		return r
	}
	return load(c(v))
}

// load copies an operand (a constant or a vector) into a new vector.
func load(a Op) V {
	r := vreg()
	if _, b, ok := bcst(a); ok {
		if b == 64 {
			VBROADCASTSD(a, r)
		} else {
			VBROADCASTSS(a, r)
		}
		return r
	}
	VMOVUPS(a, r)
	return r
}

// The three-operand arithmetic: the result is a new vector; b may be a
// memory operand.
func add(a V, b Op) V { r := vreg(); ins(VADDPS, VADDPS_BCST, 0, b, a, r); return r }
func sub(a V, b Op) V { r := vreg(); ins(VSUBPS, VSUBPS_BCST, 0, b, a, r); return r }
func mul(a V, b Op) V { r := vreg(); ins(VMULPS, VMULPS_BCST, 0, b, a, r); return r }
func div(a V, b Op) V { r := vreg(); ins(VDIVPS, VDIVPS_BCST, 0, b, a, r); return r }
func sqrt(a V) V      { r := vreg(); VSQRTPS(a, r); return r }

// maxps is x86's max: a > b ? a : b, so b when either is NaN.
func maxps(a V, b Op) V { r := vreg(); ins(VMAXPS, VMAXPS_BCST, 0, b, a, r); return r }

// minps is a < b ? a : b, so b when either is NaN.
func minps(a V, b Op) V { r := vreg(); ins(VMINPS, VMINPS_BCST, 0, b, a, r); return r }

// fma is a·b + c with one rounding.
func fma(a V, b V, c Op) V {
	r := vreg()
	VMOVAPS(a, r)
	ins(VFMADD213PS, VFMADD213PS_BCST, 0, c, b, r)
	return r
}

// fnma is c − a·b with one rounding.
func fnma(a V, b V, c Op) V {
	r := vreg()
	VMOVAPS(a, r)
	ins(VFNMADD213PS, VFNMADD213PS_BCST, 0, c, b, r)
	return r
}

// horner evaluates Σ cs[k]·xᵏ with FMAs, highest power first.
func horner(x V, cs ...float64) V {
	p := load(c(cs[len(cs)-1]))
	for k := len(cs) - 2; k >= 0; k-- {
		ins(VFMADD213PS, VFMADD213PS_BCST, 0, c(cs[k]), x, p)
	}
	return p
}

// Bitwise and 32-bit integer operations (AVX-512F has only the integer
// forms of the logic operations).
func and(a V, b Op) V {
	r := vreg()
	if cur.avx512 {
		insW(VPANDD, VPANDD_BCST, VPANDQ_BCST, 0, b, a, r)
	} else {
		VANDPS(b, a, r)
	}
	return r
}
func or(a V, b Op) V {
	r := vreg()
	if cur.avx512 {
		insW(VPORD, VPORD_BCST, VPORQ_BCST, 0, b, a, r)
	} else {
		VORPS(b, a, r)
	}
	return r
}
func xor(a V, b Op) V {
	r := vreg()
	if cur.avx512 {
		insW(VPXORD, VPXORD_BCST, VPXORQ_BCST, 0, b, a, r)
	} else {
		VXORPS(b, a, r)
	}
	return r
}
func addi(a V, b Op) V         { r := vreg(); ins(VPADDD, VPADDD_BCST, 0, b, a, r); return r }
func subi(a V, b Op) V         { r := vreg(); ins(VPSUBD, VPSUBD_BCST, 0, b, a, r); return r }
func shli(a V, s uint8) V      { r := vreg(); VPSLLD(U8(s), a, r); return r }
func srai(a V, s uint8) V      { r := vreg(); VPSRAD(U8(s), a, r); return r }
func cvtif(a V) V              { r := vreg(); VCVTDQ2PS(a, r); return r }
func scalef(a, n V) V          { r := vreg(); VSCALEFPS(n, a, r); return r } // a·2^⌊n⌋ rounded once (AVX-512F only)
func abs(a V) V                { return and(a, ci(0x7fffffff)) }
func signOf(a V) V             { return and(a, ci(0x80000000)) }
func neg(a V) V                { return xor(a, ci(0x80000000)) }
func splat(m Mem) V            { r := vreg(); VBROADCASTSS(m, r); return r }
func zero() V                  { r := vreg(); VXORPS(r, r, r); return r }
func rcpExact(a V) V           { return div(load(c(1)), a) }
func square(a V) V             { return mul(a, a) }
func half(a V) V               { return mul(a, c(0.5)) }
func scaleBy(a V, s float64) V { return mul(a, c(s)) }

// The comparison predicates (VEX/EVEX imm8).
const (
	cmpEQ    = 0x00 // EQ_OQ
	cmpLT    = 0x11 // LT_OQ
	cmpLE    = 0x12 // LE_OQ
	cmpUNORD = 0x03
	cmpGT    = 0x1e // GT_OQ
	cmpGE    = 0x1d // GE_OQ
)

// cmp is the lanes where a pred b holds.
func cmp(pred uint8, a V, b Op) Mask { return cmpW(pred, a, b, VCMPPS, VCMPPS_BCST) }

// cmpPD is cmp on float64 lanes.
func cmpPD(pred uint8, a V, b Op) Mask { return cmpW(pred, a, b, VCMPPD, VCMPPD_BCST) }

func cmpW(pred uint8, a V, b Op, vcmp, vcmpB func(...Op)) Mask {
	if cur.avx512 {
		k := K()
		ins(vcmp, vcmpB, 1, U8(pred), b, a, k)
		return Mask{k: k}
	}
	r := vreg()
	vcmp(U8(pred), b, a, r)
	return Mask{v: r}
}

// sel is m ? t : f, lane by lane; t may be a memory operand.
func sel(m Mask, t Op, f V) V { return selW(m, t, f, VBLENDMPS, VBLENDMPS_BCST, VBLENDVPS) }

// selPD is sel on float64 lanes.
func selPD(m Mask, t Op, f V) V { return selW(m, t, f, VBLENDMPD, VBLENDMPD_BCST, VBLENDVPD) }

func selW(m Mask, t Op, f V, blendm, blendmB func(...Op), blendv func(xy, mxy, xy1, xy2 Op)) V {
	r := vreg()
	if cur.avx512 {
		ins(blendm, blendmB, 0, t, f, m.k, r)
	} else {
		blendv(m.v, t, f, r)
	}
	return r
}

// isNaN is the lanes of a that are NaN.
func isNaN(a V) Mask { return cmp(cmpUNORD, a, a) }

// ---------------------------------------------------------------- the functions

// expf is e^x as the twin exp32 computes it (see vecmath.go).
func expf(x V) V {
	x = maxps(cv(-104), x) // -104 > x ? -104 : x, NaN stays
	x = minps(cv(89), x)
	t := fma(x, cv(math.Log2E), c(0x1.8p23)) // round(x·log2 e) + 1.5·2²³
	n := sub(t, c(0x1.8p23))
	r := fnma(n, cv(0.693359375), x)
	r = fnma(n, cv(-2.12194440e-4), r)
	p := horner(r, 1, 1, expC[0], expC[1], expC[2], expC[3], expC[4])
	if cur.avx512 {
		// VSCALEFPS is p·2ⁿ rounded once, as the two factors below give
		// it (denormal results and overflow to +Inf included), in one
		// instruction instead of nine. e^x is compute-bound at one
		// thread: with this and its constants hoisted (hoists), [64M]
		// float32 went from 16–21 GB/s to 35–37, the rate of a copy
		return scalef(p, n)
	}
	ni := subi(t, ci(0x4b400000)) // the bits of t less those of 1.5·2²³: n
	n1 := srai(ni, 1)
	n2 := subi(ni, n1)
	s1 := shli(addi(n1, ci(127)), 23)
	s2 := shli(addi(n2, ci(127)), 23)
	return mul(mul(p, s1), s2)
}

// expConsts are the constants of expf, for hoistConsts.
func expConsts() []float64 {
	return append([]float64{-104, 89, math.Log2E, 0x1.8p23, 0.693359375, -2.12194440e-4, 1}, expC...)
}

var (
	expC  = []float64{0.4999999403953552, 0.1666652113199234, 0.04166838899254799, 0.008368710055947304, 0.001381461275741458}
	logC  = []float64{0.3333333134651184, -0.2500081956386566, 0.20001226663589478, -0.16623356938362122, 0.14201758801937103, -0.13160182535648346, 0.12761574983596802, -0.07634492963552475}
	tanhC = []float64{-0.3333328068256378, 0.13331441581249237, -0.05373971536755562, 0.0206390880048275, -0.005704987328499556}
	erfC  = []float64{1.1283791065216064, -0.3761252462863922, 0.11282140761613846, -0.026778915897011757, 0.005011971574276686, -0.0006090397946536541}
	erfcC = []float64{-5.434259492176352e-06, 0.28223392367362976, 0.2806122899055481, 0.25525611639022827, 0.14968787133693695, 0.12420298159122467, -0.0006974959978833795, -0.16555437445640564, 0.0746278390288353}
)

// logf is ln x as the twin log32 computes it.
func logf(x V) V {
	tiny := cmp(cmpLT, x, c(0x1p-126))
	xs := sel(tiny, mul(x, c(0x1p23)), x)
	ix := subi(xs, ci(0x3f3504f3))
	k := cvtif(srai(ix, 23))
	k = sel(tiny, sub(k, c(23)), k)
	m := addi(and(ix, ci(0x007fffff)), ci(0x3f3504f3))
	f := sub(m, c(1))
	s := mul(f, f)
	q := horner(f, logC...)
	y := mul(mul(s, f), q)
	VFMADD231PS(k, load(c(-2.12194440e-4)), y) // y += k·ln2lo
	VFNMADD231PS(s, load(c(0.5)), y)           // y −= s/2
	r := add(f, y)
	VFMADD231PS(k, load(c(0.693359375)), r) // r += k·ln2hi
	r = sel(cmp(cmpEQ, x, c(math.Inf(1))), x, r)
	r = sel(isNaN(x), x, r)
	r = sel(cmp(cmpLT, x, c(0)), c(math.NaN()), r)
	return sel(cmp(cmpEQ, x, c(0)), c(math.Inf(-1)), r)
}

// tanhf is tanh x as the twin tanh32 computes it.
func tanhf(x V) V {
	a := abs(x)
	s := mul(x, x)
	ys := fma(mul(x, s), horner(s, tanhC...), x)
	e := expf(add(a, a))
	yl := sub(load(c(1)), div(load(c(2)), add(e, c(1))))
	yl = or(yl, signOf(x))
	return sel(cmp(cmpLT, a, c(0.625)), ys, yl)
}

// sigmoidParts returns num and den, σ(x) = num/den.
func sigmoidParts(x V) (num, den V) {
	e := expf(neg(abs(x)))
	num = sel(cmp(cmpGE, x, c(0)), c(1), e)
	return num, add(e, c(1))
}

func sigmoidf(x V) V { n, d := sigmoidParts(x); return div(n, d) }

func siluf(x V) V { n, d := sigmoidParts(x); return div(mul(x, n), d) }

// erfcParts returns erfc(|x|) for |x| ≥ 0.9 (and |x| ≤ 10), from the
// exact square of x.
func erfcParts(x V, scale float64) V {
	// z² = x²·scale exactly: hi + lo
	hi := mul(x, x)
	lo := fma(x, x, neg(hi)) // x·x − hi, exact
	hi = scaleBy(hi, scale)
	lo = scaleBy(lo, scale)
	e := expf(neg(hi))
	e = fnma(lo, e, e) // e·(1 − lo)
	z := scaleBy(abs(x), math.Sqrt(scale))
	t := div(load(c(2)), add(z, c(2)))
	return mul(e, horner(t, erfcC...))
}

// erfcFactors returns erfcParts's two factors, e^{−z²} and Q(t).
func erfcFactors(x V, scale float64) (e, q V) {
	hi := mul(x, x)
	lo := fma(x, x, neg(hi))
	hi = scaleBy(hi, scale)
	lo = scaleBy(lo, scale)
	e = expf(neg(hi))
	e = fnma(lo, e, e)
	z := scaleBy(abs(x), math.Sqrt(scale))
	t := div(load(c(2)), add(z, c(2)))
	return e, horner(t, erfcC...)
}

// geluf is x·Φ(x) as the twin gelu32 computes it.
func geluf(x V) V {
	w := mul(x, c(math.Sqrt2/2))
	h := half(x)
	ys := fma(h, mul(w, horner(square(w), erfC...)), h)
	xc := minps(load(c(20)), abs(x))
	e, q := erfcFactors(xc, 0.5)
	yneg := mul(mul(h, q), e) // e last: e·q may be denormal where the result is not
	ypos := mul(x, sub(load(c(1)), half(mul(e, q))))
	yl := sel(cmp(cmpLT, x, c(0)), yneg, ypos)
	return sel(cmp(cmpLT, abs(x), c(0.9*math.Sqrt2)), ys, yl)
}

// siluGradf is σ(x)·(1 + x·(1 − σ(x))), SiLU's derivative, as the twin
// siluGrad32: 1 − σ(x) = σ(−x) from the same parts, without the
// cancellation of 1 − σ.
func siluGradf(x V) V {
	e := expf(neg(abs(x)))
	pos := cmp(cmpGE, x, c(0))
	den := add(e, c(1))
	s := div(sel(pos, c(1), e), den)
	sm := div(sel(pos, e, load(c(1))), den)
	return mul(s, add(mul(x, sm), c(1)))
}

// geluGradf is Φ(x) + x·φ(x), GELU's derivative, as the twin
// geluGrad32: Φ from geluf's pieces, φ = e^{−x²/2}/√(2π) from the
// factor e of erfc's.
func geluGradf(x V) V {
	w := mul(x, c(math.Sqrt2/2))
	ps := fma(mul(w, horner(square(w), erfC...)), load(c(0.5)), c(0.5))
	xc := minps(load(c(20)), abs(x))
	e, q := erfcFactors(xc, 0.5)
	pneg := mul(mul(q, c(0.5)), e)
	ppos := sub(load(c(1)), half(mul(e, q)))
	pl := sel(cmp(cmpLT, x, c(0)), pneg, ppos)
	p := sel(cmp(cmpLT, abs(x), c(0.9*math.Sqrt2)), ps, pl)
	return fma(x, mul(e, c(1/math.Sqrt(2*math.Pi))), p)
}

// erff is erf x as the twin erf32 computes it.
func erff(x V) V {
	ys := mul(x, horner(square(x), erfC...))
	a := minps(load(c(10)), abs(x))
	yl := or(sub(load(c(1)), erfcParts(a, 1)), signOf(x))
	return sel(cmp(cmpLT, abs(x), c(0.9)), ys, yl)
}

// signf is the twin signOf: 1 where x > 0, −1 where x < 0, and x·0
// (±0 kept, NaN quieted) elsewhere.
func signf(x V) V {
	r := sel(cmp(cmpGT, x, c(0)), c(1), zero())
	r = sel(cmp(cmpLT, x, c(0)), c(-1), r)
	return sel(cmp(cmpEQ, r, c(0)), mul(x, c(0)), r)
}

// maximum is a > b || a != a ? a : b (NaN-propagating, as the generic
// kernel's order decides between ±0).
func maximum(a, b V) V { return sel(isNaN(a), a, maxps(a, b)) }
func minimum(a, b V) V { return sel(isNaN(a), a, minps(a, b)) }

// roundps rounds a to an integer: imm is VRNDSCALEPS's (and VROUNDPS's)
// control, 0x08 to nearest even, 0x09 down, 0x0A up, the precision
// exception suppressed. Exact, ±0 kept, NaN quieted.
func roundps(a V, imm uint8) V {
	r := vreg()
	if cur.avx512 {
		VRNDSCALEPS(U8(imm), a, r)
	} else {
		VROUNDPS(U8(imm), a, r)
	}
	return r
}

// log1pf is ln(1 + x) as the twin log1p32 computes it.
func log1pf(x V) V {
	u := add(x, c(1))
	d := sub(sub(u, c(1)), x) // (u − 1) − x: the rounding error of u
	r := sub(logf(u), div(d, u))
	r = sel(cmp(cmpEQ, x, c(math.Inf(1))), x, r)
	r = sel(cmp(cmpEQ, x, c(0)), x, r) // −0 stays −0
	return sel(cmp(cmpEQ, u, c(0)), c(math.Inf(-1)), r)
}

// softplusf is the twin softplus32 with β = A and the threshold B.
func softplusf(x, A, B V) V {
	t := mul(x, A)
	y := div(log1pf(expf(t)), A)
	return sel(cmp(cmpGT, t, B), x, y)
}

// Sine and cosine work in float64, 8 lanes (AVX-512) or 4 (AVX2) at a
// time; these are the float64 forms of the vector language.

var consts64 = map[uint64]Mem{}

// cd is the float64 constant v as a memory operand (64 bytes of it), or
// the register it was hoisted into.
func cd(v float64) Op { return cq(math.Float64bits(v)) }

// cq is the 64-bit pattern v, repeated, as a memory operand, or the
// register hoistConsts64 loaded it into.
func cq(v uint64) Op {
	if r, ok := hoisted64[v]; ok {
		return r
	}
	return constMem64(v)
}

// hoisted64 is hoisted for 64-bit patterns.
var hoisted64 map[uint64]V

// hoistConsts64 is hoistConsts for 64-bit patterns (cd and cq).
func hoistConsts64(vs ...uint64) {
	hoisted64 = map[uint64]V{}
	for _, v := range vs {
		if _, ok := hoisted64[v]; !ok {
			hoisted64[v] = load(constMem64(v))
		}
	}
}

// constMem64 is the 64-bit pattern v, repeated, as a memory operand.
func constMem64(v uint64) Mem {
	if m, ok := consts64[v]; ok {
		return m
	}
	m := GLOBL(fmt.Sprintf("vconstq%016x", v), RODATA|NOPTR)
	for off := 0; off < 64; off += 8 {
		DATA(off, U64(v))
	}
	consts64[v] = m
	constBits[m.Symbol.Name] = 64
	return m
}

func fmaPD(a, b V, c Op) V {
	r := vreg()
	VMOVAPD(a, r)
	ins(VFMADD213PD, VFMADD213PD_BCST, 0, c, b, r)
	return r
}
func fnmaPD(a, b V, c Op) V {
	r := vreg()
	VMOVAPD(a, r)
	ins(VFNMADD213PD, VFNMADD213PD_BCST, 0, c, b, r)
	return r
}
func mulPD(a V, b Op) V { r := vreg(); ins(VMULPD, VMULPD_BCST, 0, b, a, r); return r }
func subPD(a V, b Op) V { r := vreg(); ins(VSUBPD, VSUBPD_BCST, 0, b, a, r); return r }
func loadPD(a Op) V {
	if _, _, ok := bcst(a); ok {
		return load(a)
	}
	r := vreg()
	VMOVUPD(a, r)
	return r
}

// hornerPD evaluates Σ cs[k]·xᵏ in float64 with FMAs.
func hornerPD(x V, cs ...float64) V {
	p := loadPD(cd(cs[len(cs)-1]))
	for k := len(cs) - 2; k >= 0; k-- {
		ins(VFMADD213PD, VFMADD213PD_BCST, 0, cd(cs[k]), x, p)
	}
	return p
}

// The constants of sin32 and cos32 (vecmath.go).
const (
	sincosMagic = 0x1.8p52
	pio2a       = 0x1.921fb54p+0
	pio2b       = 0x1.10b4611p-30
	pio2c       = 0x1.4c4c6628b80dcp-59
	twoOverPi   = 0x1.45f306dc9c883p-1
)

// sinC, cosC are the Taylor coefficients of (sin r − r)/r³ and
// (cos r − 1)/r², in r².
var (
	sinC = []float64{-1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800}
	cosC = []float64{-1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800, 1.0 / 479001600}
)

// sincosPD is sin x (cos x with cos set) of float64 lanes as the twins
// sin32 and cos32 compute them for |x| ≤ sincosMax.
func sincosPD(x V, cos bool) V {
	t := fmaPD(x, loadPD(cd(twoOverPi)), cd(sincosMagic)) // n + 1.5·2⁵²
	n := subPD(t, cd(sincosMagic))
	r := fnmaPD(n, loadPD(cd(pio2a)), x)
	r = fnmaPD(n, loadPD(cd(pio2b)), r)
	r = fnmaPD(n, loadPD(cd(pio2c)), r)
	z := mulPD(r, r)
	s := fmaPD(mulPD(r, z), hornerPD(z, sinC...), r)
	co := fmaPD(z, hornerPD(z, cosC...), cd(1))
	q := t // its low bits are n: the quadrant
	if cos {
		q = vreg()
		ins(VPADDQ, VPADDQ_BCST, 0, cq(1), t, q)
	}
	res := vreg()
	if cur.avx512 {
		k := K()
		ins(VPTESTMQ, VPTESTMQ_BCST, 0, cq(1), q, k)
		VBLENDMPD(co, s, k, res)
	} else {
		m := vreg()
		VPSLLQ(U8(63), q, m) // bit 0 to the sign, which VBLENDVPD reads
		VBLENDVPD(m, co, s, res)
	}
	sign := vreg()
	VPSLLQ(U8(62), and(q, cq(2)), sign) // bit 1 to the sign (and, xor: bitwise, as on 64-bit lanes)
	return xor(res, sign)
}

// viaPD is f of float32 lanes computed in float64: the lanes are
// widened in two halves, and f's results narrowed back, each rounded
// once to float32.
func viaPD(x V, f func(V) V) V {
	if cur.avx512 {
		h := YMM()
		VEXTRACTF64X4(U8(1), x, h)
		lo, hi := ZMM(), ZMM()
		VCVTPS2PD(x.AsY(), lo)
		VCVTPS2PD(h, hi)
		rl, rh := YMM(), YMM()
		VCVTPD2PS(f(lo), rl)
		VCVTPD2PS(f(hi), rh)
		r := ZMM()
		VINSERTF64X4(U8(1), rh, rl.AsZ(), r)
		return r
	}
	h := XMM()
	VEXTRACTF128(U8(1), x, h)
	lo, hi := YMM(), YMM()
	VCVTPS2PD(x.AsX(), lo)
	VCVTPS2PD(h, hi)
	rl, rh := XMM(), XMM()
	VCVTPD2PSY(f(lo), rl)
	VCVTPD2PSY(f(hi), rh)
	r := YMM()
	VINSERTF128(U8(1), rh, rl.AsY(), r)
	return r
}

// sincosf is sin x or cos x of float32 lanes, through float64. sin(±0)
// is x itself.
func sincosf(x V, cos bool) V {
	r := viaPD(x, func(d V) V { return sincosPD(d, cos) })
	if !cos {
		r = sel(cmp(cmpEQ, x, c(0)), x, r)
	}
	return r
}

// divPD is a / b; sqrtPD √a.
func divPD(a V, b Op) V { r := vreg(); ins(VDIVPD, VDIVPD_BCST, 0, b, a, r); return r }
func sqrtPD(a V) V      { r := vreg(); VSQRTPD(a, r); return r }
func addPD(a V, b Op) V { r := vreg(); ins(VADDPD, VADDPD_BCST, 0, b, a, r); return r }

// The constants of pow32 (vecmath.go).
const (
	powLn2   = 0x1.62e42fefa39efp-1
	powLn2Hi = 0x1.62e42fefa3800p-1 // ln 2 to 43 bits: n·powLn2Hi is exact for |n| < 2¹⁰
	powLn2Lo = 0x1.ef35793c7673p-45 // ln 2 − powLn2Hi
	powYMax  = 200                  // |p·ln x| beyond which the float32 result is 0 or +Inf
)

// powLogC are the coefficients of (atanh s − s)/s³ in s²: 1/(2j+3);
// powExpC those of e^r: 1/j!.
var (
	powLogC = []float64{1.0 / 3, 1.0 / 5, 1.0 / 7, 1.0 / 9, 1.0 / 11, 1.0 / 13, 1.0 / 15, 1.0 / 17}
	powExpC = []float64{1, 1, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800}
)

// powf is x^p for positive finite float32 lanes as the twin powPos64
// computes it, in float64; p is A + B (the caller splits it so).
func powf(x, A, B V) V {
	var pl, ph V // p in float64: the float32 halves A + B, widened
	if cur.avx512 {
		pl, ph = ZMM(), ZMM()
		VCVTPS2PD(A.AsY(), pl)
		VCVTPS2PD(B.AsY(), ph)
	} else {
		pl, ph = YMM(), YMM()
		VCVTPS2PD(A.AsX(), pl)
		VCVTPS2PD(B.AsX(), ph)
	}
	p := addPD(pl, ph)
	return viaPD(x, func(d V) V {
		// d = 2^e·m, m in [1, 2), then m in (√½, √2]
		e := vreg()
		VPSRLQ(U8(52), d, e)
		m := or(and(d, cq(0x000fffffffffffff)), cq(0x3ff0000000000000))
		big := cmpPD(cmpGT, m, cd(math.Sqrt2))
		m = selPD(big, mulPD(m, cd(0.5)), m)
		VPADDQ(selPD(big, cq(1), zero()), e, e)
		kd := subPD(or(e, cq(0x4330000000000000)), cd(0x1p52+1023)) // e − 1023 as a float64
		f := subPD(m, cd(1))
		sv := divPD(f, addPD(f, cd(2)))
		s2 := addPD(sv, sv)
		z := mulPD(sv, sv)
		lnm := fmaPD(mulPD(s2, z), hornerPD(z, powLogC...), s2)
		lnx := fmaPD(kd, loadPD(cd(powLn2)), lnm)
		y := mulPD(lnx, p)
		y = maxPDc(y, -powYMax)
		y = minPDc(y, powYMax)
		t := fmaPD(y, loadPD(cd(1/math.Ln2)), cd(sincosMagic))
		n := subPD(t, cd(sincosMagic))
		r := fnmaPD(n, loadPD(cd(powLn2Hi)), y)
		r = fnmaPD(n, loadPD(cd(powLn2Lo)), r)
		er := hornerPD(r, powExpC...)
		// 2ⁿ from n's bits in t: (n + 1023) << 52
		sc := vreg()
		ins(VPSUBQ, VPSUBQ_BCST, 0, cq(math.Float64bits(sincosMagic)-1023), t, sc)
		VPSLLQ(U8(52), sc, sc)
		return mulPD(er, sc)
	})
}

// widenPD is the float32 scalar broadcast in A as float64 lanes.
func widenPD(A V) V {
	if cur.avx512 {
		r := ZMM()
		VCVTPS2PD(A.AsY(), r)
		return r
	}
	r := YMM()
	VCVTPS2PD(A.AsX(), r)
	return r
}

// expm1NegPD is eʸ − 1 of float64 lanes y ≤ 0 as the twin expm1Neg64
// computes it: y clamped to −powYMax, eʸ = 2ⁿ·eʳ as in powf, and
// eʸ − 1 = 2ⁿ·(eʳ − 1) + (2ⁿ − 1), with eʳ − 1 = r·Σ rʲ/(j+1)!, which
// keeps its relative accuracy near 0. 2ⁿ − 1 is exact for the n ≥ −52
// where it matters, and the two terms do not cancel: for n = −1 the
// result lies in [−0.65, −0.3], for smaller n nearer −1.
func expm1NegPD(y V) V {
	y = maxPDc(y, -powYMax)
	t := fmaPD(y, loadPD(cd(1/math.Ln2)), cd(sincosMagic))
	n := subPD(t, cd(sincosMagic))
	r := fnmaPD(n, loadPD(cd(powLn2Hi)), y)
	r = fnmaPD(n, loadPD(cd(powLn2Lo)), r)
	p := mulPD(r, hornerPD(r, powExpC[1:]...))
	sc := vreg()
	ins(VPSUBQ, VPSUBQ_BCST, 0, cq(math.Float64bits(sincosMagic)-1023), t, sc)
	VPSLLQ(U8(52), sc, sc)
	return fmaPD(sc, p, subPD(sc, cd(1)))
}

// eluf is torch's elu with alpha A and scale B, as the twin elu32: in
// float64, B·x for x > 0 and A·B·(eˣ − 1) otherwise, rounded once; NaN
// stays NaN.
func eluf(x, A, B V) V {
	b := widenPD(B)
	ab := mulPD(widenPD(A), b)
	r := viaPD(x, func(d V) V {
		neg := mulPD(expm1NegPD(minPDc(d, 0)), ab)
		return selPD(cmpPD(cmpGT, d, cd(0)), mulPD(d, b), neg)
	})
	return sel(isNaN(x), x, r)
}

// hardClamp is min(max(x + 3, 0), 6), a NaN kept (VMAXPS and VMINPS
// return their second source, here x + 3, when either is NaN).
func hardClamp(x V) V {
	return minps(load(c(6)), maxps(zero(), add(x, c(3))))
}

func maxPDc(a V, v float64) V { r := vreg(); ins(VMAXPD, VMAXPD_BCST, 0, cd(v), a, r); return r }
func minPDc(a V, v float64) V { r := vreg(); ins(VMINPD, VMINPD_BCST, 0, cd(v), a, r); return r }

// invSqrtf is x^−½ as math.Pow has it, in float64: x + 0 turns −0 into
// +0, so that 1/√−0 is +Inf, and −Inf gives +0, not √−Inf's NaN.
//
// With AVX-512 it takes VRSQRT14PD's estimate (relative error below
// 2⁻¹⁴) and two Newton steps y·(1.5 − ½x·y²) instead of a division and
// a square root, each a long unpipelined instruction: the steps leave a
// relative error near 1.5·(1.5·2⁻²⁸)² plus a few float64 roundings,
// about 2⁻⁵¹, so the one rounding to float32 stays within 0.5 + 2⁻²⁷
// ulp. The estimate of ±0 is ±Inf and of +Inf is 0, which the steps turn
// into NaN: those lanes are set apart, as are −Inf's.
func invSqrtf(x V) V {
	if cur.avx512 {
		r := viaPD(x, func(d V) V {
			y := vreg()
			VRSQRT14PD(d, y)
			h := mulPD(d, cd(0.5))
			for range 2 {
				y = mulPD(y, fnmaPD(h, mulPD(y, y), cd(1.5)))
			}
			return y
		})
		r = sel(cmp(cmpEQ, x, c(0)), c(math.Inf(1)), r)
		return sel(cmp(cmpEQ, abs(x), c(math.Inf(1))), zero(), r)
	}
	r := viaPD(x, func(d V) V { return divPD(loadPD(cd(1)), sqrtPD(addPD(d, cd(0)))) })
	return sel(cmp(cmpEQ, x, c(math.Inf(-1))), zero(), r)
}

// The constants of GELU's tanh form (geluTanh32 in vecmath.go).
const (
	geluTanhC  = 1.5957691216057308 // 2·√(2/π)
	geluTanhK  = 0.044715
	geluTanhK3 = 3 * geluTanhK
	geluTanhX  = 12 // |x| clamp: |v| ≤ 142.5, and e^{−142.5} is 0 in float32
)

// viaPDs is viaPD for an f of several results: the lanes of x are
// widened in two halves, and each of f's results narrowed back and
// joined, rounded once to float32.
func viaPDs(x V, f func(V) []V) []V {
	if cur.avx512 {
		h := YMM()
		VEXTRACTF64X4(U8(1), x, h)
		lo, hi := ZMM(), ZMM()
		VCVTPS2PD(x.AsY(), lo)
		VCVTPS2PD(h, hi)
		rl, rh := f(lo), f(hi)
		out := make([]V, len(rl))
		for i := range rl {
			a, b := YMM(), YMM()
			VCVTPD2PS(rl[i], a)
			VCVTPD2PS(rh[i], b)
			r := ZMM()
			VINSERTF64X4(U8(1), b, a.AsZ(), r)
			out[i] = r
		}
		return out
	}
	h := XMM()
	VEXTRACTF128(U8(1), x, h)
	lo, hi := YMM(), YMM()
	VCVTPS2PD(x.AsX(), lo)
	VCVTPS2PD(h, hi)
	rl, rh := f(lo), f(hi)
	out := make([]V, len(rl))
	for i := range rl {
		a, b := XMM(), XMM()
		VCVTPD2PSY(rl[i], a)
		VCVTPD2PSY(rh[i], b)
		r := YMM()
		VINSERTF128(U8(1), b, a.AsY(), r)
		out[i] = r
	}
	return out
}

// vd is the float64 constant v as a vector to read, not to write (cv's
// float64 form).
func vd(v float64) V {
	if r, ok := cd(v).(V); ok {
		return r
	}
	return loadPD(cd(v))
}

// geluTanhConsts64 are the float64 constants of geluTanhf and
// geluTanhGradf, for hoistConsts64: their part in float64 is the half of
// the kernels' arithmetic that reads the most constants. (Hoisting the
// float32 ones as well leaves too few registers for avo's allocator.)
func geluTanhConsts64() []uint64 {
	var b []uint64
	for _, v := range []float64{geluTanhC, geluTanhK, 1, 1 / math.Ln2, sincosMagic, powLn2Hi, powLn2Lo} {
		b = append(b, math.Float64bits(v))
	}
	return append(b, 1<<63)
}

// pow2 is 2ⁿ for whole float32 lanes n (|n| ≤ 252), ready to scale by:
// VSCALEFPS takes n itself; AVX2 multiplies by two normal factors
// 2^⌊n/2⌋·2^(n−⌊n/2⌋), as expf does, so that a product below the normal
// range is rounded once, by the second.
type pow2 struct{ n, s1, s2 V }

func pow2Of(n V) pow2 {
	if cur.avx512 {
		return pow2{n: n}
	}
	ni := vreg()
	VCVTTPS2DQ(n, ni)
	n1 := srai(ni, 1)
	n2 := subi(ni, n1)
	return pow2{s1: shli(addi(n1, ci(127)), 23), s2: shli(addi(n2, ci(127)), 23)}
}

// scale is z·2ⁿ rounded once.
func (p pow2) scale(z V) V {
	if cur.avx512 {
		return scalef(z, p.n)
	}
	return mul(mul(z, p.s1), p.s2)
}

// gtParts is what the kernels of GELU's tanh form share (the twin
// geluTanhParts): x clamped to ±64, e^{−|v|} = p·2ⁿ with e = p·2ⁿ
// rounded once, and w = x·v′ (with grad).
type gtParts struct {
	xc, p, e, w V
	sc          pow2
}

// geluTanhParts computes them: v = c·x·(1 + κx²) and w in float64, and
// the reduction of e^{−|v|} in float64 as in expm1NegPD; eʳ from r
// rounded to float32, by expf's polynomial.
func geluTanhParts(x V, grad bool) gtParts {
	xc := minps(cv(geluTanhX), maxps(cv(-geluTanhX), x)) // NaN stays
	outs := viaPDs(xc, func(d V) []V {
		s := mulPD(d, d)
		cx := mulPD(d, cd(geluTanhC))
		v := mulPD(cx, fmaPD(s, vd(geluTanhK), cd(1)))
		y := or(v, cq(1<<63)) // −|v|
		t := fmaPD(y, vd(1/math.Ln2), cd(sincosMagic))
		n := subPD(t, cd(sincosMagic))
		r := fnmaPD(n, vd(powLn2Hi), y)
		r = fnmaPD(n, vd(powLn2Lo), r)
		res := []V{r, n}
		if grad {
			res = append(res, mulPD(cx, fmaPD(s, vd(geluTanhK3), cd(1))))
		}
		return res
	})
	g := gtParts{xc: xc, sc: pow2Of(outs[1])}
	g.p = horner(outs[0], 1, 1, expC[0], expC[1], expC[2], expC[3], expC[4])
	g.e = g.sc.scale(g.p)
	if grad {
		g.w = outs[2]
	}
	return g
}

// geluTanhf is GELU's tanh form x·σ(v) as the twin geluTanh32: x/(1 + e)
// for x ≥ 0, (xc·p/(1 + e))·2ⁿ below; NaN at −Inf.
func geluTanhf(x V) V {
	g := geluTanhParts(x, false)
	pos := cmp(cmpGE, x, c(0))
	z := div(sel(pos, x, mul(g.xc, g.p)), add(g.e, c(1)))
	y := sel(pos, z, g.sc.scale(z))
	return sel(cmp(cmpEQ, x, c(math.Inf(-1))), c(math.NaN()), y)
}

// geluTanhGradf is its derivative σ(v)·(1 + w·σ(−v)) as the twin
// geluTanhGrad32; NaN at ±Inf.
func geluTanhGradf(x V) V {
	g := geluTanhParts(x, true)
	pos := cmp(cmpGE, x, c(0))
	rd := div(load(c(1)), add(g.e, c(1)))
	sp := mul(sel(pos, c(1), g.p), rd)
	sm := mul(sel(pos, g.e, load(c(1))), rd)
	h := mul(sp, fma(g.w, sm, c(1)))
	f := sel(pos, h, g.sc.scale(h))
	return sel(cmp(cmpEQ, abs(x), c(math.Inf(1))), c(math.NaN()), f)
}

// ---------------------------------------------------------------- the kernels

// unary ops take x and the scalars A, B (as vectors).
type unary struct {
	name   string
	doc    string
	unroll int
	f      func(x, A, B V) V
	scal   int // scalars used: 0, 1 or 2
}

// hoists names the kernels whose constants hoistConsts keeps in
// registers on AVX-512, and those constants: the compute-bound ones that
// the large elementwise benchmarks time.
var hoists = map[string]func() []float64{"Exp": expConsts}

// hoists64 is hoists for the float64 constants (cd, cq).
var hoists64 = map[string]func() []uint64{"GeluTanh": geluTanhConsts64, "GeluTanhGrad": geluTanhConsts64}

var unaries = []unary{
	{"Adds", "x + a", 4, func(x, A, B V) V { return add(x, A) }, 1},
	{"Rsubs", "a − x", 4, func(x, A, B V) V { return sub(A, x) }, 1},
	{"Muls", "x·a", 4, func(x, A, B V) V { return mul(x, A) }, 1},
	{"Divs", "x / a", 4, func(x, A, B V) V { return div(x, A) }, 1},
	{"Rdivs", "a / x", 4, func(x, A, B V) V { return div(A, x) }, 1},
	{"Maxs", "maximum(x, a)", 4, func(x, A, B V) V { return maximum(x, A) }, 1},
	{"Maxsr", "maximum(a, x)", 4, func(x, A, B V) V { return maximum(A, x) }, 1},
	{"Mins", "minimum(x, a)", 4, func(x, A, B V) V { return minimum(x, A) }, 1},
	{"Minsr", "minimum(a, x)", 4, func(x, A, B V) V { return minimum(A, x) }, 1},
	{"Neg", "−x", 4, func(x, A, B V) V { return neg(x) }, 0},
	{"Abs", "|x|", 4, func(x, A, B V) V { return abs(x) }, 0},
	{"Square", "x²", 4, func(x, A, B V) V { return mul(x, x) }, 0},
	{"Relu", "x < 0 ? 0 : x", 4, func(x, A, B V) V { return maxps(zero(), x) }, 0},
	{"Sqrt", "√x", 2, func(x, A, B V) V { return sqrt(x) }, 0},
	{"Rsqrt", "1/√x", 2, func(x, A, B V) V { return rcpExact(sqrt(x)) }, 0},
	{"Recip", "1/x", 2, func(x, A, B V) V { return rcpExact(x) }, 0},
	{"Clamp", "min(max(x, a), b), NaN kept", 4, func(x, A, B V) V { return minps(B, maxps(A, x)) }, 2},
	{"Leaky", "x > 0 ? x : a·x", 4, func(x, A, B V) V { return sel(cmp(cmpGT, x, c(0)), x, mul(x, A)) }, 1},
	{"Sign", "sign(x): 1, −1, or x·0 for ±0 and NaN", 4, func(x, A, B V) V { return signf(x) }, 0},
	{"Exp", "e^x", 2, func(x, A, B V) V { return expf(x) }, 0},
	{"Log", "ln x", 1, func(x, A, B V) V { return logf(x) }, 0},
	{"Tanh", "tanh x", 1, func(x, A, B V) V { return tanhf(x) }, 0},
	{"Sigmoid", "1/(1+e^−x)", 1, func(x, A, B V) V { return sigmoidf(x) }, 0},
	{"Silu", "x·σ(x)", 1, func(x, A, B V) V { return siluf(x) }, 0},
	{"Gelu", "x·Φ(x)", 1, func(x, A, B V) V { return geluf(x) }, 0},
	{"Erf", "erf x", 1, func(x, A, B V) V { return erff(x) }, 0},
	{"Floor", "⌊x⌋", 4, func(x, A, B V) V { return roundps(x, 0x09) }, 0},
	{"Ceil", "⌈x⌉", 4, func(x, A, B V) V { return roundps(x, 0x0a) }, 0},
	{"Round", "x rounded to the nearest integer, ties to even", 4, func(x, A, B V) V { return roundps(x, 0x08) }, 0},
	{"Log1p", "ln(1 + x)", 1, func(x, A, B V) V { return log1pf(x) }, 0},
	{"Sin", "sin x for |x| ≤ 2²⁴ (the caller redoes larger x, ±Inf and NaN)", 1, func(x, A, B V) V { return sincosf(x, false) }, 0},
	{"Cos", "cos x for |x| ≤ 2²⁴ (the caller redoes larger x, ±Inf and NaN)", 1, func(x, A, B V) V { return sincosf(x, true) }, 0},
	{"Softplus", "a·x > b ? x : ln(1 + e^{a·x})/a", 1, func(x, A, B V) V { return softplusf(x, A, B) }, 2},
	// the powers torch's pow special-cases, each in float64 and rounded
	// once to float32
	{"Cube", "x³", 2, func(x, A, B V) V { return viaPD(x, func(d V) V { return mulPD(mulPD(d, d), d) }) }, 0},
	{"InvSquare", "1/x²", 2, func(x, A, B V) V { return viaPD(x, func(d V) V { return divPD(loadPD(cd(1)), mulPD(d, d)) }) }, 0},
	{"InvSqrt", "1/√x", 2, func(x, A, B V) V { return invSqrtf(x) }, 0},
	{"Pow", "x^(a+b) for positive finite x (the caller redoes the rest)", 1, func(x, A, B V) V { return powf(x, A, B) }, 2},
	// torch's hard activations, in its order of operations
	{"Hardsigmoid", "min(max(x + 3, 0), 6)/6", 4, func(x, A, B V) V { return div(hardClamp(x), c(6)) }, 0},
	{"Hardswish", "x·min(max(x + 3, 0), 6)/6", 4, func(x, A, B V) V { return div(mul(x, hardClamp(x)), c(6)) }, 0},
	{"Elu", "x > 0 ? b·x : a·b·(eˣ − 1), in float64", 1, func(x, A, B V) V { return eluf(x, A, B) }, 2},
	// derivatives f′(x) of activations, which their gradients multiply by g
	{"LeakyGrad", "x > 0 ? 1 : a", 4, func(x, A, B V) V { return sel(cmp(cmpGT, x, c(0)), c(1), A) }, 1},
	{"EluGrad", "x > 0 ? b : a·b·eˣ", 1, func(x, A, B V) V { return sel(cmp(cmpGT, x, c(0)), B, mul(expf(x), mul(A, B))) }, 2},
	{"SiluGrad", "σ(x)·(1 + x·σ(−x))", 1, func(x, A, B V) V { return siluGradf(x) }, 0},
	{"GeluGrad", "Φ(x) + x·φ(x)", 1, func(x, A, B V) V { return geluGradf(x) }, 0},
	// GELU's tanh form and its derivative, x·σ(v) with v = 2u computed in
	// float64
	{"GeluTanh", "x·σ(v), v = 2·√(2/π)·(x + 0.044715·x³)", 1, func(x, A, B V) V { return geluTanhf(x) }, 0},
	{"GeluTanhGrad", "σ(v)·(1 + x·v′·σ(−v))", 1, func(x, A, B V) V { return geluTanhGradf(x) }, 0},
}

type binary struct {
	name string
	doc  string
	f    func(x, y V) V
}

var binaries = []binary{
	{"Add", "x + y", func(x, y V) V { return add(x, y) }},
	{"Sub", "x − y", func(x, y V) V { return sub(x, y) }},
	{"Mul", "x·y", func(x, y V) V { return mul(x, y) }},
	{"Div", "x / y", func(x, y V) V { return div(x, y) }},
	{"Max", "maximum(x, y)", func(x, y V) V { return maximum(x, y) }},
	{"Min", "minimum(x, y)", func(x, y V) V { return minimum(x, y) }},
	// ReLU's gradient x at ReLU's output y, torch's threshold_backward: a
	// select, so x = ±Inf or NaN where y ≤ 0 still gives 0, and a NaN y
	// (unordered, so not ≤ 0) passes x
	{"ReluGrad", "y ≤ 0 ? 0 : x", func(x, y V) V { z := zero(); return sel(cmp(cmpLE, y, z), z, x) }},
	// the gradients x·f′(y) of hardsigmoid and hardswish at their input
	// y, with torch's values at ±3 and its NaN handling: hardsigmoid's is
	// x/6 strictly inside (−3, 3), else 0 (NaN too); hardswish's is 0
	// below −3, x·(y/3 + ½) up to 3, and x above 3 or at a NaN y
	{"HardsigmoidGrad", "|y| < 3 ? x/6 : 0", func(x, y V) V { return sel(cmp(cmpLT, abs(y), c(3)), div(x, c(6)), zero()) }},
	{"HardswishGrad", "y < −3 ? 0 : y ≤ 3 ? x·(y/3 + ½) : x", func(x, y V) V {
		in := sel(cmp(cmpLE, y, c(3)), mul(x, add(div(y, c(3)), c(0.5))), x)
		return sel(cmp(cmpLT, y, c(-3)), zero(), in)
	}},
	// the gradients x·f′ of sigmoid and tanh from their output y, rounded
	// as torch's sigmoid_backward and tanh_backward round them
	{"SigmoidGrad", "x·(1 − y)·y", func(x, y V) V { return mul(mul(x, sub(load(c(1)), y)), y) }},
	{"TanhGrad", "x·(1 − y²)", func(x, y V) V { return mul(x, sub(load(c(1)), mul(y, y))) }},
}

// loop generates the map over n elements: body loads its operands at the
// given byte offset (masked when m is set) and returns the result. With
// nt set it is the streaming variant: n is a multiple of the lanes, dst
// is aligned to a vector, and the results go out with non-temporal
// stores, which write whole lines without reading them first and keep
// them out of the caches; an SFENCE orders them before the return.
func loop(unroll int, ptrs []reg.Register, n reg.Register, body func(load func(p reg.Register, off int) V) V, dst reg.Register, nt bool) {
	w := cur.lanes
	vb := w * 4
	plain := func(p reg.Register, off int) V { r := vreg(); VMOVUPS(Mem{Base: p, Disp: off}, r); return r }
	store := func(r V, m Mem) {
		if nt {
			VMOVNTPS(r, m)
		} else {
			VMOVUPS(r, m)
		}
	}
	advance := func(k int) {
		for _, p := range append([]reg.Register{dst}, ptrs...) {
			ADDQ(U32(k*vb), p)
		}
		SUBQ(U32(k*w), n)
	}
	if unroll > 1 {
		Label("loop")
		CMPQ(n, U32(unroll*w))
		JB(LabelRef("single"))
		for u := 0; u < unroll; u++ {
			store(body(func(p reg.Register, off int) V { return plain(p, off+u*vb) }), Mem{Base: dst, Disp: u * vb})
		}
		advance(unroll)
		JMP(LabelRef("loop"))
	}
	Label("single")
	CMPQ(n, U32(w))
	JB(LabelRef("tail"))
	store(body(plain), Mem{Base: dst})
	advance(1)
	JMP(LabelRef("single"))

	Label("tail")
	if nt {
		SFENCE()
		VZEROUPPER()
		RET()
		return
	}
	TESTQ(n, n)
	JE(LabelRef("done"))
	if cur.avx512 {
		// k = (1 << n) − 1: the first n lanes
		k := K()
		MOVL(U32(1), reg.EAX)
		SHLL(reg.CL, reg.EAX) // n is in CX
		DECL(reg.EAX)
		KMOVW(reg.EAX, k)
		r := body(func(p reg.Register, off int) V { r := vreg(); VMOVUPS_Z(Mem{Base: p, Disp: off}, k, r); return r })
		VMOVUPS(r, k, Mem{Base: dst})
	} else {
		// the mask is 8 lanes of tailMask from lane 8−n: n all-ones lanes
		m := YMM()
		NEGQ(n)
		LEAQ(tailMask, reg.RAX)
		VMOVUPS(Mem{Base: reg.RAX, Index: n, Scale: 4, Disp: 32}, m)
		r := body(func(p reg.Register, off int) V { r := YMM(); VMASKMOVPS(Mem{Base: p, Disp: off}, m, r); return r })
		VMASKMOVPS(r, m, Mem{Base: dst})
	}
	Label("done")
	VZEROUPPER()
	RET()
}

var tailMask Mem

// ntSuffix names a kernel's streaming variant (loop's nt), "" the plain.
func ntSuffix(nt bool) string {
	if nt {
		return "NT"
	}
	return ""
}

// ntDoc is the streaming variant's addition to a kernel's doc comment.
func ntDoc(nt bool) string {
	if nt {
		return fmt.Sprintf(" n must be a multiple of %d and dst %d-byte aligned; dst is written with non-temporal stores.", cur.lanes, cur.lanes*4)
	}
	return ""
}

func genUnary(u unary, nt bool) string {
	name := "v" + u.name + ntSuffix(nt) + cur.name
	TEXT(name, NOSPLIT, "func(dst, x *float32, n int, a, b float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[i] = %s for i < n, using %s.%s", name, u.doc, cur.name, ntDoc(nt)))
	dst := Load(Param("dst"), reg.RDI)
	x := Load(Param("x"), reg.RSI)
	n := Load(Param("n"), reg.RCX)
	var A, B V
	if u.scal >= 1 {
		A = splat(NewParamAddr("a", 24))
	}
	if u.scal >= 2 {
		B = splat(NewParamAddr("b", 28))
	}
	if h := hoists[u.name]; cur.avx512 && h != nil {
		hoistConsts(h()...)
		defer func() { hoisted = nil }()
	}
	if h := hoists64[u.name]; cur.avx512 && h != nil {
		hoistConsts64(h()...)
		defer func() { hoisted64 = nil }()
	}
	loop(u.unroll, []reg.Register{x}, n, func(ld func(p reg.Register, off int) V) V {
		return u.f(ld(x, 0), A, B)
	}, dst, nt)
	return name
}

func genBinary(bi binary, nt bool) string {
	name := "v" + bi.name + ntSuffix(nt) + cur.name
	TEXT(name, NOSPLIT, "func(dst, x, y *float32, n int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[i] = %s for i < n, using %s.%s", name, bi.doc, cur.name, ntDoc(nt)))
	dst := Load(Param("dst"), reg.RDI)
	x := Load(Param("x"), reg.RSI)
	y := Load(Param("y"), reg.RDX)
	n := Load(Param("n"), reg.RCX)
	loop(4, []reg.Register{x, y}, n, func(ld func(p reg.Register, off int) V) V {
		return bi.f(ld(x, 0), ld(y, 0))
	}, dst, nt)
	return name
}

// ringUnroll is the vectors per iteration of genBinaryRing's loop; its
// ring holds a whole number of such groups.
const ringUnroll = 4

// genBinaryRing generates the streaming variant of a binary map that
// reads y r elements ahead of x, through a ring of r floats:
//
//	ring[0:r] = y[0:r]
//	for i < n−r: v = ring[i mod r]; ring[i mod r] = y[i+r]; dst[i] = f(x[i], v)
//	for i < n:   dst[i] = f(x[i], ring[i mod r])
//
// When x and y start at the same offset modulo a large power of two
// (equal-sized tensors allocated one after the other), the two read
// streams hit the same DRAM banks at the same time and one core gets
// about two thirds of the bandwidth it gets when they do not; reading y
// a few KiB ahead of x breaks that lockstep. The ring (a few KiB) stays
// in L1. As the plain streaming variant, n is a multiple of the lanes,
// dst is aligned to a vector and written with non-temporal stores; r is
// a positive multiple of ringUnroll vectors, at most n, and ring is r
// floats.
func genBinaryRing(bi binary) string {
	name := "v" + bi.name + "Ring" + cur.name
	TEXT(name, NOSPLIT, "func(dst, x, y, ring *float32, n, r int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[i] = %s for i < n, using %s, reading y through ring, r elements ahead of x. n must be a multiple of %d, dst %d-byte aligned, r a positive multiple of %d at most n; dst is written with non-temporal stores.",
		name, bi.doc, cur.name, cur.lanes, cur.lanes*4, ringUnroll*cur.lanes))
	dst := Load(Param("dst"), reg.RDI)
	x := Load(Param("x"), reg.RSI)
	y := Load(Param("y"), reg.RDX)
	ring := Load(Param("ring"), reg.R10)
	n := Load(Param("n"), reg.RCX)
	r := Load(Param("r"), reg.R11)
	j := reg.R9 // byte offset in the ring of element i
	vb := cur.lanes * 4
	SHLQ(U8(2), n) // bytes from here on
	SHLQ(U8(2), r)

	// ring[0:r] = y[0:r]; y then runs r bytes ahead
	XORQ(j, j)
	Label("fill")
	for u := 0; u < ringUnroll; u++ {
		v := load(Mem{Base: y, Index: j, Scale: 1, Disp: u * vb})
		VMOVUPS(v, Mem{Base: ring, Index: j, Scale: 1, Disp: u * vb})
	}
	ADDQ(U32(ringUnroll*vb), j)
	CMPQ(j, r)
	JB(LabelRef("fill"))
	ADDQ(r, y)
	SUBQ(r, n)
	XORQ(j, j)

	// step handles k vectors at i: with refill, y[i+r] replaces y[i] in
	// the ring; then i and j move on, j wrapping to 0 at r (a multiple of
	// k vectors, so never inside a step)
	step := func(k int, refill bool, again string) {
		for u := 0; u < k; u++ {
			at := Mem{Base: ring, Index: j, Scale: 1, Disp: u * vb}
			v := load(at)
			if refill {
				VMOVUPS(load(Mem{Base: y, Disp: u * vb}), at)
			}
			VMOVNTPS(bi.f(load(Mem{Base: x, Disp: u * vb}), v), Mem{Base: dst, Disp: u * vb})
		}
		ptrs := []reg.Register{dst, x}
		if refill {
			ptrs = append(ptrs, y)
		}
		for _, p := range ptrs {
			ADDQ(U32(k*vb), p)
		}
		SUBQ(U32(k*vb), n)
		ADDQ(U32(k*vb), j)
		CMPQ(j, r)
		JB(LabelRef(again))
		XORQ(j, j)
		JMP(LabelRef(again))
	}
	Label("group")
	CMPQ(n, U32(ringUnroll*vb))
	JB(LabelRef("single"))
	step(ringUnroll, true, "group")
	Label("single")
	TESTQ(n, n)
	JE(LabelRef("drain"))
	step(1, true, "single")

	// the last r bytes: y is all in the ring
	Label("drain")
	MOVQ(r, n)
	Label("drainLoop")
	TESTQ(n, n)
	JE(LabelRef("done"))
	step(1, false, "drainLoop")
	Label("done")
	SFENCE()
	VZEROUPPER()
	RET()
	return name
}

// ---------------------------------------------------------------- reductions

// The reduction kernels of backend/cpu/reduce_vec.go, whose pure-Go twins
// there document them (sumWidenGo, maxF32Go, colSumGo). Each handles the
// whole vectors of its input; the Go wrapper does the last few elements.
//
//	sumWiden: Σ x[i] for i < n, n a multiple of L (float64 lanes per
//	vector: 8 on AVX-512, 4 on AVX2), in float64: A = sumAccs
//	accumulators take L consecutive elements each per step of A·L, then
//	single vectors go to the first; the accumulators combine pairwise
//	(a[i] += a[i+h] for h = A/2, …, 1), and the lanes of the result by
//	halving (lane i += lane i+L/2, …).
//	maxF32, minF32: the largest (smallest) of x[:n], n ≥ 1 a multiple of
//	the float32 lanes; NaN if any element is NaN.
//	colSum: acc[j] += Σ_r x[r·stride + j] for j < cols (a multiple of L),
//	rows in order: each column's sum is the sequential one.
//	sqDiff: Σ (x[i] − y[i])² for i < n, n a multiple of L, in float64:
//	each difference rounded to float32 (as Sub rounds it), its square
//	exact in float64, added in sumWiden's order (mse_loss's sum).

// sumAccs is the accumulators of sumWiden (sumAccs in reduce_vec.go).
const sumAccs = 8

// cvt loads L float32 values at m as float64 lanes.
func cvt(m Mem) V {
	r := vreg()
	if cur.avx512 {
		VCVTPS2PD(m, r)
	} else {
		VCVTPS2PD(m, r) // m128 → ymm
	}
	return r
}

// hsumPD returns the float64 lanes of v summed by halving, in an XMM's low
// lane.
func hsumPD(v V) reg.VecVirtual {
	y := v
	if cur.avx512 {
		y = YMM()
		VEXTRACTF64X4(U8(1), v, y)
		VADDPD(y, v.AsY(), y)
	}
	x := XMM()
	VEXTRACTF128(U8(1), y, x)
	VADDPD(x, y.AsX(), x)
	h := XMM()
	VPERMILPD(U8(1), x, h)
	VADDSD(h, x, x)
	return x
}

func genSumWiden() string {
	name := "sumWiden" + cur.name
	TEXT(name, NOSPLIT, "func(x *float32, n int) float64")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s returns Σ x[i] for i < n in float64 (n a multiple of %d), using %s.", name, cur.lanes/2, cur.name))
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	l := cur.lanes / 2 // float64 lanes, and float32 values per step
	acc := make([]V, sumAccs)
	for u := range acc {
		acc[u] = zero()
	}
	Label("loop")
	CMPQ(n, U32(sumAccs*l))
	JB(LabelRef("single"))
	for u := range acc {
		VADDPD(cvt(Mem{Base: x, Disp: 4 * l * u}), acc[u], acc[u])
	}
	ADDQ(U32(4*sumAccs*l), x)
	SUBQ(U32(sumAccs*l), n)
	JMP(LabelRef("loop"))
	Label("single")
	CMPQ(n, U32(l))
	JB(LabelRef("done"))
	VADDPD(cvt(Mem{Base: x}), acc[0], acc[0])
	ADDQ(U32(4*l), x)
	SUBQ(U32(l), n)
	JMP(LabelRef("single"))
	Label("done")
	// pairwise: a[i] += a[i+h] for h = sumAccs/2, …, 1
	for h := sumAccs / 2; h >= 1; h /= 2 {
		for i := 0; i < h; i++ {
			VADDPD(acc[i+h], acc[i], acc[i])
		}
	}
	r := hsumPD(acc[0])
	VZEROUPPER()
	Store(r, ReturnIndex(0))
	RET()
	return name
}

func genSqDiffWiden() string {
	name := "sqDiffWiden" + cur.name
	TEXT(name, NOSPLIT, "func(x, y *float32, n int) float64")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s returns Σ (x[i] − y[i])² for i < n in float64 (n a multiple of %d), each difference rounded to float32, using %s.", name, cur.lanes/2, cur.name))
	x := Load(Param("x"), GP64())
	y := Load(Param("y"), GP64())
	n := Load(Param("n"), GP64())
	l := cur.lanes / 2 // float64 lanes, and float32 values per step
	acc := make([]V, sumAccs)
	for u := range acc {
		acc[u] = zero()
	}
	// step adds the squares of the l differences at byte offset off to a
	step := func(off int, a V) {
		var d reg.VecVirtual
		if cur.avx512 {
			d = YMM()
		} else {
			d = XMM()
		}
		VMOVUPS(Mem{Base: x, Disp: off}, d)
		VSUBPS(Mem{Base: y, Disp: off}, d, d)
		w := vreg()
		VCVTPS2PD(d, w)
		VFMADD231PD(w, w, a) // w² is exact: one rounding, as a separate add
	}
	Label("loop")
	CMPQ(n, U32(sumAccs*l))
	JB(LabelRef("single"))
	for u := range acc {
		step(4*l*u, acc[u])
	}
	ADDQ(U32(4*sumAccs*l), x)
	ADDQ(U32(4*sumAccs*l), y)
	SUBQ(U32(sumAccs*l), n)
	JMP(LabelRef("loop"))
	Label("single")
	CMPQ(n, U32(l))
	JB(LabelRef("done"))
	step(0, acc[0])
	ADDQ(U32(4*l), x)
	ADDQ(U32(4*l), y)
	SUBQ(U32(l), n)
	JMP(LabelRef("single"))
	Label("done")
	for h := sumAccs / 2; h >= 1; h /= 2 {
		for i := 0; i < h; i++ {
			VADDPD(acc[i+h], acc[i], acc[i])
		}
	}
	r := hsumPD(acc[0])
	VZEROUPPER()
	Store(r, ReturnIndex(0))
	RET()
	return name
}

func genExtreme(isMax bool) string {
	op, word := "min", "smallest"
	if isMax {
		op, word = "max", "largest"
	}
	name := op + "F32" + cur.name
	TEXT(name, NOSPLIT, "func(x *float32, n int) float32")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s returns the %s of x[:n] (n ≥ 1 a multiple of %d), or NaN if one is NaN, using %s.", name, word, cur.lanes, cur.name))
	x := Load(Param("x"), GP64())
	n := Load(Param("n"), GP64())
	w := cur.lanes
	ext := func(a Op, b V) {
		if isMax {
			VMAXPS(a, b, b)
		} else {
			VMINPS(a, b, b)
		}
	}
	first := load(Mem{Base: x})
	acc := []V{first, load(first), load(first), load(first)}
	// NaN lanes seen: an opmask on AVX-512, a vector on AVX2
	var kn reg.OpmaskVirtual
	var nv V
	if cur.avx512 {
		kn = K()
		KXORW(kn, kn, kn)
	} else {
		nv = zero()
	}
	step := func(v V, a V) {
		if cur.avx512 {
			k := K()
			VCMPPS(U8(cmpUNORD), v, v, k)
			KORW(k, kn, kn)
		} else {
			t := YMM()
			VCMPPS(U8(cmpUNORD), v, v, t)
			VORPS(t, nv, nv)
		}
		ext(v, a)
	}
	step(first, acc[0])
	ADDQ(U32(4*w), x)
	SUBQ(U32(w), n)
	Label("loop")
	CMPQ(n, U32(4*w))
	JB(LabelRef("single"))
	for u := range acc {
		step(load(Mem{Base: x, Disp: 4 * w * u}), acc[u])
	}
	ADDQ(U32(16*w), x)
	SUBQ(U32(4*w), n)
	JMP(LabelRef("loop"))
	Label("single")
	CMPQ(n, U32(w))
	JB(LabelRef("done"))
	step(load(Mem{Base: x}), acc[0])
	ADDQ(U32(4*w), x)
	SUBQ(U32(w), n)
	JMP(LabelRef("single"))
	Label("done")
	if cur.avx512 {
		KORTESTW(kn, kn)
	} else {
		m := GP32()
		VMOVMSKPS(nv, m)
		TESTL(m, m)
	}
	JNE(LabelRef("nan"))
	ext(acc[1], acc[0])
	ext(acc[3], acc[2])
	ext(acc[2], acc[0])
	y := acc[0]
	if cur.avx512 {
		y = YMM()
		VEXTRACTF64X4(U8(1), acc[0], y)
		ext(acc[0].AsY(), y)
	}
	r := XMM()
	VEXTRACTF128(U8(1), y, r)
	ext(y.AsX(), r)
	t := XMM()
	VMOVHLPS(r, r, t)
	ext(t, r)
	t2 := XMM()
	VMOVSHDUP(r, t2)
	ext(t2, r)
	VZEROUPPER()
	Store(r, ReturnIndex(0))
	RET()
	Label("nan")
	q := XMM()
	VMOVSS(c(math.NaN()), q)
	VZEROUPPER()
	Store(q, ReturnIndex(0))
	RET()
	return name
}

func genColSum() string {
	name := "colSum" + cur.name
	TEXT(name, NOSPLIT, "func(acc *float64, x *float32, rows, cols, stride int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s adds Σ_r x[r·stride + j] over r < rows, in order, to acc[j] for j < cols (a multiple of %d), using %s.", name, cur.lanes/2, cur.name))
	a := Load(Param("acc"), GP64())
	x := Load(Param("x"), GP64())
	rows := Load(Param("rows"), GP64())
	cols := Load(Param("cols"), GP64())
	stride := Load(Param("stride"), GP64())
	SHLQ(U8(2), stride) // in bytes
	l := cur.lanes / 2
	block := func(u int, next string) {
		acc := make([]V, u)
		for i := range acc {
			acc[i] = vreg()
			VMOVUPD(Mem{Base: a, Disp: 8 * l * i}, acc[i])
		}
		p, r := GP64(), GP64()
		MOVQ(x, p)
		MOVQ(rows, r)
		lbl := fmt.Sprintf("rows%d", u)
		Label(lbl)
		TESTQ(r, r)
		JE(LabelRef(lbl + "done"))
		for i := range acc {
			VADDPD(cvt(Mem{Base: p, Disp: 4 * l * i}), acc[i], acc[i])
		}
		ADDQ(stride, p)
		DECQ(r)
		JMP(LabelRef(lbl))
		Label(lbl + "done")
		for i := range acc {
			VMOVUPD(acc[i], Mem{Base: a, Disp: 8 * l * i})
		}
		ADDQ(U32(8*l*u), a)
		ADDQ(U32(4*l*u), x)
		SUBQ(U32(l*u), cols)
		JMP(LabelRef(next))
	}
	Label("cols4")
	CMPQ(cols, U32(4*l))
	JB(LabelRef("cols1"))
	block(4, "cols4")
	Label("cols1")
	CMPQ(cols, U32(l))
	JB(LabelRef("done"))
	block(1, "cols1")
	Label("done")
	VZEROUPPER()
	RET()
	return name
}

var table = flag.String("table", "", "write the Go tables of kernels to this file")

func main() {
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	tailMask = GLOBL("vtailmask", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		v := uint32(0)
		if i < 8 {
			v = 0xffffffff
		}
		DATA(4*i, U32(v))
	}
	names := map[string][]string{}
	for _, is := range []isa{avx512, avx2} {
		cur = is
		for _, nt := range []bool{false, true} {
			for _, u := range unaries {
				names[is.name+"u"+ntSuffix(nt)] = append(names[is.name+"u"+ntSuffix(nt)], genUnary(u, nt))
			}
			for _, b := range binaries {
				names[is.name+"b"+ntSuffix(nt)] = append(names[is.name+"b"+ntSuffix(nt)], genBinary(b, nt))
			}
		}
		for _, b := range binaries {
			names[is.name+"bRing"] = append(names[is.name+"bRing"], genBinaryRing(b))
		}
		names[is.name+"r"] = []string{genSumWiden(), genExtreme(true), genExtreme(false), genColSum(), genSqDiffWiden()}
		optNames[is.name] = optNamesOf(genOptim())
		genLayerNorm()
	}
	genTranspose8()
	if *table != "" {
		writeTable(*table, names)
	}
	Generate()
}

// writeTable writes vecAsm<ISA>, the kernels of each instruction set
// indexed by the op constants of backend/cpu/vec.go (vu<Name>, vb<Name>).
func writeTable(path string, names map[string][]string) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by command: go run main.go %s. DO NOT EDIT.\n\n", strings.Join(os.Args[1:], " "))
	b.WriteString("//go:build amd64 && !purego\n\npackage cpu\n")
	for _, is := range []isa{avx512, avx2} {
		fmt.Fprintf(&b, "\n// vecAsm%s lists the %s kernels by op, and their streaming variants.\n", is.name, is.name)
		fmt.Fprintf(&b, "var vecAsm%s = vecAsm{\n", is.name)
		for _, sfx := range []string{"", "NT"} {
			fmt.Fprintf(&b, "\tun%s: [numVecUn]func(dst, x *float32, n int, a, b float32){\n", sfx)
			for i, u := range unaries {
				fmt.Fprintf(&b, "\t\tvu%s: %s,\n", u.name, names[is.name+"u"+sfx][i])
			}
			fmt.Fprintf(&b, "\t},\n\tbin%s: [numVecBin]func(dst, x, y *float32, n int){\n", sfx)
			for i, bi := range binaries {
				fmt.Fprintf(&b, "\t\tvb%s: %s,\n", bi.name, names[is.name+"b"+sfx][i])
			}
			b.WriteString("\t},\n")
		}
		fmt.Fprintf(&b, "\tbinRing: [numVecBin]func(dst, x, y, ring *float32, n, r int){\n")
		for i, bi := range binaries {
			fmt.Fprintf(&b, "\t\tvb%s: %s,\n", bi.name, names[is.name+"bRing"][i])
		}
		fmt.Fprintf(&b, "\t},\n\tringStep: %d,\n", ringUnroll*is.lanes)
		b.WriteString("}\n")
		r := names[is.name+"r"]
		fmt.Fprintf(&b, "\n// redAsm%s is the %s reduction kernels.\n", is.name, is.name)
		fmt.Fprintf(&b, "var redAsm%s = redAsm{lanes: %d, sum: %s, max: %s, min: %s, colSum: %s, sqDiff: %s}\n", is.name, is.lanes/2, r[0], r[1], r[2], r[3], r[4])
	}
	writeOptDispatch(&b, []isa{avx512, avx2})
	writeLNTable(&b, []isa{avx512, avx2})
	src, err := format.Source(b.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(path, src, 0o644); err != nil {
		log.Fatal(err)
	}
}
