package main

// The fused optimizer kernels of backend/cpu/optim.go: one pass of
// torch's single-tensor SGD or Adam/AdamW update over n contiguous float32
// elements, in the order and with the roundings that
// backend.FusedOptimizer documents (each product and sum rounded on its
// own: no FMA, so the bits are those of the composed update). The pure-Go
// twins are sgdKernel and adamKernel in optim.go; the two must be changed
// together.
//
// A kernel's scalars come in a table k of 64-byte rows, row i holding
// scalar i sixteen times (optConsts in optim.go builds it): AVX-512 loads
// the rows into registers once, AVX2 uses them as memory operands. One
// row is a sign mask, 0 or −0, that the gradient is XORed with: torch's
// maximize negates the gradient, and a negation is exactly that XOR (what
// the Neg kernel and Go's unary minus do).
//
// The options that change which operations run (weight decay, momentum,
// Nesterov, AMSGrad) pick one of several kernels, generated from the same
// description, so no loop tests a flag per element.

import (
	"bytes"
	"fmt"
	"slices"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The rows of the Adam scalar table (adamK* in optim.go).
const (
	adamKB1      = iota // β1
	adamKB2             // β2
	adamKOmB1           // T(1−β1)
	adamKOmB2           // T(1−β2)
	adamKEps            // ε
	adamKWD             // λ (L2 kernels)
	adamKDecay          // T(1−lr·λ) (decoupled kernels)
	adamKNegStep        // T(−lr/c1)
	adamKBC2S           // T(√c2)
	adamKSign           // 0 or −0: the gradient's sign flip
	adamKRows
)

// The rows of the SGD scalar table (sgdK* in optim.go).
const (
	sgdKNegLR = iota // T(−lr)
	sgdKMu           // μ
	sgdKDamp1        // T(1−τ)
	sgdKWD           // λ
	sgdKSign         // 0 or −0
	sgdKRows
)

// The Adam kernels: weight-decay mode × AMSGrad.
var (
	adamDecays = []string{"", "L2", "Decoupled"} // indices adamNoDecay, adamL2, adamDecoupled in optim.go
	adamAMS    = []string{"", "AMS"}
)

// The SGD kernels: momentum mode × weight decay.
var (
	sgdModes = []string{"Plain", "First", "FirstNesterov", "Momentum", "Nesterov"} // sgdPlain… in optim.go
	sgdWDs   = []string{"", "WD"}
)

// kconsts gives row i of the scalar table at kp: a register (AVX-512,
// loaded here unless unused says the kernel does not read it) or the
// memory row itself (AVX2, and a row said unused, should it be read).
func kconsts(kp reg.Register, rows int, unused ...int) []Op {
	ks := make([]Op, rows)
	for i := range ks {
		m := Mem{Base: kp, Disp: 64 * i}
		if cur.avx512 && !slices.Contains(unused, i) {
			ks[i] = load(m)
		} else {
			ks[i] = m
		}
	}
	return ks
}

// multiLoop runs body over n elements (n in CX) with the element pointers
// ptrs: u vectors per iteration, then single vectors, then the last
// n mod lanes with masked loads and stores. body reads an operand with ld
// and writes one with st, at the pointer's current position plus a byte
// offset.
func multiLoop(unroll int, ptrs []reg.Register, n reg.Register,
	body func(ld func(p reg.Register, off int) V, st func(x V, p reg.Register, off int))) {
	w := cur.lanes
	vb := w * 4
	plainLd := func(p reg.Register, off int) V { r := vreg(); VMOVUPS(Mem{Base: p, Disp: off}, r); return r }
	plainSt := func(x V, p reg.Register, off int) { VMOVUPS(x, Mem{Base: p, Disp: off}) }
	advance := func(k int) {
		for _, p := range ptrs {
			ADDQ(U32(k*vb), p)
		}
		SUBQ(U32(k*w), n)
	}
	Label("loop")
	CMPQ(n, U32(unroll*w))
	JB(LabelRef("single"))
	for u := 0; u < unroll; u++ {
		body(func(p reg.Register, off int) V { return plainLd(p, off+u*vb) },
			func(x V, p reg.Register, off int) { plainSt(x, p, off+u*vb) })
	}
	advance(unroll)
	JMP(LabelRef("loop"))

	Label("single")
	CMPQ(n, U32(w))
	JB(LabelRef("tail"))
	body(plainLd, plainSt)
	advance(1)
	JMP(LabelRef("single"))

	Label("tail")
	TESTQ(n, n)
	JE(LabelRef("done"))
	if cur.avx512 {
		k := K()
		MOVL(U32(1), reg.EAX)
		SHLL(reg.CL, reg.EAX) // n is in CX
		DECL(reg.EAX)
		KMOVW(reg.EAX, k)
		body(func(p reg.Register, off int) V { r := vreg(); VMOVUPS_Z(Mem{Base: p, Disp: off}, k, r); return r },
			func(x V, p reg.Register, off int) { VMOVUPS(x, k, Mem{Base: p, Disp: off}) })
	} else {
		m := YMM()
		NEGQ(n)
		LEAQ(tailMask, reg.RAX)
		VMOVUPS(Mem{Base: reg.RAX, Index: n, Scale: 4, Disp: 32}, m)
		body(func(p reg.Register, off int) V { r := YMM(); VMASKMOVPS(Mem{Base: p, Disp: off}, m, r); return r },
			func(x V, p reg.Register, off int) { VMASKMOVPS(x, m, Mem{Base: p, Disp: off}) })
	}
	Label("done")
	VZEROUPPER()
	RET()
}

// genAdam generates the Adam kernel for one weight-decay mode and AMSGrad
// setting.
func genAdam(decay int, ams bool) string {
	a := 0
	if ams {
		a = 1
	}
	name := "adam" + adamDecays[decay] + adamAMS[a] + cur.name
	TEXT(name, NOSPLIT, "func(p, grad, m, v, vmax *float32, n int, k *float32)")
	Pragma("noescape")
	what := []string{"without weight decay", "with an L2 penalty", "with decoupled weight decay"}[decay]
	if ams {
		what += " and AMSGrad"
	}
	Doc(fmt.Sprintf("%s runs one Adam step %s on n float32 elements (vmax unused without AMSGrad), with the scalar table k, using %s.", name, what, cur.name))
	pp := Load(Param("p"), GP64())
	gp := Load(Param("grad"), GP64())
	mp := Load(Param("m"), GP64())
	vp := Load(Param("v"), GP64())
	ptrs := []reg.Register{pp, gp, mp, vp}
	var xp reg.Register
	if ams {
		xp = Load(Param("vmax"), GP64())
		ptrs = append(ptrs, xp)
	}
	n := Load(Param("n"), reg.RCX)
	kp := Load(Param("k"), GP64())
	unused := []int{adamKWD, adamKDecay}
	if decay > 0 {
		unused = unused[decay%2 : decay%2+1] // L2 does not read the decay, decoupled not λ
	}
	ks := kconsts(kp, adamKRows, unused...)
	multiLoop(2, ptrs, n, func(ld func(reg.Register, int) V, st func(V, reg.Register, int)) {
		d := xor(ld(gp, 0), ks[adamKSign])
		p := ld(pp, 0)
		switch decay {
		case 1:
			d = add(d, mul(p, ks[adamKWD]))
		case 2:
			p = mul(p, ks[adamKDecay])
		}
		mi := add(mul(ld(mp, 0), ks[adamKB1]), mul(d, ks[adamKOmB1]))
		vi := add(mul(ld(vp, 0), ks[adamKB2]), mul(mul(d, ks[adamKOmB2]), d))
		st(mi, mp, 0)
		st(vi, vp, 0)
		if ams {
			vi = maximum(ld(xp, 0), vi)
			st(vi, xp, 0)
		}
		den := add(div(sqrt(vi), ks[adamKBC2S]), ks[adamKEps])
		st(add(p, div(mul(mi, ks[adamKNegStep]), den)), pp, 0)
	})
	return name
}

// genSGD generates the SGD kernel for one momentum mode, with or without
// weight decay.
func genSGD(mode int, wd bool) string {
	w := 0
	if wd {
		w = 1
	}
	name := "sgd" + sgdModes[mode] + sgdWDs[w] + cur.name
	TEXT(name, NOSPLIT, "func(p, grad, buf *float32, n int, k *float32)")
	Pragma("noescape")
	what := []string{"without momentum (buf unused)", "setting a new momentum buffer", "setting a new momentum buffer, with Nesterov momentum",
		"with momentum", "with Nesterov momentum"}[mode]
	if wd {
		what += " and weight decay"
	}
	Doc(fmt.Sprintf("%s runs one SGD step %s on n float32 elements, with the scalar table k, using %s.", name, what, cur.name))
	pp := Load(Param("p"), GP64())
	gp := Load(Param("grad"), GP64())
	ptrs := []reg.Register{pp, gp}
	var bp reg.Register
	if mode != 0 {
		bp = Load(Param("buf"), GP64())
		ptrs = append(ptrs, bp)
	}
	n := Load(Param("n"), reg.RCX)
	kp := Load(Param("k"), GP64())
	var unused []int
	if !wd {
		unused = append(unused, sgdKWD)
	}
	if mode != 3 && mode != 4 {
		unused = append(unused, sgdKDamp1)
	}
	if mode < 2 {
		unused = append(unused, sgdKMu) // plain and first steps do not read μ
	}
	ks := kconsts(kp, sgdKRows, unused...)
	multiLoop(4, ptrs, n, func(ld func(reg.Register, int) V, st func(V, reg.Register, int)) {
		d := xor(ld(gp, 0), ks[sgdKSign])
		p := ld(pp, 0)
		if wd {
			d = add(d, mul(p, ks[sgdKWD]))
		}
		if mode != 0 {
			b := d
			if mode >= 3 {
				b = add(mul(ld(bp, 0), ks[sgdKMu]), mul(d, ks[sgdKDamp1]))
			}
			st(b, bp, 0)
			if mode == 2 || mode == 4 {
				d = add(d, mul(b, ks[sgdKMu]))
			} else {
				d = b
			}
		}
		st(add(p, mul(d, ks[sgdKNegLR])), pp, 0)
	})
	return name
}

// genOptim generates every optimizer kernel for the current instruction
// set, the Adam ones by [decay][ams] and the SGD ones by [mode][wd].
func genOptim() (adam [][]string, sgd [][]string) {
	for decay := range adamDecays {
		var row []string
		for _, ams := range []bool{false, true} {
			row = append(row, genAdam(decay, ams))
		}
		adam = append(adam, row)
	}
	for mode := range sgdModes {
		var row []string
		for _, wd := range []bool{false, true} {
			row = append(row, genSGD(mode, wd))
		}
		sgd = append(sgd, row)
	}
	return adam, sgd
}

// optNamesOf is genOptim's kernel names, kept for the table.
type optNameSet struct{ adam, sgd [][]string }

func optNamesOf(adam, sgd [][]string) optNameSet { return optNameSet{adam, sgd} }

// optNames is each instruction set's optimizer kernels.
var optNames = map[string]optNameSet{}

// writeOptDispatch writes adamAsm and sgdAsm, which call the kernel of
// one instruction set (its index in isas, as the optISA constants say)
// and variant. They call each kernel by name, not through a table of func
// values, so that the scalar table a caller passes (the noescape
// kernels only read it) can stay on the caller's stack.
func writeOptDispatch(b *bytes.Buffer, isas []isa) {
	b.WriteString("\n// The instruction sets of adamAsm and sgdAsm (optVecKernels.isa).\nconst (\n")
	for i, is := range isas {
		if i == 0 {
			fmt.Fprintf(b, "\topt%s = iota\n", is.name)
		} else {
			fmt.Fprintf(b, "\topt%s\n", is.name)
		}
	}
	b.WriteString(")\n")
	write := func(kernel, doc, args, call string, names func(isa) [][]string) {
		fmt.Fprintf(b, "\n// %s\nfunc %s(isa, variant int, %s) {\n\tswitch isa {\n", doc, kernel, args)
		for _, is := range isas {
			fmt.Fprintf(b, "\tcase opt%s:\n\t\tswitch variant {\n", is.name)
			i := 0
			for _, row := range names(is) {
				for _, name := range row {
					fmt.Fprintf(b, "\t\tcase %d:\n\t\t\t%s(%s)\n", i, name, call)
					i++
				}
			}
			b.WriteString("\t\t}\n")
		}
		b.WriteString("\t}\n}\n")
	}
	write("adamAsm", "adamAsm runs the Adam kernel of instruction set isa for variant 2·decay + ams (weight decay mode adamNoDecay, adamL2 or adamDecoupled; AMSGrad 0 or 1).",
		"p, grad, m, v, vmax *float32, n int, k *float32", "p, grad, m, v, vmax, n, k",
		func(is isa) [][]string { return optNames[is.name].adam })
	write("sgdAsm", "sgdAsm runs the SGD kernel of instruction set isa for variant 2·mode + wd (momentum mode sgdPlain … sgdNesterov; weight decay 0 or 1).",
		"p, grad, buf *float32, n int, k *float32", "p, grad, buf, n, k",
		func(is isa) [][]string { return optNames[is.name].sgd })
}
