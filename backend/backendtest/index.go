package backendtest

import (
	"errors"
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// indexOperand makes an Int64 operand of kind k over shape holding vals
// in row-major order (other storage elements hold -99, out of range).
func (c *ctx) indexOperand(k kind, shape []int, vals []int64) *operand {
	o := c.input(i64, k, shape, func() float64 { return -99 })
	i := 0
	each(shape, func(idx []int) {
		o.mem[at(o.l, idx)] = encodeInt(i64, vals[i])
		i++
	})
	c.upload(o)
	return o
}

// randIndex draws n indices in [0, hi).
func (c *ctx) randIndex(n, hi int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(c.rng.IntN(max(hi, 1)))
	}
	return out
}

// indexSpecs are the IndexSelect/IndexAdd shapes and dims.
func (c *ctx) indexSpecs() []laneSpec {
	s := []laneSpec{
		{[]int{5}, 0}, {[]int{4, 3}, 0}, {[]int{4, 3}, 1}, {[]int{2, 3, 4}, 0}, {[]int{2, 3, 4}, 1},
		{[]int{2, 3, 4}, 2}, {[]int{2, 1, 3}, 1}, {[]int{0, 3}, 1}, {[]int{3, 0}, 0},
	}
	if c.big() {
		s = append(s, laneSpec{[]int{200, 300}, 0}, laneSpec{[]int{200, 300}, 1})
	}
	return s
}

// moveValues draws data for the ops that only move elements (so any
// dtype): see ctx.values.
func (c *ctx) moveValues(dt backend.DType) func() float64 { return c.values(dt) }

// accumTol: IndexAdd and ScatterAdd add a few terms into each element in
// the dtype's own arithmetic, in any order; Tol·Σ|terms| bounds that.
func (c *ctx) accumTol(dt backend.DType, mag []float64) bound {
	r := c.tol(dt)
	return func(i int) float64 { return r * mag[i] }
}

func testIndexSelect(c *ctx) {
	variants := []struct {
		name            string
		dst, src, index kind
	}{
		{"contig", kContig, kContig, kContig},
		{"perm", kContig, kPerm, kGap},
		{"gap", kGap, kGap, kContig},
		{"broadcast", kContig, kBcastFirst, kBcastFirst},
		{"dstperm", kPerm, kBcastLast, kGap},
	}
	for _, dt := range c.types(allTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range variants {
				c.run(v.name, func(c *ctx) {
					for _, is := range c.indexSpecs() {
						n := is.shape[is.dim]
						for _, k := range []int{0, 1, 5, 9} {
							if (n == 0 && k > 0) || (numel(is.shape) > 1000 && k != 9) {
								continue
							}
							what := fmt.Sprintf("IndexSelect %v dim %d, %d indices (dst=%v src=%v index=%v)", is.shape, is.dim, k, v.dst, v.src, v.index)
							src := c.input(dt, v.src, is.shape, c.moveValues(dt))
							ix := c.randIndex(k, n)
							index := c.indexOperand(v.index, []int{k}, ix)
							ix = index.ints() // a broadcast index repeats its first value
							osh := with(is.shape, is.dim, k)
							dst := c.output(dt, v.dst, osh)
							if err := c.s.be.IndexSelect(dst.view(), src.view(), is.dim, index.view()); err != nil {
								c.Errorf("%s: %v", what, err)
								continue
							}
							c.unchanged(what, src)
							c.unchanged(what, index)
							if !c.written(what, dst) {
								continue
							}
							want := make([]float64, 0, numel(osh))
							each(osh, func(idx []int) {
								j := clone(idx)
								j[is.dim] = int(ix[idx[is.dim]])
								want = append(want, src.get(j))
							})
							c.check(what, dst, want, exact, 0)
						}
					}
				})
			}
		})
	}
}

func testIndexAdd(c *ctx) {
	variants := []struct {
		name            string
		dst, src, index kind
	}{
		{"contig", kContig, kContig, kContig},
		{"perm", kPerm, kGap, kGap},
		{"gap", kGap, kPerm, kContig},
		{"broadcast", kContig, kBcastFirst, kBcastFirst},
		{"broadcast_last", kGap, kBcastLast, kContig},
	}
	for _, dt := range c.types(numericTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range variants {
				c.run(v.name, func(c *ctx) {
					for _, is := range c.indexSpecs() {
						n := is.shape[is.dim]
						for _, k := range []int{0, 1, 7} {
							if (n == 0 && k > 0) || (numel(is.shape) > 1000 && k != 7) {
								continue
							}
							what := fmt.Sprintf("IndexAdd %v dim %d, %d indices (dst=%v src=%v index=%v)", is.shape, is.dim, k, v.dst, v.src, v.index)
							dst := c.input(dt, v.dst, is.shape, c.values(dt))
							init := dst.values()
							ix := c.randIndex(k, n) // 7 > n: repeated indices accumulate
							index := c.indexOperand(v.index, []int{k}, ix)
							ix = index.ints()
							ssh := with(is.shape, is.dim, k)
							src := c.input(dt, v.src, ssh, c.values(dt))
							if err := c.s.be.IndexAdd(dst.view(), is.dim, index.view(), src.view()); err != nil {
								c.Errorf("%s: %v", what, err)
								continue
							}
							c.unchanged(what, src)
							c.unchanged(what, index)
							wantF, wantI, mag := accumStart(dt, init)
							each(ssh, func(idx []int) {
								j := clone(idx)
								j[is.dim] = int(ix[idx[is.dim]])
								accumAdd(dt, wantF, wantI, mag, lin(is.shape, j), src, idx)
							})
							if c.written(what, dst) {
								c.checkAccum(what, dt, dst, wantF, wantI, mag)
							}
						}
					}
				})
			}
		})
	}
}

// accumStart begins IndexAdd/ScatterAdd's reference from dst's values.
func accumStart(dt backend.DType, init []float64) (wantF []float64, wantI []int64, mag []float64) {
	wantF, mag = append([]float64{}, init...), make([]float64, len(init))
	for i, x := range init {
		mag[i] = math.Abs(x)
	}
	if !dt.IsFloat() {
		wantI = toInts(init)
	}
	return wantF, wantI, mag
}

// accumAdd adds src's element at idx into reference position k.
func accumAdd(dt backend.DType, wantF []float64, wantI []int64, mag []float64, k int, src *operand, idx []int) {
	if !dt.IsFloat() {
		wantI[k] += src.geti(idx)
		return
	}
	x := src.get(idx)
	wantF[k] += x
	mag[k] += math.Abs(x)
}

func (c *ctx) checkAccum(what string, dt backend.DType, dst *operand, wantF []float64, wantI []int64, mag []float64) {
	if !dt.IsFloat() {
		for i := range wantI {
			wantI[i] = wrap(dt, wantI[i])
		}
		c.checkInts(what, dst, wantI)
		return
	}
	c.check(what, dst, wantF, c.accumTol(dt, mag), 0)
}

// gatherSpec is src's shape, index's shape (no larger than src's except
// along dim) and dim.
type gatherSpec struct {
	src, index []int
	dim        int
}

func (c *ctx) gatherSpecs() []gatherSpec {
	s := []gatherSpec{
		{[]int{6}, []int{4}, 0}, {[]int{6}, []int{9}, 0},
		{[]int{4, 5}, []int{3, 5}, 0}, {[]int{4, 5}, []int{4, 7}, 1}, {[]int{4, 5}, []int{2, 3}, 0}, {[]int{4, 5}, []int{2, 3}, 1},
		{[]int{2, 3, 4}, []int{2, 2, 4}, 1}, {[]int{2, 3, 4}, []int{1, 3, 6}, 2}, {[]int{2, 3, 4}, []int{5, 2, 1}, 0},
		{[]int{3, 1}, []int{3, 4}, 1}, {[]int{3, 4}, []int{0, 4}, 0}, {[]int{3, 4}, []int{2, 0}, 1},
	}
	if c.big() {
		s = append(s, gatherSpec{[]int{150, 300}, []int{150, 250}, 1}, gatherSpec{[]int{150, 300}, []int{200, 300}, 0})
	}
	return s
}

func testGather(c *ctx) {
	variants := []struct {
		name            string
		dst, src, index kind
	}{
		{"contig", kContig, kContig, kContig},
		{"perm", kContig, kPerm, kGap},
		{"gap", kGap, kGap, kPerm},
		{"broadcast", kContig, kBcastFirst, kBcastLast},
		{"dstperm", kPerm, kBcastLast, kContig},
	}
	for _, dt := range c.types(allTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range variants {
				c.run(v.name, func(c *ctx) {
					for _, gs := range c.gatherSpecs() {
						what := fmt.Sprintf("Gather src %v index %v dim %d (dst=%v src=%v index=%v)", gs.src, gs.index, gs.dim, v.dst, v.src, v.index)
						src := c.input(dt, v.src, gs.src, c.moveValues(dt))
						index := c.indexOperand(v.index, gs.index, c.randIndex(numel(gs.index), gs.src[gs.dim]))
						dst := c.output(dt, v.dst, gs.index)
						if err := c.s.be.Gather(dst.view(), src.view(), gs.dim, index.view()); err != nil {
							c.Errorf("%s: %v", what, err)
							continue
						}
						c.unchanged(what, src)
						c.unchanged(what, index)
						if !c.written(what, dst) {
							continue
						}
						want := make([]float64, 0, numel(gs.index))
						each(gs.index, func(idx []int) {
							j := clone(idx)
							j[gs.dim] = int(index.geti(idx))
							want = append(want, src.get(j))
						})
						c.check(what, dst, want, exact, 0)
					}
				})
			}
		})
	}
}

// scatterSpec: dst's shape, index's shape and src's shape (at least as
// large as index in every dim), and dim.
type scatterSpec struct {
	dst, index, src []int
	dim             int
}

func (c *ctx) scatterSpecs() []scatterSpec {
	s := []scatterSpec{
		{[]int{6}, []int{9}, []int{9}, 0}, {[]int{6}, []int{3}, []int{5}, 0},
		{[]int{4, 5}, []int{6, 5}, []int{6, 5}, 0}, {[]int{4, 5}, []int{4, 8}, []int{5, 9}, 1}, {[]int{4, 5}, []int{2, 3}, []int{3, 3}, 0},
		{[]int{2, 3, 4}, []int{2, 5, 4}, []int{2, 5, 4}, 1}, {[]int{2, 3, 4}, []int{1, 3, 6}, []int{2, 3, 6}, 2},
		{[]int{3, 4}, []int{0, 4}, []int{2, 4}, 0}, {[]int{3, 1}, []int{3, 4}, []int{3, 4}, 1},
	}
	if c.big() {
		s = append(s, scatterSpec{[]int{100, 300}, []int{150, 300}, []int{150, 300}, 0})
	}
	return s
}

func testScatterAdd(c *ctx) {
	variants := []struct {
		name            string
		dst, src, index kind
	}{
		{"contig", kContig, kContig, kContig},
		{"perm", kPerm, kGap, kGap},
		{"gap", kGap, kPerm, kContig},
		{"broadcast", kContig, kBcastFirst, kBcastLast},
		{"dstperm", kPerm, kContig, kPerm},
	}
	for _, dt := range c.types(numericTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, v := range variants {
				c.run(v.name, func(c *ctx) {
					for _, s := range c.scatterSpecs() {
						what := fmt.Sprintf("ScatterAdd dst %v index %v src %v dim %d (dst=%v src=%v index=%v)", s.dst, s.index, s.src, s.dim, v.dst, v.src, v.index)
						dst := c.input(dt, v.dst, s.dst, c.values(dt))
						init := dst.values()
						src := c.input(dt, v.src, s.src, c.values(dt))
						index := c.indexOperand(v.index, s.index, c.randIndex(numel(s.index), s.dst[s.dim]))
						if err := c.s.be.ScatterAdd(dst.view(), s.dim, index.view(), src.view()); err != nil {
							c.Errorf("%s: %v", what, err)
							continue
						}
						c.unchanged(what, src)
						c.unchanged(what, index)
						wantF, wantI, mag := accumStart(dt, init)
						each(s.index, func(idx []int) {
							j := clone(idx)
							j[s.dim] = int(index.geti(idx))
							accumAdd(dt, wantF, wantI, mag, lin(s.dst, j), src, idx)
						})
						if c.written(what, dst) {
							c.checkAccum(what, dt, dst, wantF, wantI, mag)
						}
					}
				})
			}
		})
	}
}

// testIndexErrors: an index out of range (negative, or at or past the
// dim's size) makes every indexing method return an error wrapping
// backend.ErrIndex, never panic.
func testIndexErrors(c *ctx) {
	dt := f32
	if !c.has(dt) {
		dt = f64
		if !c.has(dt) {
			return
		}
	}
	bad := []int64{-1, 4, 1000, math.MinInt64}
	expect := func(c *ctx, what string, err error) {
		if !errors.Is(err, backend.ErrIndex) {
			c.Errorf("%s: err = %v, want an error wrapping backend.ErrIndex", what, err)
		}
	}
	c.run("index_select", func(c *ctx) {
		for _, b := range bad {
			src := c.input(dt, kContig, []int{4, 3}, c.values(dt))
			index := c.indexOperand(kContig, []int{3}, []int64{0, b, 2})
			dst := c.output(dt, kContig, []int{3, 3})
			expect(c, fmt.Sprintf("IndexSelect with index %d of 4", b), c.s.be.IndexSelect(dst.view(), src.view(), 0, index.view()))
		}
	})
	c.run("index_add", func(c *ctx) {
		for _, b := range bad {
			dst := c.input(dt, kContig, []int{4, 3}, c.values(dt))
			index := c.indexOperand(kContig, []int{3}, []int64{0, b, 2})
			src := c.input(dt, kContig, []int{3, 3}, c.values(dt))
			expect(c, fmt.Sprintf("IndexAdd with index %d of 4", b), c.s.be.IndexAdd(dst.view(), 0, index.view(), src.view()))
		}
	})
	c.run("gather", func(c *ctx) {
		for _, b := range bad {
			src := c.input(dt, kContig, []int{4, 3}, c.values(dt))
			index := c.indexOperand(kContig, []int{2, 3}, []int64{0, 1, 2, 3, b, 0})
			dst := c.output(dt, kContig, []int{2, 3})
			expect(c, fmt.Sprintf("Gather with index %d of 4", b), c.s.be.Gather(dst.view(), src.view(), 0, index.view()))
		}
	})
	c.run("scatter_add", func(c *ctx) {
		for _, b := range bad {
			dst := c.input(dt, kContig, []int{4, 3}, c.values(dt))
			index := c.indexOperand(kContig, []int{2, 3}, []int64{0, 1, 2, 3, b, 0})
			src := c.input(dt, kContig, []int{2, 3}, c.values(dt))
			expect(c, fmt.Sprintf("ScatterAdd with index %d of 4", b), c.s.be.ScatterAdd(dst.view(), 0, index.view(), src.view()))
		}
	})
}
