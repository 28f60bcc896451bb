package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// binaryDense32, the tiny-op shortcut of Binary, agrees bit for bit with
// the generic strided loops (vecOff) at every length 0..70 and past the
// one-thread limit, at offsets, with NaNs, and leaves the elements around
// its output alone (guard bands). Views it must not take (strided,
// broadcast, other dtypes) go the general way, checked the same.
func TestBinaryDense32(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	ops := []backend.BinaryOp{backend.Add, backend.Sub, backend.Mul, backend.Div, backend.Maximum, backend.Minimum, backend.Pow}
	const guard = 5
	lengths := []int{2*grain/4 - 1, 2 * grain / 4, 2*grain + 3}
	for n := 0; n <= 70; n++ {
		lengths = append(lengths, n)
	}
	newBuf := func(size int) *Buffer {
		s, err := be.Alloc(f32, size)
		if err != nil {
			t.Fatal(err)
		}
		v := Float32s(s)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			if rng.IntN(17) == 0 {
				v[i] = float32(math.NaN())
			}
		}
		return s.(*Buffer)
	}
	for _, n := range lengths {
		for _, op := range ops {
			for _, kind := range []string{"dense", "strided a", "broadcast b"} {
				x, y := newBuf(2*n+guard), newBuf(n+guard)
				offX, offY, offD := 1, 3, 2
				av := backend.View{Storage: x, Layout: backend.Layout{Shape: []int{n}, Strides: []int{1}, Offset: offX}}
				bv := backend.View{Storage: y, Layout: backend.Layout{Shape: []int{n}, Strides: []int{1}, Offset: offY}}
				switch kind {
				case "strided a":
					av.Strides = []int{2}
				case "broadcast b":
					bv.Strides = []int{0}
				}
				run := func(generic bool) []uint32 {
					d := newBuf(n + 2*guard)
					for i := range Float32s(d) {
						Float32s(d)[i] = -7
					}
					dv := backend.View{Storage: d, Layout: backend.Layout{Shape: []int{n}, Strides: []int{1}, Offset: offD}}
					if generic {
						k, off := setVec(nil, true)
						defer setVec(k, off)
					}
					be.Binary(op, dv, av, bv)
					out := make([]uint32, len(Float32s(d)))
					for i, v := range Float32s(d) {
						out[i] = math.Float32bits(v)
					}
					return out
				}
				got, want := run(false), run(true)
				for i := range want {
					inside := i >= offD && i < offD+n
					if !inside && got[i] != math.Float32bits(-7) {
						t.Fatalf("%v n=%d %s: guard element %d written", op, n, kind, i)
					}
					if got[i] != want[i] && !(isNaN32(got[i]) && isNaN32(want[i])) {
						t.Fatalf("%v n=%d %s: [%d] = %v, generic %v", op, n, kind, i,
							math.Float32frombits(got[i]), math.Float32frombits(want[i]))
					}
				}
			}
		}
	}
}

func isNaN32(b uint32) bool { v := math.Float32frombits(b); return v != v }

// The shortcut takes float32 only: a float64 op gives the generic result.
func TestBinaryDense32OtherDTypes(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 17} {
		x, _ := be.Alloc(f64, n)
		y, _ := be.Alloc(f64, n)
		d, _ := be.Alloc(f64, n)
		for i := range Float64s(x) {
			Float64s(x)[i], Float64s(y)[i] = float64(i)+0.25, 2*float64(i)+1
		}
		l := backend.Contiguous([]int{n})
		be.Binary(backend.Mul, backend.View{Storage: d, Layout: l}, backend.View{Storage: x, Layout: l}, backend.View{Storage: y, Layout: l})
		for i, v := range Float64s(d) {
			if want := (float64(i) + 0.25) * (2*float64(i) + 1); v != want {
				t.Fatalf("n=%d: [%d] = %v, want %v", n, i, v, want)
			}
		}
	}
}

// Bool's LogicalAnd and LogicalOr (Minimum and Maximum) a word at a
// time (boolDense) agree with a reference loop and with the generic loops
// at every length 0..140 and past the parallel grain, with each operand at
// its own offset (so that the operands lie equally or differently far
// from a word boundary), with both inputs one view, and leave the bytes
// around the output alone.
func TestBoolDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	lengths := []int{grain - 1, 2*grain + 5, 3*grain + 77}
	for n := 0; n <= 140; n++ {
		lengths = append(lengths, n)
	}
	const guard = 5
	for _, n := range lengths {
		for _, op := range []backend.BinaryOp{backend.Minimum, backend.Maximum} {
			for _, offs := range [][3]int{{0, 0, 0}, {3, 3, 3}, {rng.IntN(8), rng.IntN(8), rng.IntN(8)}, {1, 0, 0}, {0, 5, 0}, {0, 0, 7}} {
				mk := func(off int) backend.View {
					s, err := be.Alloc(backend.Bool, n+off+guard)
					if err != nil {
						t.Fatal(err)
					}
					b := u8(s)
					for i := range b {
						b[i] = uint8(rng.IntN(2))
					}
					return backend.View{Storage: s, Layout: backend.Layout{Shape: []int{n}, Strides: []int{1}, Offset: off}}
				}
				x, y := mk(offs[1]), mk(offs[2])
				for _, same := range []bool{false, true} {
					b := y
					if same {
						b = x
					}
					xs, ys := u8(x.Storage)[x.Offset:], u8(b.Storage)[b.Offset:]
					want := make([]uint8, n)
					for i := range want {
						want[i] = max(xs[i], ys[i])
						if op == backend.Minimum {
							want[i] = min(xs[i], ys[i])
						}
					}
					off := offs[0]
					for _, generic := range []bool{false, true} {
						d := mk(off)
						before := append([]uint8(nil), u8(d.Storage)...)
						old := vecOff
						vecOff = generic
						be.Binary(op, d, x, b)
						vecOff = old
						got := u8(d.Storage)
						for i := range got {
							if (i < off || i >= off+n) && got[i] != before[i] {
								t.Fatalf("n=%d %v offsets %v same=%v generic=%v: byte %d outside the output changed", n, op, offs, same, generic, i)
							}
						}
						for i, w := range want {
							if got[off+i] != w {
								t.Fatalf("n=%d %v offsets %v same=%v generic=%v: [%d] = %d, want %d", n, op, offs, same, generic, i, got[off+i], w)
							}
						}
					}
				}
			}
		}
	}
}
