package cpu

// The tiled strided path of strided.go (binary ops, comparisons and vec
// unary ops on inputs strided along the output's rows) against two
// oracles: an element loop over multi-indices computing each result in
// float64 from values read through oracle_test.go's bit-level accessors
// (exact ops: arithmetic, min/max, comparisons), and the same op on
// contiguous copies of the inputs made by that loop (the vec unary ops,
// whose results the tiled path must reproduce bit for bit). Outputs sit
// inside larger buffers so a write past a tile is caught.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// stridedKind names a layout of a logical shape for these tests.
type stridedKind string

const (
	skContig    stridedKind = "contig"
	skTrans     stridedKind = "trans"     // every dim order reversed
	skPerm      stridedKind = "perm"      // dims rotated: last dim outermost in storage
	skStep      stridedKind = "step"      // every stride doubled, offset 3
	skStepLast  stridedKind = "stepLast"  // x[..., ::3]
	skBcast0    stridedKind = "bcast0"    // dim 0 stride 0
	skBcastLast stridedKind = "bcastLast" // last dim stride 0
	skOdd1      stridedKind = "odd1"      // row-major, size-1 dims given stride 999
	skScalar    stridedKind = "scalar"    // one value: every stride 0
)

var stridedKinds = []stridedKind{skContig, skTrans, skPerm, skStep, skStepLast, skBcast0, skBcastLast, skOdd1, skScalar}

// stridedLayout lays shape out as kind k; it returns the layout and the
// storage length it reaches (plus a tail the test fills too).
func stridedLayout(k stridedKind, shape []int) (backend.Layout, int) {
	nd := len(shape)
	sh := append([]int{}, shape...)
	// physical is the storage shape in memory order, order[i] the logical
	// dim stored i-th from the outside
	order := make([]int, nd)
	for i := range order {
		order[i] = i
	}
	phys := append([]int{}, sh...)
	mul, off := 1, 0
	switch k {
	case skTrans:
		for i := range order {
			order[i] = nd - 1 - i
		}
	case skPerm:
		if nd > 1 {
			order = append([]int{nd - 1}, order[:nd-1]...)
		}
	case skStep:
		mul, off = 2, 3
	case skBcast0:
		if nd > 0 {
			phys[0] = 1
		}
	case skBcastLast:
		if nd > 0 {
			phys[nd-1] = 1
		}
	case skScalar:
		for d := range phys {
			phys[d] = 1
		}
	}
	st := make([]int, nd)
	s := mul
	if k == skStepLast {
		s = 3
	}
	for i := nd - 1; i >= 0; i-- {
		d := order[i]
		st[d] = s
		s *= max(phys[d], 1)
	}
	for d := range st {
		switch {
		case phys[d] == 1 && sh[d] > 1:
			st[d] = 0 // broadcast
		case k == skOdd1 && sh[d] == 1:
			st[d] = 999
		}
	}
	n := off + s + 4
	if k == skOdd1 {
		n += 999
	}
	return backend.Layout{Shape: sh, Strides: st, Offset: off}, n
}

func stridedOperand(t testing.TB, dt backend.DType, k stridedKind, shape []int, gen func() float64) operand {
	t.Helper()
	l, n := stridedLayout(k, shape)
	s, err := be.Alloc(dt, n)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: l}
	for i := 0; i < n; i++ {
		setBits(o.buf, i, encode(dt, gen()))
	}
	return o
}

// guardedOutput is a contiguous output at offset 5 of a buffer with
// random bits and 7 spare elements after it, and its snapshot.
func guardedOutput(t testing.TB, dt backend.DType, shape []int, rng *rand.Rand) (operand, []uint64) {
	return gappedOutput(t, dt, shape, 0, rng)
}

// gappedOutput is guardedOutput with gap spare elements after each row
// (the innermost dim): an output that is a slice of a wider one.
func gappedOutput(t testing.TB, dt backend.DType, shape []int, gap int, rng *rand.Rand) (operand, []uint64) {
	t.Helper()
	phys := append([]int{}, shape...)
	if len(phys) > 0 {
		phys[len(phys)-1] += gap
	}
	n := numel(phys)
	s, err := be.Alloc(dt, n+12)
	if err != nil {
		t.Fatal(err)
	}
	o := operand{dt: dt, buf: s.(*Buffer), l: backend.Layout{Shape: append([]int{}, shape...), Strides: rowMajor(phys), Offset: 5}}
	b := o.buf.Bytes()
	for i := range b {
		b[i] = uint8(rng.Uint32())
	}
	return o, o.snapshot()
}

// stridedCase is one shape with the layouts its inputs are tried in.
type stridedCase struct {
	shape []int
	kinds []stridedKind
}

func stridedCases() []stridedCase {
	all := stridedKinds
	few := []stridedKind{skContig, skTrans, skStepLast, skBcast0, skBcastLast}
	cs := []stridedCase{
		{[]int{}, all}, {[]int{0}, all}, {[]int{3, 0}, all}, {[]int{0, 4}, all},
		{[]int{1}, all}, {[]int{7}, all}, {[]int{1, 1}, all}, {[]int{3, 5}, all},
		{[]int{8, 8}, all}, {[]int{17, 9}, all}, {[]int{9, 17}, all}, {[]int{33, 40}, all},
		{[]int{2, 3, 4}, all}, {[]int{2, 1, 5}, all}, {[]int{5, 1, 7}, all},
		{[]int{3, 4, 5, 6}, all}, {[]int{2, 9, 1, 10}, all},
		{[]int{65, 16}, all}, {[]int{16, 65}, all},
	}
	if !raceEnabled {
		// more than one tile along a row: transposed tiles are a line of
		// rows by 1024 columns, plain ones 16 KiB
		cs = append(cs, stridedCase{[]int{20, 1100}, few}, stridedCase{[]int{3, 4500}, few},
			stridedCase{[]int{4, 70, 90}, few})
	}
	return cs
}

// refBinary is op on a and b in float64, encoded as dt would hold it:
// exact for the ops tested (one rounding of the exact result).
func refBinary(op backend.BinaryOp, dt backend.DType, a, b float64) float64 {
	var r float64
	switch op {
	case backend.Add:
		r = a + b
	case backend.Sub:
		r = a - b
	case backend.Mul:
		r = a * b
	case backend.Div:
		r = a / b
	case backend.Maximum, backend.Minimum:
		switch {
		case math.IsNaN(a) || math.IsNaN(b):
			r = math.NaN()
		case (op == backend.Maximum) == (a > b):
			r = a
		default:
			r = b
		}
	case backend.Lt:
		return b2f(a < b)
	case backend.Eq:
		return b2f(a == b)
	case backend.Ge:
		return b2f(a >= b)
	default:
		panic("refBinary: " + op.String())
	}
	if dt.IsFloat() {
		return decode(dt, encode(dt, r))
	}
	return wrapped(dt, int64(r))
}

func TestStridedBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	type opSet struct {
		dts []backend.DType
		ops []backend.BinaryOp
	}
	sets := []opSet{
		{[]backend.DType{f32, f64}, []backend.BinaryOp{backend.Add, backend.Sub, backend.Mul, backend.Div, backend.Maximum, backend.Lt}},
		{[]backend.DType{i64, i32, u8t}, []backend.BinaryOp{backend.Add, backend.Sub, backend.Mul, backend.Maximum, backend.Eq}},
		{[]backend.DType{bl}, []backend.BinaryOp{backend.Eq, backend.Ge}},
	}
	for _, set := range sets {
		for _, dt := range set.dts {
			for _, c := range stridedCases() {
				for _, ka := range c.kinds {
					for _, kb := range c.kinds {
						for _, op := range set.ops {
							if numel(c.shape) > 2000 && op != backend.Add && op != backend.Lt && op != backend.Eq {
								continue
							}
							name := fmt.Sprintf("%v/%v/%v/a=%s,b=%s", op, dt, c.shape, ka, kb)
							checkStridedBinary(t, name, op, dt, c.shape, ka, kb, rng)
						}
					}
				}
			}
		}
	}
}

func checkStridedBinary(t *testing.T, name string, op backend.BinaryOp, dt backend.DType, shape []int, ka, kb stridedKind, rng *rand.Rand) {
	checkStridedBinaryGap(t, name, op, dt, shape, ka, kb, 0, rng)
}

func checkStridedBinaryGap(t *testing.T, name string, op backend.BinaryOp, dt backend.DType, shape []int, ka, kb stridedKind, gap int, rng *rand.Rand) {
	t.Helper()
	gen := genDiscrete(dt, rng)
	if dt.IsFloat() {
		gen = func() float64 { return float64(rng.IntN(4001)-2000) / 64 }
	}
	a := stridedOperand(t, dt, ka, shape, gen)
	b := stridedOperand(t, dt, kb, shape, gen)
	odt := dt
	if op.IsComparison() {
		odt = bl
	}
	dst, before := gappedOutput(t, odt, shape, gap, rng)
	be.Binary(op, dst.view(), a.view(), b.view())
	forEachIndex(shape, func(idx []int) {
		want := refBinary(op, dt, a.at(idx), b.at(idx))
		if got := dst.at(idx); math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("%s: %v = %v, want %v", name, idx, got, want)
		}
	})
	checkUntouched(t, name, dst, before)
}

// TestStridedBinaryGappedOutput writes rows of an output that is a slice
// of a wider one: its tiles are not one run, so the kernels run per row,
// with one-value inputs too (both inputs broadcast along every dim).
func TestStridedBinaryGappedOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(59, 60))
	kinds := []stridedKind{skContig, skTrans, skStepLast, skBcast0, skBcastLast, skScalar}
	for _, dt := range []backend.DType{f32, f64, i64} {
		for _, sh := range [][]int{{3, 5}, {40, 17}, {2, 9, 30}, {20, 1100}} {
			for _, ka := range kinds {
				for _, kb := range kinds {
					for _, op := range []backend.BinaryOp{backend.Sub, backend.Lt} {
						name := fmt.Sprintf("gap/%v/%v/%v/a=%s,b=%s", op, dt, sh, ka, kb)
						checkStridedBinaryGap(t, name, op, dt, sh, ka, kb, 3, rng)
					}
				}
			}
		}
	}
}

// TestStridedBinaryStridedOutput writes outputs that are themselves
// strided views (in-place ops on a transposed or permuted tensor): the
// walk follows the output's memory order.
func TestStridedBinaryStridedOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	for _, dt := range []backend.DType{f32, f64, i32} {
		for _, c := range stridedCases() {
			for _, kd := range []stridedKind{skTrans, skPerm, skStep, skStepLast} {
				for _, ka := range []stridedKind{skContig, skTrans, skPerm, skBcast0, skScalar} {
					for _, op := range []backend.BinaryOp{backend.Add, backend.Lt} {
						if numel(c.shape) > 2000 && (kd == skStep || ka == skPerm) {
							continue
						}
						name := fmt.Sprintf("out=%s/%v/%v/%v/a=%s", kd, op, dt, c.shape, ka)
						gen := func() float64 { return float64(rng.IntN(201) - 100) }
						a := stridedOperand(t, dt, ka, c.shape, gen)
						b := stridedOperand(t, dt, kd, c.shape, gen)
						odt := dt
						if op.IsComparison() {
							odt = bl
						}
						dst := stridedOperand(t, odt, kd, c.shape, func() float64 { return float64(rng.IntN(3)) })
						before := dst.snapshot()
						be.Binary(op, dst.view(), a.view(), b.view())
						forEachIndex(c.shape, func(idx []int) {
							want := refBinary(op, dt, a.at(idx), b.at(idx))
							if got := dst.at(idx); got != want {
								t.Fatalf("%s: %v = %v, want %v", name, idx, got, want)
							}
						})
						checkUntouched(t, name, dst, before)
					}
				}
			}
		}
	}
}

// TestStridedUnaryStridedOutput is TestStridedUnary into strided
// outputs, and casts into them.
func TestStridedUnaryStridedOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	for _, c := range stridedCases() {
		if numel(c.shape) > 2000 {
			continue
		}
		for _, kd := range []stridedKind{skTrans, skPerm, skStep} {
			for _, ks := range []stridedKind{skContig, skTrans, skStepLast} {
				name := fmt.Sprintf("out=%s/%v/src=%s", kd, c.shape, ks)
				src := stridedOperand(t, f32, ks, c.shape, func() float64 { return rng.NormFloat64() })
				flat := stridedOperand(t, f32, skContig, c.shape, func() float64 { return 0 })
				forEachIndex(c.shape, func(idx []int) { flat.set(idx, src.at(idx)) })
				want, _ := guardedOutput(t, f32, c.shape, rng)
				be.Unary(backend.Exp, want.view(), flat.view(), backend.Scalars{})
				dst := stridedOperand(t, f32, kd, c.shape, func() float64 { return 7 })
				cast := stridedOperand(t, f64, kd, c.shape, func() float64 { return 7 })
				before, beforeCast := dst.snapshot(), cast.snapshot()
				be.Unary(backend.Exp, dst.view(), src.view(), backend.Scalars{})
				be.Copy(cast.view(), src.view())
				forEachIndex(c.shape, func(idx []int) {
					// an output with no stride-1 dim (step) too: its
					// tiles are computed in scratch and scattered
					if got, w := dst.at(idx), want.at(idx); got != w {
						t.Fatalf("exp %s: %v = %v, want %v", name, idx, got, w)
					}
					if got, w := cast.at(idx), src.at(idx); got != w {
						t.Fatalf("cast %s: %v = %v, want %v", name, idx, got, w)
					}
				})
				checkUntouched(t, name, dst, before)
				checkUntouched(t, name, cast, beforeCast)
			}
		}
	}
}

// TestStridedBinaryThreads runs the tiled path split over goroutines.
func TestStridedBinaryThreads(t *testing.T) {
	defer SetNumThreads(SetNumThreads(2))
	rng := rand.New(rand.NewPCG(53, 54))
	for _, dt := range []backend.DType{f32, f64, i32} {
		for _, sh := range [][]int{{300, 300}, {4, 150, 130}} {
			for _, k := range []stridedKind{skTrans, skStepLast, skPerm} {
				name := fmt.Sprintf("threads/%v/%v/%s", dt, sh, k)
				checkStridedBinary(t, name, backend.Add, dt, sh, k, skContig, rng)
				checkStridedBinary(t, name, backend.Lt, dt, sh, skContig, k, rng)
			}
		}
	}
}

// TestStridedUnary checks the vec unary ops on strided inputs against the
// same ops on contiguous copies: the tiled path changes where elements
// are read from, never the result.
func TestStridedUnary(t *testing.T) {
	rng := rand.New(rand.NewPCG(55, 56))
	type unCase struct {
		op backend.UnaryOp
		p  backend.Scalars
	}
	ops := []unCase{
		{backend.Exp, backend.Scalars{}}, {backend.ReLU, backend.Scalars{}}, {backend.Neg, backend.Scalars{}},
		{backend.Sigmoid, backend.Scalars{}}, {backend.Tanh, backend.Scalars{}},
		{backend.AddScalar, backend.Scalars{A: 1.5}}, {backend.Clamp, backend.Scalars{A: -0.5, B: 0.75}},
	}
	for _, dt := range []backend.DType{f32, f64} {
		for _, c := range stridedCases() {
			for _, k := range c.kinds {
				for _, u := range ops {
					if numel(c.shape) > 2000 && u.op != backend.Exp {
						continue
					}
					name := fmt.Sprintf("%v/%v/%v/%s", u.op, dt, c.shape, k)
					src := stridedOperand(t, dt, k, c.shape, func() float64 { return rng.NormFloat64() * 3 })
					flat := stridedOperand(t, dt, skContig, c.shape, func() float64 { return 0 })
					forEachIndex(c.shape, func(idx []int) { flat.set(idx, src.at(idx)) })
					want, _ := guardedOutput(t, dt, c.shape, rng)
					be.Unary(u.op, want.view(), flat.view(), u.p)
					dst, before := guardedOutput(t, dt, c.shape, rng)
					be.Unary(u.op, dst.view(), src.view(), u.p)
					forEachIndex(c.shape, func(idx []int) {
						if got, w := dst.at(idx), want.at(idx); math.Float64bits(got) != math.Float64bits(w) {
							t.Fatalf("%s: %v = %v, want %v (contiguous input)", name, idx, got, w)
						}
					})
					checkUntouched(t, name, dst, before)
				}
			}
		}
	}
}

// TestStridedUnaryNear anchors the contiguous-copy oracle of
// TestStridedUnary to float64 math on a transposed input.
func TestStridedUnaryNear(t *testing.T) {
	rng := rand.New(rand.NewPCG(57, 58))
	for _, dt := range []backend.DType{f32, f64} {
		sh := []int{37, 41}
		src := stridedOperand(t, dt, skTrans, sh, func() float64 { return rng.NormFloat64() * 3 })
		dst, _ := guardedOutput(t, dt, sh, rng)
		be.Unary(backend.Exp, dst.view(), src.view(), backend.Scalars{})
		forEachIndex(sh, func(idx []int) {
			if got, want := dst.at(idx), math.Exp(src.at(idx)); !near(got, want, 4*rtolOf(dt), 0) {
				t.Fatalf("exp %v %v = %v, want %v", dt, idx, got, want)
			}
		})
	}
}

// TestStridedLayoutOracle checks the test's own layouts: every logical
// element of an operand maps to a distinct storage element unless the
// layout broadcasts.
func TestStridedLayoutOracle(t *testing.T) {
	for _, k := range stridedKinds {
		for _, sh := range [][]int{{3, 4, 5}, {2, 1, 6}} {
			l, n := stridedLayout(k, sh)
			seen := map[int]bool{}
			forEachIndex(sh, func(idx []int) {
				p := pos(l, idx)
				if p < 0 || p >= n {
					t.Fatalf("%s %v: %v at %d outside [0, %d)", k, sh, idx, p, n)
				}
				seen[p] = true
			})
			if k != skBcast0 && k != skBcastLast && k != skScalar && len(seen) != numel(sh) {
				t.Fatalf("%s %v: %d distinct positions, want %d", k, sh, len(seen), numel(sh))
			}
		}
	}
}

// TestStridedCast checks dtype conversions of strided sources (the tiled
// convertStrided) against converting each element by the oracle's own
// encode/decode.
func TestStridedCast(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	pairs := [][2]backend.DType{{f64, f32}, {f32, f64}, {f32, i64}, {i64, f32}, {f64, i64}, {bl, f32}, {f32, bl}, {f64, u8t}}
	for _, pr := range pairs {
		ddt, sdt := pr[0], pr[1]
		gen := func() float64 { return float64(rng.IntN(4001)-2000) / 16 }
		if !sdt.IsFloat() {
			gen = genFor(sdt, rng, 0, 0)
		}
		for _, c := range stridedCases() {
			for _, k := range c.kinds {
				name := fmt.Sprintf("%v<-%v/%v/%s", ddt, sdt, c.shape, k)
				src := stridedOperand(t, sdt, k, c.shape, gen)
				dst, before := guardedOutput(t, ddt, c.shape, rng)
				be.Copy(dst.view(), src.view())
				forEachIndex(c.shape, func(idx []int) {
					want := decode(ddt, encode(ddt, src.at(idx)))
					if got := dst.at(idx); math.Float64bits(got) != math.Float64bits(want) {
						t.Fatalf("%s: %v = %v, want %v", name, idx, got, want)
					}
				})
				checkUntouched(t, name, dst, before)
			}
		}
	}
}

// segUnCase is a unary op of unary_typed.go's typed loops with its oracle
// in float64 (for integers: in int64 before wrapping).
type segUnCase struct {
	op  backend.UnaryOp
	p   backend.Scalars
	ref func(x float64) float64
	// ulp32 is the float32 kernel's documented error bound (vecmath.go),
	// in float32 ulps of the exact value; 0 asks for the float64 oracle
	// rounded, bit for bit
	ulp32 float64
}

func segUnCases(dt backend.DType) []segUnCase {
	if dt.IsFloat() {
		return []segUnCase{
			{backend.Log1p, backend.Scalars{}, math.Log1p, 1.5},
			{backend.Sin, backend.Scalars{}, math.Sin, 0.501},
			{backend.Cos, backend.Scalars{}, math.Cos, 0.501},
			{backend.Floor, backend.Scalars{}, math.Floor, 0},
			{backend.Ceil, backend.Scalars{}, math.Ceil, 0},
			{backend.Round, backend.Scalars{}, math.RoundToEven, 0},
			{backend.PowScalar, backend.Scalars{A: 3}, func(x float64) float64 { return math.Pow(x, 3) }, 0.501},
			{backend.PowScalar, backend.Scalars{A: 2.5}, func(x float64) float64 { return math.Pow(x, 2.5) }, 0},
			{backend.Softplus, backend.Scalars{A: 1, B: 2}, func(x float64) float64 {
				if x > 2 {
					return x
				}
				return math.Log1p(math.Exp(x))
			}, 2},
		}
	}
	lo := -2.0
	if dt == u8t {
		lo = 0 // Clamp's bound saturates to uint8's range
	}
	return []segUnCase{
		{backend.Neg, backend.Scalars{}, func(x float64) float64 { return -x }, 0},
		{backend.Abs, backend.Scalars{}, math.Abs, 0},
		{backend.Sign, backend.Scalars{}, func(x float64) float64 { return b2f(x > 0) - b2f(x < 0) }, 0},
		{backend.Square, backend.Scalars{}, func(x float64) float64 { return x * x }, 0},
		{backend.ReLU, backend.Scalars{}, func(x float64) float64 { return math.Max(x, 0) }, 0},
		{backend.AddScalar, backend.Scalars{A: 7}, func(x float64) float64 { return x + 7 }, 0},
		{backend.MulScalar, backend.Scalars{A: -3}, func(x float64) float64 { return x * -3 }, 0},
		{backend.RSubScalar, backend.Scalars{A: 2}, func(x float64) float64 { return 2 - x }, 0},
		{backend.Clamp, backend.Scalars{A: -2, B: 3}, func(x float64) float64 { return math.Min(math.Max(x, lo), 3) }, 0},
	}
}

// refSegUnary is u.ref at x as dt holds it: rounded once, or wrapped.
func refSegUnary(u segUnCase, dt backend.DType, x float64) float64 {
	r := u.ref(x)
	if dt.IsFloat() {
		return decode(dt, encode(dt, r))
	}
	return wrapped(dt, int64(r))
}

// TestStridedUnarySegs checks the integer unary ops and the float ones
// that long had no vec kernel (typed loops over whole operands, tiles or
// runs; float32 log1p, sin, cos, floor, ceil, round and softplus now
// have kernels, held to their documented bounds) against their float64
// oracles, over the layouts of stridedCases into
// contiguous, transposed and stepped outputs, with the vec paths on and
// off, on one thread and two.
func TestStridedUnarySegs(t *testing.T) {
	rng := rand.New(rand.NewPCG(67, 68))
	defer func(v bool) { vecOff = v }(vecOff)
	for _, dt := range []backend.DType{f32, f64, i64, i32, u8t} {
		gen := genFor(dt, rng, 0, 0)
		if dt.IsFloat() {
			// quarters (ties of Round, exact integers) and normals
			gen = func() float64 {
				if rng.IntN(2) == 0 {
					return float64(rng.IntN(41)-20) / 4
				}
				return rng.NormFloat64() * 3
			}
		}
		for _, c := range stridedCases() {
			for _, ks := range c.kinds {
				for _, kd := range []stridedKind{skContig, skTrans, skStep} {
					for ui, u := range segUnCases(dt) {
						big := numel(c.shape) > 2000
						if big && (ks == skTrans && kd != skContig || u.op != backend.Neg && u.op != backend.Sin) {
							continue
						}
						for _, off := range []bool{false, true} {
							if off && (big || ks == skOdd1 || ks == skBcast0) {
								continue
							}
							// short runs (CI's race build) take the
							// other outputs and the element loop for
							// the first two ops only
							if testing.Short() && ui > 1 && (kd != skContig || off || ks == skOdd1 || ks == skPerm || ks == skStep) {
								continue
							}
							name := fmt.Sprintf("%v/%v/%v/src=%s/dst=%s/vecOff=%v", u.op, dt, c.shape, ks, kd, off)
							vecOff = off
							checkSegUnary(t, name, u, dt, c.shape, ks, kd, gen, rng)
							vecOff = false
						}
					}
				}
			}
		}
	}
	defer SetNumThreads(SetNumThreads(2))
	for _, dt := range []backend.DType{f32, i32, u8t} {
		gen := genFor(dt, rng, -3, 3)
		for _, sh := range [][]int{{300, 300}, {4, 150, 130}} {
			for _, ks := range []stridedKind{skContig, skTrans, skStepLast, skBcast0} {
				u := segUnCases(dt)[0]
				name := fmt.Sprintf("threads/%v/%v/%v/%s", u.op, dt, sh, ks)
				checkSegUnary(t, name, u, dt, sh, ks, skContig, gen, rng)
			}
		}
	}
}

func checkSegUnary(t *testing.T, name string, u segUnCase, dt backend.DType, shape []int, ks, kd stridedKind, gen func() float64, rng *rand.Rand) {
	t.Helper()
	src := stridedOperand(t, dt, ks, shape, gen)
	var dst operand
	var before []uint64
	if kd == skContig {
		dst, before = guardedOutput(t, dt, shape, rng)
	} else {
		dst = stridedOperand(t, dt, kd, shape, func() float64 { return 7 })
		before = dst.snapshot()
	}
	be.Unary(u.op, dst.view(), src.view(), u.p)
	forEachIndex(shape, func(idx []int) {
		want := refSegUnary(u, dt, src.at(idx))
		got := dst.at(idx)
		if dt == f32 && u.ulp32 > 0 {
			if e := ulpErr(float32(got), u.ref(src.at(idx))); !(e <= u.ulp32) {
				t.Fatalf("%s: %v = %v, %.2f ulp from %v, bound %v (x = %v)", name, idx, got, e, u.ref(src.at(idx)), u.ulp32, src.at(idx))
			}
			return
		}
		if math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Fatalf("%s: %v = %v, want %v (x = %v)", name, idx, got, want, src.at(idx))
		}
	})
	checkUntouched(t, name, dst, before)
}

// TestStridedWhere checks Where over the layouts of stridedCases for its
// condition and both values, into contiguous, gapped and strided outputs,
// for each element size, against picking each element by its
// multi-index; with the tiled path off too, and on two threads.
func TestStridedWhere(t *testing.T) {
	rng := rand.New(rand.NewPCG(69, 70))
	defer func(v bool) { vecOff = v }(vecOff)
	ys := []stridedKind{skContig, skTrans, skScalar}
	for _, dt := range []backend.DType{f32, f64, bl} {
		for _, c := range stridedCases() {
			for _, kc := range c.kinds {
				for _, kx := range c.kinds {
					for _, ky := range ys {
						if numel(c.shape) > 2000 && (ky != skContig || kc == kx) {
							continue
						}
						// short runs (CI's race build) leave out the
						// condition layouts the values' cover
						if testing.Short() && (kc == skPerm || kc == skStep || kc == skOdd1 || ky == skTrans && kc != skContig) {
							continue
						}
						for _, kd := range []stridedKind{skContig, skTrans} {
							if kd != skContig && (kx != skContig && kc != skContig || testing.Short() && dt != f32) {
								continue
							}
							name := fmt.Sprintf("%v/%v/c=%s,x=%s,y=%s/dst=%s", dt, c.shape, kc, kx, ky, kd)
							checkStridedWhere(t, name, dt, c.shape, kc, kx, ky, kd, 0, rng)
						}
					}
				}
			}
		}
		for _, sh := range [][]int{{3, 5}, {40, 17}, {2, 9, 30}} {
			for _, k := range []stridedKind{skTrans, skStepLast, skBcastLast, skScalar} {
				name := fmt.Sprintf("gap/%v/%v/%s", dt, sh, k)
				checkStridedWhere(t, name, dt, sh, k, skTrans, skContig, skContig, 3, rng)
				checkStridedWhere(t, name, dt, sh, skContig, k, skScalar, skContig, 3, rng)
				checkStridedWhere(t, name, dt, sh, skScalar, skBcast0, k, skStep, 0, rng)
				vecOff = true
				checkStridedWhere(t, name+"/vecOff", dt, sh, k, skTrans, k, skPerm, 0, rng)
				vecOff = false
			}
		}
	}
	defer SetNumThreads(SetNumThreads(2))
	for _, sh := range [][]int{{300, 300}, {4, 150, 130}} {
		for _, k := range []stridedKind{skTrans, skStepLast, skPerm} {
			name := fmt.Sprintf("threads/%v/%s", sh, k)
			checkStridedWhere(t, name, f32, sh, skContig, k, skContig, skContig, 0, rng)
			checkStridedWhere(t, name, i64, sh, k, skContig, skScalar, skContig, 0, rng)
		}
	}
}

// checkStridedWhere runs Where(cond, a, b) with operands in layouts kc,
// ka, kb into an output in layout kd (gap spare elements per row when it
// is contiguous) and checks every element and the elements around.
func checkStridedWhere(t *testing.T, name string, dt backend.DType, shape []int, kc, ka, kb, kd stridedKind, gap int, rng *rand.Rand) {
	t.Helper()
	cond := stridedOperand(t, bl, kc, shape, func() float64 { return float64(rng.IntN(2)) })
	gen := genDiscrete(dt, rng)
	a := stridedOperand(t, dt, ka, shape, gen)
	b := stridedOperand(t, dt, kb, shape, gen)
	var dst operand
	var before []uint64
	if kd == skContig {
		dst, before = gappedOutput(t, dt, shape, gap, rng)
	} else {
		dst = stridedOperand(t, dt, kd, shape, func() float64 { return 9 })
		before = dst.snapshot()
	}
	be.Where(dst.view(), cond.view(), a.view(), b.view())
	forEachIndex(shape, func(idx []int) {
		want := b.at(idx)
		if cond.at(idx) != 0 {
			want = a.at(idx)
		}
		if got := dst.at(idx); got != want {
			t.Fatalf("%s: %v = %v, want %v", name, idx, got, want)
		}
	})
	checkUntouched(t, name, dst, before)
}
