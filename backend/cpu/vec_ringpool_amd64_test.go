//go:build amd64 && !purego

package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestRingStreamPooled checks that the aliased streaming path takes its
// ring from ringPool: it allocates nothing per call, and a ring left
// full of NaNs by an earlier call changes no result.
func TestRingStreamPooled(t *testing.T) {
	if vec32.name == "go" {
		t.Skip("no assembly kernels")
	}
	defer func(old int) { ntMinElems = old }(ntMinElems)
	ntMinElems = 1
	rng := rand.New(rand.NewPCG(71, 72))
	const apart = aliasPeriod / 4 // floats
	n := 3*ringElems + 40
	slab := make([]float32, apart+n+16)
	a := int((64 - uintptr(unsafe.Pointer(&slab[0]))%64) % 64 / 4)
	x := slab[a : a+n : a+n]
	y := slab[a+apart : a+apart+n : a+apart+n]
	copy(x, vecInputs(rng, n))
	copy(y, vecInputs(rng, n))
	if !streamsAlias(&x[0], &y[0]) {
		t.Fatalf("x %p and y %p do not alias", &x[0], &y[0])
	}
	want := make([]float32, n)
	goVec32().bin[vbAdd](want, x, y)
	dst := make([]float32, n+16)
	d := dst[(64-uintptr(unsafe.Pointer(&dst[0]))%64)%64/4:][:n]
	for range 3 {
		poison := new(ringBuf)
		for i := range poison {
			poison[i] = float32(math.NaN())
		}
		ringPool.Put(poison)
		vec32.bin[vbAdd](d, x, y)
		if i, same := firstDiff32(d, want); !same {
			t.Fatalf("[%d] = %v, want %v", i, d[i], want[i])
		}
	}
	if raceEnabled {
		return // the race detector drops pooled values at random
	}
	if allocs := testing.AllocsPerRun(20, func() { vec32.bin[vbAdd](d, x, y) }); allocs != 0 {
		t.Fatalf("aliased streaming add: %v allocations per call, want 0", allocs)
	}
}
