package backendtest

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// reduceSpec is a source shape and the dims reduced (kept with size 1).
type reduceSpec struct {
	shape, dims []int
}

func (r reduceSpec) out() []int {
	o := clone(r.shape)
	for _, d := range r.dims {
		o[d] = 1
	}
	return o
}

// reduceGroups are the Reduce subtests' specs: over single dims, over
// several dims, over all dims, and over or beside empty dims.
func (c *ctx) reduceGroups() []struct {
	name  string
	specs []reduceSpec
} {
	single := []reduceSpec{
		{[]int{7}, []int{0}}, {[]int{3, 4}, []int{0}}, {[]int{3, 4}, []int{1}},
		{[]int{2, 3, 4}, []int{0}}, {[]int{2, 3, 4}, []int{1}}, {[]int{2, 3, 4}, []int{2}},
		{[]int{2, 1, 3}, []int{1}}, {[]int{1, 5}, []int{1}}, {[]int{4, 1}, []int{0}}, {[]int{5, 1, 3}, []int{0}},
	}
	multi := []reduceSpec{
		{[]int{2, 3, 4}, []int{0, 2}}, {[]int{2, 3, 4}, []int{1, 2}}, {[]int{2, 3, 4}, []int{0, 1}},
		{[]int{2, 1, 3}, []int{0, 2}}, {[]int{3, 2, 2, 3}, []int{0, 3}}, {[]int{3, 2, 2, 3}, []int{1, 2}},
	}
	all := []reduceSpec{
		{[]int{}, nil}, {[]int{1}, []int{0}}, {[]int{7}, []int{0}}, {[]int{3, 4}, []int{0, 1}}, {[]int{2, 3, 4}, []int{0, 1, 2}},
	}
	empty := []reduceSpec{
		{[]int{0, 3}, []int{0}}, {[]int{0, 3}, []int{1}}, {[]int{3, 0}, []int{1}}, {[]int{3, 0}, []int{0}}, {[]int{2, 0, 3}, []int{0, 2}},
	}
	if c.big() {
		single = append(single, reduceSpec{[]int{64, 700}, []int{0}}, reduceSpec{[]int{64, 700}, []int{1}})
		all = append(all, reduceSpec{[]int{64, 700}, []int{0, 1}})
	}
	return []struct {
		name  string
		specs []reduceSpec
	}{{"single", single}, {"multi", multi}, {"all", all}, {"empty", empty}}
}

// reduceVariants are the (dst, src) layouts of the reduction tests.
var reduceVariants = []struct {
	name     string
	dst, src kind
}{
	{"contig", kContig, kContig},
	{"perm", kContig, kPerm},
	{"gap", kGap, kGap},
	{"broadcast", kPad, kBcastFirst},
	{"dstperm", kPerm, kBcastLast},
}

func reduceTypes(op backend.ReduceOp) []backend.DType {
	switch op {
	case backend.ReduceSum, backend.ReduceProd:
		return []backend.DType{f32, f64, i64} // integer sums take Int64
	case backend.ReduceMean:
		return floatTypes
	}
	return withBool
}

func (c *ctx) reduceGen(op backend.ReduceOp, dt backend.DType) func() float64 {
	switch {
	case op == backend.ReduceProd && dt.IsFloat():
		// Factors within 0.5% of ±1: the large cases multiply 44,800
		// of them (a 64-element source broadcast 700 times), and wider
		// factors let a partial product overflow in one order of
		// multiplication and not in another, which the contract leaves
		// open. A dropped or repeated factor still moves the product far
		// beyond the tolerance.
		return func() float64 { return (0.995 + 0.01*c.rng.Float64()) * float64(1-2*c.rng.IntN(2)) }
	case op == backend.ReduceProd:
		return func() float64 {
			if c.rng.IntN(200) == 0 {
				return float64(2 * (1 - 2*c.rng.IntN(2)))
			}
			return float64(1 - 2*c.rng.IntN(2))
		}
	case op == backend.ReduceSum && dt == i64:
		// past 32 bits, so a narrower accumulator shows
		return func() float64 { return float64((int64(1)<<40 + c.rng.Int64N(1<<30)) * int64(1-2*c.rng.IntN(2))) }
	case op == backend.ReduceMax || op == backend.ReduceMin:
		return c.discrete(dt)
	}
	return c.values(dt)
}

// reduceRef reduces src over spec.dims by walking every source element
// and folding it into the output element with the reduced coordinates
// zeroed. It returns the float results, the integer ones (integer
// types), Σ|x| per output (the scale of a sum's rounding) and the count
// per output.
func reduceRef(op backend.ReduceOp, src *operand, spec reduceSpec) (wantF []float64, wantI []int64, mag []float64, count int) {
	osh := spec.out()
	n := numel(osh)
	wantF, wantI, mag = make([]float64, n), make([]int64, n), make([]float64, n)
	isInt := !src.dt.IsFloat()
	for i := range wantF {
		switch op {
		case backend.ReduceProd:
			wantF[i], wantI[i] = 1, 1
		case backend.ReduceMax:
			wantF[i], wantI[i] = math.Inf(-1), math.MinInt64
		case backend.ReduceMin:
			wantF[i], wantI[i] = math.Inf(1), math.MaxInt64
		}
	}
	if n > 0 {
		count = numel(spec.shape) / n
	}
	o := make([]int, len(osh))
	each(spec.shape, func(idx []int) {
		copy(o, idx)
		for _, d := range spec.dims {
			o[d] = 0
		}
		k := lin(osh, o)
		if isInt {
			x := src.geti(idx)
			switch op {
			case backend.ReduceSum:
				wantI[k] += x
			case backend.ReduceProd:
				wantI[k] *= x
			case backend.ReduceMax:
				wantI[k] = max(wantI[k], x)
			case backend.ReduceMin:
				wantI[k] = min(wantI[k], x)
			}
			return
		}
		x := src.get(idx)
		mag[k] += math.Abs(x)
		switch op {
		case backend.ReduceSum, backend.ReduceMean:
			wantF[k] += x
		case backend.ReduceProd:
			wantF[k] *= x
		case backend.ReduceMax:
			if x > wantF[k] || x != x {
				wantF[k] = x
			}
		case backend.ReduceMin:
			if x < wantF[k] || x != x {
				wantF[k] = x
			}
		}
	})
	if op == backend.ReduceMean {
		for k := range wantF {
			wantF[k] /= float64(count) // an empty mean is 0/0 = NaN
			mag[k] /= float64(count)
		}
	}
	return wantF, wantI, mag, count
}

// reduceTol: Sum and Mean within Tol·|want| plus what a float64
// accumulation of count terms may err (count·2⁻⁵²·Σ|x|): Float32 sums
// are documented to accumulate in float64, so they get no float32-sized
// slack for the summation itself. Prod within Tol·max(1, count/4)·|want|.
// Max and Min exactly.
func (c *ctx) reduceTol(op backend.ReduceOp, dt backend.DType, want, mag []float64, count int) bound {
	r := c.tol(dt)
	switch op {
	case backend.ReduceSum, backend.ReduceMean:
		return func(i int) float64 { return r*math.Abs(want[i]) + float64(count)*0x1p-52*mag[i] }
	case backend.ReduceProd:
		return func(i int) float64 { return r * max(1, float64(count)/4) * math.Abs(want[i]) }
	}
	return exact
}

func testReduce(c *ctx) {
	for _, op := range []backend.ReduceOp{backend.ReduceSum, backend.ReduceMean, backend.ReduceProd, backend.ReduceMax, backend.ReduceMin} {
		c.run(op.String(), func(c *ctx) {
			for _, dt := range c.types(reduceTypes(op)...) {
				c.run(dt.String(), func(c *ctx) {
					for _, g := range c.reduceGroups() {
						c.run(g.name, func(c *ctx) {
							for _, v := range reduceVariants {
								for _, spec := range g.specs {
									c.reduceCase(op, dt, spec, v.dst, v.src, v.name)
								}
							}
						})
					}
					if dt == f32 && (op == backend.ReduceSum || op == backend.ReduceMean) {
						c.run("accumulate", func(c *ctx) { c.reduceAccumulate(op) })
					}
					if dt.IsFloat() {
						c.run("nan", func(c *ctx) { c.reduceNaN(op, dt) })
					}
				})
			}
		})
	}
}

func (c *ctx) reduceCase(op backend.ReduceOp, dt backend.DType, spec reduceSpec, dk, sk kind, vname string) {
	osh := spec.out()
	if (op == backend.ReduceMax || op == backend.ReduceMin) && numel(spec.shape) == 0 && numel(osh) > 0 {
		return // the extreme of nothing is undefined
	}
	what := fmt.Sprintf("%v %v over dims %v (%s: dst=%v src=%v)", op, spec.shape, spec.dims, vname, dk, sk)
	src := c.input(dt, sk, spec.shape, c.reduceGen(op, dt))
	dst := c.output(dt, dk, osh)
	c.s.be.Reduce(op, dst.view(), src.view())
	c.unchanged(what, src)
	if !c.written(what, dst) {
		return
	}
	wantF, wantI, mag, count := reduceRef(op, src, spec)
	if !dt.IsFloat() {
		for i := range wantI {
			wantI[i] = wrap(dt, wantI[i])
		}
		c.checkInts(what, dst, wantI)
		return
	}
	c.check(what, dst, wantF, c.reduceTol(op, dt, wantF, mag, count), 0)
}

// reduceAccumulate holds Float32 Sum and Mean to their documented float64
// accumulation with lanes a float32 accumulator gets visibly wrong (the
// first a sequential one, the second a pairwise one too): a 1
// followed by many 2⁻²⁵ (each vanishes when added to 1 in float32) and
// ±2²⁴ around many 1s (each vanishes next to 2²⁴).
func (c *ctx) reduceAccumulate(op backend.ReduceOp) {
	lanes := [][]float64{make([]float64, 4096), make([]float64, 1002)}
	lanes[0][0] = 1
	for i := 1; i < len(lanes[0]); i++ {
		lanes[0][i] = 0x1p-25
	}
	lanes[1][0], lanes[1][1001] = 0x1p24, -0x1p24
	for i := 1; i < 1001; i++ {
		lanes[1][i] = 1
	}
	for _, lane := range lanes {
		for _, k := range []kind{kContig, kPerm} {
			// two rows: the lane and its negation, reduced along dim 1
			sh := []int{2, len(lane)}
			src := c.input(f32, k, sh, func() float64 { return 0 })
			for j, x := range lane {
				src.set([]int{0, j}, x)
				src.set([]int{1, j}, -x)
			}
			c.upload(src)
			spec := reduceSpec{sh, []int{1}}
			what := fmt.Sprintf("%v of a float32 lane of %d terms that needs a wider accumulator (%v)", op, len(lane), k)
			dst := c.output(f32, kContig, spec.out())
			c.s.be.Reduce(op, dst.view(), src.view())
			if !c.written(what, dst) {
				continue
			}
			want, _, _, _ := reduceRef(op, src, spec)
			c.check(what, dst, want, relTol(want, c.tol(f32), 0), 0)
		}
	}
}

// reduceNaN: a NaN anywhere in a reduced lane makes its result NaN (Max
// and Min propagate it, even past an infinity); other lanes stay numbers.
func (c *ctx) reduceNaN(op backend.ReduceOp, dt backend.DType) {
	sh := []int{3, 4}
	for _, pos := range [][]int{{0, 0}, {2, 3}, {1, 2}} {
		for _, dims := range [][]int{{0}, {1}, {0, 1}} {
			spec := reduceSpec{sh, dims}
			src := c.input(dt, kPerm, sh, c.uniform(0.5, 2))
			src.set(pos, math.NaN())
			src.set([]int{(pos[0] + 1) % 3, pos[1]}, math.Inf(1))
			src.set([]int{pos[0], (pos[1] + 1) % 4}, math.Inf(-1))
			if op == backend.ReduceSum || op == backend.ReduceMean || op == backend.ReduceProd {
				// keep inf−inf out of it: only the NaN
				src.set([]int{(pos[0] + 1) % 3, pos[1]}, 1)
				src.set([]int{pos[0], (pos[1] + 1) % 4}, 1)
			}
			c.upload(src)
			what := fmt.Sprintf("%v with NaN at %v over dims %v", op, pos, dims)
			dst := c.outputFinite(dt, kGap, spec.out())
			c.s.be.Reduce(op, dst.view(), src.view())
			if !c.written(what, dst) {
				continue
			}
			want, _, mag, count := reduceRef(op, src, spec)
			c.check(what, dst, want, c.reduceTol(op, dt, want, mag, count), 0)
		}
	}
}

// ---------------------------------------------------------------- lanes

// laneSpec is a shape and the dim its lanes run along.
type laneSpec struct {
	shape []int
	dim   int
}

// laneSpecs are the ArgReduce/Softmax/CumSum shapes: every dim of 1-d to
// 3-d shapes, size-1 lanes and dims, empty outer dims, and unless -short
// long lanes; empty lanes only where the method allows them.
func (c *ctx) laneSpecs(emptyLanes bool) []laneSpec {
	s := []laneSpec{
		{[]int{7}, 0}, {[]int{1}, 0}, {[]int{3, 4}, 0}, {[]int{3, 4}, 1},
		{[]int{2, 3, 4}, 0}, {[]int{2, 3, 4}, 1}, {[]int{2, 3, 4}, 2},
		{[]int{2, 1, 3}, 1}, {[]int{2, 1, 3}, 2}, {[]int{4, 1}, 0}, {[]int{0, 3}, 1}, {[]int{3, 0, 2}, 2},
		{[]int{5, 33}, 1},
	}
	if emptyLanes {
		s = append(s, laneSpec{[]int{3, 0}, 1}, laneSpec{[]int{2, 0, 3}, 1})
	}
	if c.big() {
		s = append(s, laneSpec{[]int{40, 300}, 1}, laneSpec{[]int{300, 40}, 0})
	}
	return s
}

// lane reads o's lane along dim through idx.
func lane(o *operand, idx []int, dim int) []float64 {
	j := clone(idx)
	out := make([]float64, o.l.Shape[dim])
	for k := range out {
		j[dim] = k
		out[k] = o.get(j)
	}
	return out
}

// byLanes builds a row-major result over shape from a per-lane function.
func byLanes(src *operand, dim int, f func(in []float64) []float64) []float64 {
	shape := src.l.Shape
	out := make([]float64, numel(shape))
	each(with(shape, dim, 1), func(idx []int) {
		res := f(lane(src, idx, dim))
		j := clone(idx)
		for k, v := range res {
			j[dim] = k
			out[lin(shape, j)] = v
		}
	})
	return out
}

// laneVariants are the (out, src) layouts of the lane-wise methods.
var laneVariants = []struct {
	name     string
	dst, src kind
}{
	{"contig", kContig, kContig},
	{"perm", kContig, kPerm},
	{"gap", kGap, kGap},
	{"broadcast", kPad, kBcastFirst},
	{"dstperm", kPerm, kBcastLast},
}

// ---------------------------------------------------------------- argreduce

// argRef is the first extreme of a lane, a NaN counting as the extreme
// (the first NaN wins).
func argRef(op backend.ArgOp, in []float64) (int, float64) {
	best, at := 0.0, -1
	for k, x := range in {
		switch {
		case at < 0:
			best, at = x, k
		case best != best:
		case x != x:
			best, at = x, k
		case op == backend.ArgMax && x > best, op == backend.ArgMin && x < best:
			best, at = x, k
		}
	}
	return at, best
}

func testArgReduce(c *ctx) {
	for _, op := range []backend.ArgOp{backend.ArgMax, backend.ArgMin} {
		name := "argmax"
		if op == backend.ArgMin {
			name = "argmin"
		}
		c.run(name, func(c *ctx) {
			for _, dt := range c.types(withBool...) {
				c.run(dt.String(), func(c *ctx) {
					for _, v := range laneVariants {
						c.run(v.name, func(c *ctx) {
							for _, ls := range c.laneSpecs(false) {
								c.argCase(op, dt, ls, v.dst, v.src, true, c.discrete(dt))
							}
						})
					}
					c.run("novalues", func(c *ctx) {
						for _, k := range []kind{kContig, kPerm, kGap} {
							for _, ls := range c.laneSpecs(false) {
								c.argCase(op, dt, ls, k, kPerm, false, c.discrete(dt))
							}
						}
					})
					if dt.IsFloat() {
						c.run("nan", func(c *ctx) {
							nan, inf := math.NaN(), math.Inf(1)
							pool := []float64{nan, inf, -inf, 1, -1, 0}
							gen := func() float64 { return pool[c.rng.IntN(len(pool))] }
							for _, ls := range c.laneSpecs(false) {
								c.argCaseOut(op, dt, ls, kContig, kGap, true, gen, c.outputFinite)
								c.argCase(op, dt, ls, kGap, kPerm, false, gen)
							}
						})
					}
				})
			}
		})
	}
}

func (c *ctx) argCase(op backend.ArgOp, dt backend.DType, ls laneSpec, ok, sk kind, withValues bool, gen func() float64) {
	c.argCaseOut(op, dt, ls, ok, sk, withValues, gen, c.output)
}

// argCaseOut is argCase with the values output made by newOut.
func (c *ctx) argCaseOut(op backend.ArgOp, dt backend.DType, ls laneSpec, ok, sk kind, withValues bool, gen func() float64, newOut func(backend.DType, kind, []int) *operand) {
	osh := with(ls.shape, ls.dim, 1)
	what := fmt.Sprintf("%v %v dim %d (out=%v src=%v values=%v)", op, ls.shape, ls.dim, ok, sk, withValues)
	src := c.input(dt, sk, ls.shape, gen)
	ind := c.output(i64, ok, osh)
	var vals *operand
	vv := backend.View{Layout: ind.l} // nil Storage: no values
	if withValues {
		vals = newOut(dt, ok, osh)
		vv = vals.view()
	}
	c.s.be.ArgReduce(op, vv, ind.view(), src.view(), ls.dim)
	c.unchanged(what, src)
	wantI := make([]int64, 0, numel(osh))
	wantV := make([]float64, 0, numel(osh))
	each(osh, func(idx []int) {
		k, best := argRef(op, lane(src, idx, ls.dim))
		wantI = append(wantI, int64(k))
		wantV = append(wantV, best)
	})
	if c.written(what+" indices", ind) {
		c.checkInts(what+" indices", ind, wantI)
	}
	if withValues && c.written(what+" values", vals) {
		c.check(what+" values", vals, wantV, exact, 0)
	}
}

// ---------------------------------------------------------------- softmax

// softmaxRef is softmax (or log-softmax) of a lane in float64, shifted by
// its maximum; it also returns the scale of each element's rounding
// (for log-softmax x − m − ln Σ subtracts numbers of size |x| and |ln Σ|).
func softmaxRef(in []float64, log bool) (want, scale []float64) {
	m := math.Inf(-1)
	for _, x := range in {
		if x > m || x != x {
			m = x
		}
	}
	sum := 0.0
	for _, x := range in {
		sum += math.Exp(x - m)
	}
	lse := m + math.Log(sum)
	want, scale = make([]float64, len(in)), make([]float64, len(in))
	for i, x := range in {
		if log {
			want[i] = x - lse
			scale[i] = math.Abs(x) + math.Abs(lse)
		} else {
			want[i] = math.Exp(x-m) / sum
			scale[i] = math.Abs(want[i])
		}
	}
	return want, scale
}

// softmaxTol: (2 + log₂(n+1))·Tol times each element's scale: an exp of
// the transcendental family's accuracy and a sum of n terms whose
// rounding grows like a reduction tree's depth.
func (c *ctx) softmaxTol(dt backend.DType, n int, scale []float64) bound {
	r := c.tol(dt) * (2 + math.Log2(float64(n+1)))
	return func(i int) float64 { return r * scale[i] }
}

func testSoftmax(c *ctx) {
	for _, log := range []bool{false, true} {
		name := "softmax"
		if log {
			name = "log_softmax"
		}
		c.run(name, func(c *ctx) {
			for _, dt := range c.types(floatTypes...) {
				c.run(dt.String(), func(c *ctx) {
					for _, v := range laneVariants {
						c.run(v.name, func(c *ctx) {
							for _, ls := range c.laneSpecs(true) {
								c.softmaxCase(dt, ls, v.dst, v.src, log, c.uniform(-8, 8))
							}
						})
					}
					c.run("special", func(c *ctx) { c.softmaxSpecial(dt, log) })
				})
			}
		})
	}
}

func (c *ctx) softmaxCase(dt backend.DType, ls laneSpec, dk, sk kind, log bool, gen func() float64) {
	what := fmt.Sprintf("softmax(log=%v) %v dim %d (dst=%v src=%v)", log, ls.shape, ls.dim, dk, sk)
	src := c.input(dt, sk, ls.shape, gen)
	dst := c.output(dt, dk, ls.shape)
	c.s.be.Softmax(dst.view(), src.view(), ls.dim, log)
	c.unchanged(what, src)
	if !c.written(what, dst) {
		return
	}
	var scale []float64
	scale = byLanes(src, ls.dim, func(in []float64) []float64 { _, s := softmaxRef(in, log); return s })
	want := byLanes(src, ls.dim, func(in []float64) []float64 { w, _ := softmaxRef(in, log); return w })
	c.check(what, dst, want, c.softmaxTol(dt, ls.shape[ls.dim], scale), 0)
}

// softmaxSpecial: lanes a naive formula overflows on, infinities and NaN.
func (c *ctx) softmaxSpecial(dt backend.DType, log bool) {
	nan, inf := math.NaN(), math.Inf(1)
	ln2 := math.Ln2
	cases := []struct{ in, soft, logsoft []float64 }{
		{[]float64{1000, 1000}, []float64{0.5, 0.5}, []float64{-ln2, -ln2}},
		{[]float64{1000, 0}, []float64{1, 0}, []float64{0, -1000}},
		{[]float64{-1000, -1000, -1000, -1000}, []float64{0.25, 0.25, 0.25, 0.25}, []float64{-2 * ln2, -2 * ln2, -2 * ln2, -2 * ln2}},
		{[]float64{0, -inf}, []float64{1, 0}, []float64{0, -inf}},
		{[]float64{nan, 1}, []float64{nan, nan}, []float64{nan, nan}},
		{[]float64{1, nan, 2}, []float64{nan, nan, nan}, []float64{nan, nan, nan}},
		{[]float64{7}, []float64{1}, []float64{0}},
	}
	for _, k := range cases {
		what := fmt.Sprintf("softmax(log=%v) of %v", log, k.in)
		src := c.input(dt, kGap, []int{len(k.in)}, func() float64 { return 0 })
		for i, x := range k.in {
			src.set([]int{i}, x)
		}
		c.upload(src)
		dst := c.outputFinite(dt, kContig, []int{len(k.in)})
		c.s.be.Softmax(dst.view(), src.view(), 0, log)
		if !c.written(what, dst) {
			continue
		}
		want := k.soft
		if log {
			want = k.logsoft
		}
		c.check(what, dst, want, relTol(want, 2*c.tol(dt), 0), 0)
	}
}

// ---------------------------------------------------------------- cumsum

func testCumSum(c *ctx) {
	for _, dt := range c.types(f32, f64, i64) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range laneVariants {
				c.run(v.name, func(c *ctx) {
					for _, ls := range c.laneSpecs(true) {
						c.cumsumCase(dt, ls, v.dst, v.src)
					}
				})
			}
		})
	}
}

func (c *ctx) cumsumGen(dt backend.DType) func() float64 {
	if dt == i64 {
		return func() float64 { return float64((int64(1)<<36 + c.rng.Int64N(1<<30)) * int64(1-2*c.rng.IntN(2))) }
	}
	return c.uniform(-3, 3)
}

func (c *ctx) cumsumCase(dt backend.DType, ls laneSpec, dk, sk kind) {
	src := c.input(dt, sk, ls.shape, c.cumsumGen(dt))
	dst := c.output(dt, dk, ls.shape)
	c.cumsumCheck(fmt.Sprintf("cumsum %v dim %d (dst=%v src=%v)", ls.shape, ls.dim, dk, sk), dt, ls, dst, src)
}

// cumsumCheck runs CumSum(dst, src) and checks it. The CumSum contract
// does not fix the accumulator, so a float result k terms into its lane
// may err by Tol·(|want| + ⌈k/16⌉·Σ|x|): Tol is about 16 float32 units,
// so the bound holds a sequential float32 sum's worst case. Int64 is
// exact.
func (c *ctx) cumsumCheck(what string, dt backend.DType, ls laneSpec, dst, src *operand) {
	if dt == i64 {
		in := src.ints()
		c.s.be.CumSum(dst.view(), src.view(), ls.dim)
		c.unchanged(what, src)
		if !c.written(what, dst) {
			return
		}
		inOp := &operand{dt: f64, l: backend.Contiguous(ls.shape), mem: make([]uint64, len(in))}
		for i, x := range in {
			inOp.mem[i] = math.Float64bits(float64(x)) // exact: |x| < 2^53
		}
		want := byLanes(inOp, ls.dim, func(l []float64) []float64 {
			out, s := make([]float64, len(l)), int64(0)
			for k, x := range l {
				s += int64(x)
				out[k] = float64(s)
			}
			return out
		})
		c.checkInts(what, dst, toInts(want))
		return
	}
	snap := &operand{dt: src.dt, l: src.l, mem: append([]uint64{}, src.mem...)}
	c.s.be.CumSum(dst.view(), src.view(), ls.dim)
	c.unchanged(what, src)
	if !c.written(what, dst) {
		return
	}
	r := c.tol(dt)
	var slack []float64
	want := byLanes(snap, ls.dim, func(l []float64) []float64 {
		out := make([]float64, len(l))
		s := 0.0
		for k, x := range l {
			s += x
			out[k] = s
		}
		return out
	})
	slack = byLanes(snap, ls.dim, func(l []float64) []float64 {
		out := make([]float64, len(l))
		m := 0.0
		for k, x := range l {
			m += math.Abs(x)
			out[k] = math.Ceil(float64(k+1)/16) * m
		}
		return out
	})
	c.check(what, dst, want, func(i int) float64 { return r * (math.Abs(want[i]) + slack[i]) }, 0)
}
