package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

// BenchmarkElementwise times contiguous float32 ops through the backend
// (dispatch included) at 16 and 1M elements, under each dispatch:
// generic (the strided path every op took before the fast paths), go
// (the pure-Go twins) and simd (the default: the best assembly table).
// The bytes are those read and written. Compare with PyTorch timing
// torch.add/mul/clamp_min/exp/tanh/sigmoid/sin/cos/log1p/floor(x, out=d)
// and F.gelu(x), F.softplus(x) on the same sizes with OMP_NUM_THREADS=1 and torch.set_num_threads(1);
// run this with -cpu 1.
//
//	go test -run '^$' -bench Elementwise -cpu 1 ./backend/cpu
func BenchmarkElementwise(b *testing.B) {
	ops := []struct {
		name string
		un   backend.UnaryOp
		bin  backend.BinaryOp
		isBi bool
		p    backend.Scalars
	}{
		{"add", 0, backend.Add, true, backend.Scalars{}},
		{"mul", 0, backend.Mul, true, backend.Scalars{}},
		{"relu", backend.ReLU, 0, false, backend.Scalars{}},
		{"exp", backend.Exp, 0, false, backend.Scalars{}},
		{"tanh", backend.Tanh, 0, false, backend.Scalars{}},
		{"sigmoid", backend.Sigmoid, 0, false, backend.Scalars{}},
		{"gelu", backend.GELU, 0, false, backend.Scalars{}},
		{"sin", backend.Sin, 0, false, backend.Scalars{}},
		{"cos", backend.Cos, 0, false, backend.Scalars{}},
		{"log1p", backend.Log1p, 0, false, backend.Scalars{}},
		{"softplus", backend.Softplus, 0, false, backend.Scalars{A: 1, B: 20}},
		{"floor", backend.Floor, 0, false, backend.Scalars{}},
	}
	modes := []struct {
		name string
		k    *vecKernels[float32]
		off  bool
	}{{"generic", nil, true}, {"go", goVec32(), false}, {"simd", vec32, false}}
	for _, op := range ops {
		for _, n := range []int{16, 1 << 20} {
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			mk := func() backend.View {
				s, err := theCPU.Alloc(backend.Float32, n)
				if err != nil {
					b.Fatal(err)
				}
				for i, x := range Float32s(s) {
					Float32s(s)[i] = float32(rng.NormFloat64())
					_ = x
				}
				return backend.View{Storage: s, Layout: backend.Contiguous([]int{n})}
			}
			x, y, d := mk(), mk(), mk()
			for _, m := range modes {
				b.Run(fmt.Sprintf("%s/n=%d/%s", op.name, n, m.name), func(b *testing.B) {
					oldK, oldOff := setVec(m.k, m.off)
					defer setVec(oldK, oldOff)
					if op.isBi {
						b.SetBytes(int64(12 * n))
						for b.Loop() {
							theCPU.Binary(op.bin, d, x, y)
						}
					} else {
						b.SetBytes(int64(8 * n))
						for b.Loop() {
							theCPU.Unary(op.un, d, x, op.p)
						}
					}
				})
			}
		}
	}
}
