package cpu

import (
	"errors"
	"math"
	"math/bits"
	"testing"

	"github.com/tapir-ml/tapir/backend"
)

func TestUniformFloat32StaysBelowB(t *testing.T) {
	// A + (B−A)·(1−2⁻²⁴) rounds to B in float32 for A=1, B=2; such draws
	// must become the largest float32 below B
	c := Get()
	s, _ := c.Alloc(backend.Float32, 4096)
	v := backend.View{Storage: s, Layout: backend.Contiguous([]int{4096})}
	for off := uint64(0); off < 2000; off++ {
		c.Random(v, backend.RandomSpec{Dist: backend.Uniform, A: 1, B: 2, Seed: 5, Offset: off * 2048})
		for _, x := range Float32s(s) {
			if x < 1 || x >= 2 {
				t.Fatalf("uniform [1, 2) drew %v", x)
			}
		}
	}
}

func TestClampUint8SaturatesBounds(t *testing.T) {
	c := Get()
	s, _ := c.Alloc(backend.Uint8, 3)
	copy(slice[uint8](s), []uint8{1, 5, 9})
	v := backend.View{Storage: s, Layout: backend.Contiguous([]int{3})}
	c.Unary(backend.Clamp, v, v, backend.Scalars{A: -2, B: 300})
	if got := slice[uint8](s); got[0] != 1 || got[1] != 5 || got[2] != 9 {
		t.Fatalf("clamp(-2, 300) on uint8 gave %v", got)
	}
	c.Unary(backend.Clamp, v, v, backend.Scalars{A: -2, B: 3})
	if got := slice[uint8](s); got[0] != 1 || got[1] != 3 || got[2] != 3 {
		t.Fatalf("clamp(-2, 3) on uint8 gave %v", got)
	}
	if saturate[int64](math.Inf(1)) != math.MaxInt64 || saturate[int32](-1e20) != math.MinInt32 || saturate[uint8](math.NaN()) != 0 {
		t.Fatal("saturate edge cases")
	}
}

func TestAllocBeyondAddressSpaceIsAnError(t *testing.T) {
	// MaxInt/8+1 float64s overflow the byte count; 2^58 of them (2^61
	// bytes) fit in an int but in no 64-bit address space, so the pool's
	// failed allocation must come back as an error too. A 32-bit int
	// cannot hold the second size, so only the first runs there.
	sizes := []int{math.MaxInt/8 + 1}
	if bits.UintSize == 64 {
		sizes = append(sizes, 1<<(bits.UintSize-6))
	}
	for _, n := range sizes {
		_, err := Get().Alloc(backend.Float64, n)
		if !errors.Is(err, backend.ErrOutOfMemory) {
			t.Fatalf("Alloc(Float64, %d): got %v, want ErrOutOfMemory", n, err)
		}
	}
}
