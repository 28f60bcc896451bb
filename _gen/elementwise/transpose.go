package main

// The 4-byte transpose kernel of backend/cpu/copy_transpose.go, whose
// pure-Go loop (transposeBlock) is its twin: one strip of 8 destination
// columns,
//
//	for i < rows:  for j < 8:  dst[i·ldd + j] = src[j·lds + i]
//
// rows a multiple of 8, as 8×8 blocks: eight 32-byte loads, one from each
// of the strip's 8 source lines, the AVX transpose network (unpack,
// shuffle, 128-bit permute: 24 shuffles), and eight 32-byte stores, one
// per destination row. It uses AVX only (the 256-bit float shuffles), on
// every machine that has AVX2.

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func genTranspose8() string {
	name := "transpose8AVX"
	TEXT(name, NOSPLIT, "func(dst *uint32, ldd int, src *uint32, lds int, rows int)")
	Pragma("noescape")
	Doc(name + " sets dst[i·ldd + j] = src[j·lds + i] for i < rows (a multiple of 8) and j < 8, using AVX.")
	dst := Load(Param("dst"), GP64())
	ldd := Load(Param("ldd"), GP64())
	src := Load(Param("src"), GP64())
	lds := Load(Param("lds"), GP64())
	rows := Load(Param("rows"), GP64())
	SHLQ(U8(2), ldd) // in bytes
	SHLQ(U8(2), lds)
	// s3 = 3·lds, d3 = 3·ldd: lines j at src + {0, 1, 2, 3}·lds, +4·lds
	s3, d3 := GP64(), GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, s3)
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, d3)
	s4 := GP64() // src + 4·lds
	Label("loop")
	CMPQ(rows, U32(8))
	JB(LabelRef("done"))
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, s4)
	r := make([]reg.VecVirtual, 8)
	for k := range r {
		r[k] = YMM()
	}
	VMOVUPS(Mem{Base: src}, r[0])
	VMOVUPS(Mem{Base: src, Index: lds, Scale: 1}, r[1])
	VMOVUPS(Mem{Base: src, Index: lds, Scale: 2}, r[2])
	VMOVUPS(Mem{Base: src, Index: s3, Scale: 1}, r[3])
	VMOVUPS(Mem{Base: s4}, r[4])
	VMOVUPS(Mem{Base: s4, Index: lds, Scale: 1}, r[5])
	VMOVUPS(Mem{Base: s4, Index: lds, Scale: 2}, r[6])
	VMOVUPS(Mem{Base: s4, Index: s3, Scale: 1}, r[7])
	// t[2p] = unpacklo(r[2p], r[2p+1]), t[2p+1] = unpackhi
	t := make([]reg.VecVirtual, 8)
	for p := 0; p < 4; p++ {
		t[2*p], t[2*p+1] = YMM(), YMM()
		VUNPCKLPS(r[2*p+1], r[2*p], t[2*p])
		VUNPCKHPS(r[2*p+1], r[2*p], t[2*p+1])
	}
	// u: 4-element columns within each 128-bit half
	u := make([]reg.VecVirtual, 8)
	for h := 0; h < 2; h++ { // rows 0–3, rows 4–7
		a, b, c, d := t[4*h], t[4*h+1], t[4*h+2], t[4*h+3]
		u[4*h], u[4*h+1], u[4*h+2], u[4*h+3] = YMM(), YMM(), YMM(), YMM()
		VSHUFPS(U8(0x44), c, a, u[4*h])
		VSHUFPS(U8(0xee), c, a, u[4*h+1])
		VSHUFPS(U8(0x44), d, b, u[4*h+2])
		VSHUFPS(U8(0xee), d, b, u[4*h+3])
	}
	// out k (k < 4): low halves of u[k], u[k+4]; out k+4: the high halves
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 4}, s4) // reused: dst + 4·ldd
	outs := []Mem{
		{Base: dst}, {Base: dst, Index: ldd, Scale: 1}, {Base: dst, Index: ldd, Scale: 2}, {Base: dst, Index: d3, Scale: 1},
		{Base: s4}, {Base: s4, Index: ldd, Scale: 1}, {Base: s4, Index: ldd, Scale: 2}, {Base: s4, Index: d3, Scale: 1},
	}
	for k := 0; k < 4; k++ {
		lo, hi := YMM(), YMM()
		VPERM2F128(U8(0x20), u[k+4], u[k], lo)
		VPERM2F128(U8(0x31), u[k+4], u[k], hi)
		VMOVUPS(lo, outs[k])
		VMOVUPS(hi, outs[k+4])
	}
	ADDQ(U32(32), src)
	LEAQ(Mem{Base: dst, Index: ldd, Scale: 8}, dst)
	SUBQ(U32(8), rows)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
	return name
}
