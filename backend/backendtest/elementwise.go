package backendtest

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// shapes are the logical shapes of the elementwise tests: 0-d, 1-d to
// 3-d, size-1 dims, empty dims and, unless -short, one shape past the
// sizes at which a backend typically splits work across threads.
func (c *ctx) shapes(big bool) [][]int {
	s := [][]int{{}, {1}, {7}, {3, 4}, {1, 5}, {4, 1}, {2, 3, 4}, {2, 1, 3}, {0}, {3, 0}, {0, 2, 3}}
	if big && c.big() {
		s = append(s, []int{3, 67, 193})
	}
	return s
}

// ---------------------------------------------------------------- transfer

// testTransfer checks Alloc, Upload and Download, which every other test
// relies on: bits go up and come back unchanged, a strided view downloads
// its elements in row-major order, and empty storage works.
func testTransfer(c *ctx) {
	for _, dt := range c.types(allTypes...) {
		c.run(dt.String(), func(c *ctx) {
			e := c.alloc(dt, 0)
			if err := c.s.be.Download(nil, backend.View{Storage: e, Layout: backend.Contiguous([]int{0})}); err != nil {
				c.Errorf("Download of an empty view: %v", err)
			}
			for _, k := range []kind{kContig, kPerm, kGap, kPad, kBcastFirst, kBcastLast} {
				for _, sh := range [][]int{{}, {6}, {3, 4}, {2, 3, 2}, {0, 2}} {
					what := fmt.Sprintf("%v view %v", k, sh)
					o := c.input(dt, k, sh, c.values(dt))
					if dt != boolean {
						// arbitrary bit patterns, NaN payloads included
						for i := range o.mem {
							o.mem[i] = c.rng.Uint64() & (1<<(8*dt.Size()) - 1)
						}
						c.upload(o)
					}
					if !c.unchanged(what+": round trip", o) {
						continue
					}
					raw := make([]byte, numel(sh)*dt.Size())
					if err := c.s.be.Download(raw, o.view()); err != nil {
						c.Errorf("%s: Download: %v", what, err)
						continue
					}
					got := unpack(dt, raw)
					i, reported := 0, false
					each(sh, func(idx []int) {
						if want := o.mem[at(o.l, idx)]; got[i] != want && !reported {
							c.Errorf("%s: Download: element %v has bits %#x, want %#x", what, idx, got[i], want)
							reported = true
						}
						i++
					})
				}
			}
		})
	}
}

// ---------------------------------------------------------------- conversions

// convert is the documented conversion of the value x to dt (Fill and
// Copy): the expected result and the error allowed. Float32 and Float64
// round to nearest exactly; a 16-bit type must land within its unit
// roundoff (Tol) of x, which accepts rounding from float64 directly or
// through float32, and overflow must give the infinity; integers truncate
// toward zero and wrap to their width (x must be within int64 for a
// float source); Bool is x ≠ 0.
func (c *ctx) convert(dt backend.DType, x float64, fromInt bool) (want, allowed float64) {
	switch {
	case dt == f32 || dt == f64:
		return round(dt, x), 0
	case dt.IsHalf():
		r := round(dt, float64(float32(x)))
		if math.IsNaN(r) || math.IsInf(r, 0) || math.IsInf(x, 0) {
			return r, 0
		}
		sub := 0x1p-25 // half the least float16 subnormal
		if dt == bf16 {
			sub = 0x1p-134
		}
		return x, (c.tol(dt)+0x1p-23)*math.Abs(x) + sub
	case dt == boolean:
		if x != 0 {
			return 1, 0
		}
		return 0, 0
	}
	if fromInt {
		return float64(wrap(dt, int64(x))), 0
	}
	return float64(wrap(dt, int64(math.Trunc(x)))), 0
}

// fillValues are the values Fill writes into dt: fractions of both signs
// (truncated for integers), values past the 16-bit formats' range and
// precision, and for floats NaN and infinities.
func fillValues(dt backend.DType) []float64 {
	switch dt {
	case boolean:
		return []float64{0, 1, 2.5, -1, math.NaN(), math.Copysign(0, -1)}
	case u8:
		return []float64{0, 2.5, 7, 200, 255, 0.7}
	case i32:
		return []float64{0, 2.5, -1.5, -0.7, 1 << 20, -2e9}
	case i64:
		return []float64{0, 2.5, -1.5, -0.7, -3e9, 1 << 50}
	}
	return []float64{2.5, -1.5, 0, -0.7, 1e-8, 3.0000001, 70000, 1e30, math.NaN(), math.Inf(-1)}
}

func testFill(c *ctx) {
	for _, dt := range c.types(allTypes...) {
		c.run(dt.String(), func(c *ctx) {
			for _, k := range []kind{kContig, kGap, kPerm} {
				c.run(k.String(), func(c *ctx) {
					for _, sh := range c.shapes(k == kContig) {
						for _, v := range fillValues(dt) {
							what := fmt.Sprintf("Fill(%v) %v", v, sh)
							dst := c.output(dt, k, sh)
							c.s.be.Fill(dst.view(), v)
							if !c.written(what, dst) {
								continue
							}
							w, tol := c.convert(dt, v, false)
							want := make([]float64, numel(sh))
							for i := range want {
								want[i] = w
							}
							c.check(what, dst, want, func(int) float64 { return tol }, 0)
						}
					}
				})
			}
		})
	}
}

// ---------------------------------------------------------------- copy

// copySource draws source values of sdt for a copy into ddt: values whose
// conversion the contract defines. Float sources give fractions over
// several binades, and, where the target is floating or Bool, zeros of
// both signs, NaN and infinities; a float going to an integer type stays
// within the target's range ([0, 255] for Uint8). Integer sources span
// ±1000 (wrapping into narrower types) and for Int64 occasionally ±2⁴⁰.
func (c *ctx) copySource(sdt, ddt backend.DType) func() float64 {
	switch {
	case sdt == boolean:
		return c.intsIn(0, 1)
	case sdt == u8:
		return c.intsIn(0, 255)
	case sdt.IsInt():
		return func() float64 {
			if sdt == i64 && c.rng.IntN(8) == 0 {
				return float64((int64(1)<<40 + c.rng.Int64N(1<<20)) * int64(1-2*c.rng.IntN(2)))
			}
			return float64(c.rng.IntN(2001) - 1000)
		}
	}
	special := ddt.IsFloat() || ddt == boolean
	return func() float64 {
		if special {
			switch c.rng.IntN(16) {
			case 0:
				return math.NaN()
			case 1:
				return math.Inf(1 - 2*c.rng.IntN(2))
			case 2:
				return math.Copysign(0, float64(1-2*c.rng.IntN(2)))
			case 3:
				return 1e5 * float64(1-2*c.rng.IntN(2)) // beyond float16
			}
		}
		x := (2*c.rng.Float64() - 1) * math.Exp2(float64(c.rng.IntN(10)-2))
		if c.rng.IntN(8) == 0 {
			x = float64(c.rng.IntN(9) - 4)
		}
		if ddt == u8 {
			x = math.Abs(x)
		}
		return x
	}
}

func testCopy(c *ctx) {
	variants := []struct {
		name     string
		dst, src kind
	}{
		{"contig", kContig, kContig},
		{"perm", kContig, kPerm},
		{"gap", kGap, kGap},
		{"broadcast", kPerm, kBcastFirst},
		{"flip", kPad, kFlip},
		{"dstperm", kPerm, kBcastLast},
	}
	for _, sdt := range c.types(allTypes...) {
		for _, ddt := range c.types(allTypes...) {
			c.run(sdt.String()+"_to_"+ddt.String(), func(c *ctx) {
				for _, v := range variants {
					c.run(v.name, func(c *ctx) {
						gen := c.copySource(sdt, ddt)
						for _, sh := range c.shapes(v.name == "contig") {
							what := fmt.Sprintf("Copy %v dst=%v src=%v", sh, v.dst, v.src)
							src := c.input(sdt, v.src, sh, gen)
							dst := c.output(ddt, v.dst, sh)
							c.s.be.Copy(dst.view(), src.view())
							c.unchanged(what, src)
							if !c.written(what, dst) {
								continue
							}
							in := src.values()
							want, tol := make([]float64, len(in)), make([]float64, len(in))
							for i, x := range in {
								want[i], tol[i] = c.convert(ddt, x, !sdt.IsFloat())
							}
							c.check(what, dst, want, func(i int) float64 { return tol[i] }, 0)
						}
					})
				}
				if sdt == ddt {
					c.run("identical", func(c *ctx) {
						gen := c.copySource(sdt, ddt)
						// dst identical to src, which Copy allows: nothing changes
						for _, k := range []kind{kContig, kGap, kPerm} {
							x := c.input(sdt, k, []int{3, 5}, gen)
							c.s.be.Copy(x.view(), x.view())
							c.unchanged(fmt.Sprintf("Copy onto itself (%v)", k), x)
						}
					})
				}
			})
		}
	}
}
