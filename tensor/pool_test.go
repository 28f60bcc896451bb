package tensor_test

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/backend/cpu"
	"github.com/tapir-ml/tapir/tensor"
)

// Backward hands the gradient buffers it consumed back to the CPU pool,
// and a training loop that repeats its shapes is then served from it.
func TestBackwardRecyclesBuffers(t *testing.T) {
	g := tensor.NewGenerator(4)
	w1 := g.Normal(tensor.Float32, 0, 0.1, 64, 128).SetRequiresGrad(true) // 32 KiB: pooled
	w2 := g.Normal(tensor.Float32, 0, 0.1, 128, 64).SetRequiresGrad(true)
	x := g.Normal(tensor.Float32, 0, 1, 32, 64)
	step := func() {
		loss := x.MatMul(w1).Tanh().MatMul(w2).Square().Mean()
		loss.Backward()
		autograd.NoGrad(func() {
			w1.AddScaledIn(w1.Grad(), -0.01)
			w2.AddScaledIn(w2.Grad(), -0.01)
		})
		w1.ZeroGrad()
		w2.ZeroGrad()
	}
	step()
	before := cpu.Stats()
	loss := x.MatMul(w1).Tanh().MatMul(w2).Square().Mean()
	mid := cpu.Stats()
	loss.Backward()
	after := cpu.Stats()
	if after.Released <= mid.Released {
		t.Fatalf("backward released no buffers (released %d → %d)", mid.Released, after.Released)
	}
	for i := 0; i < 20; i++ {
		step()
	}
	end := cpu.Stats()
	if end.Hits-before.Hits == 0 {
		t.Fatal("a repeated training step never reused a pooled buffer")
	}
	t.Logf("per step: %d hits, %d misses", (end.Hits-after.Hits)/20, (end.Misses-after.Misses)/20)
}

// Loops that allocate and drop tensors of varying sizes, with no explicit
// frees (the buffers come back to the pool only through GC cleanups),
// like the forward pass of a training step or an evaluation loop, keep the
// heap within a fixed multiple of what they hold live, alone or several
// goroutines at once. The cleanup delays a buffer's return by a GC cycle;
// before the pool paced collections, the heap doubled every cycle here.
func TestHeapBoundedWithoutExplicitFrees(t *testing.T) {
	if gogc := debug.SetGCPercent(100); gogc != 100 {
		defer debug.SetGCPercent(gogc)
	}
	// from 4 KiB (the smallest pooled buffer) to 2 MiB, in float32
	sizes := []int{1 << 10, 3 << 10, 9 << 10, 24 << 10, 70 << 10, 190 << 10, 512 << 10}
	for _, tc := range []struct {
		name    string
		workers int
		window  int // tensors each worker keeps alive: the working set
	}{
		{"one goroutine", 1, 96},
		{"three goroutines", 3, 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			total := int64(3 << 30) // bytes allocated, over all workers
			if testing.Short() {
				total = 1 << 30
			}
			// start from an empty pool and a heap without the last
			// subtest's garbage
			runtime.GC()
			time.Sleep(10 * time.Millisecond) // for the cleanups
			cpu.EmptyCache()
			runtime.GC()
			before := cpu.Stats()

			var allocated, liveBytes, maxLive, maxHeap atomic.Int64
			var failed atomic.Bool
			var wg sync.WaitGroup
			for w := range tc.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					live := make([]*tensor.Tensor, tc.window)
					for i := 0; allocated.Load() < total && !failed.Load(); i++ {
						n := sizes[(i*7+i/5+w)%len(sizes)]
						tensor.Empty(n) // dropped at once
						y := tensor.Empty(n)
						allocated.Add(2 * int64(n) * 4)
						d := int64(n) * 4
						if old := live[i%tc.window]; old != nil {
							d -= int64(old.Numel()) * 4
						}
						live[i%tc.window] = y
						l := liveBytes.Add(d)
						for m := maxLive.Load(); l > m && !maxLive.CompareAndSwap(m, l); m = maxLive.Load() {
						}
						if w != 0 || i%64 != 0 {
							continue
						}
						var ms runtime.MemStats
						runtime.ReadMemStats(&ms)
						heap := int64(ms.HeapInuse)
						maxHeap.Store(max(maxHeap.Load(), heap))
						// the working set is maxLive; allow it 4 times
						// over, plus room for the pool's pacing
						if bound := 4*maxLive.Load() + 256<<20; heap > bound {
							failed.Store(true)
							t.Errorf("after %d MiB allocated, the heap grew to %d MiB in use, over %d MiB (working set %d MiB)",
								allocated.Load()>>20, heap>>20, bound>>20, maxLive.Load()>>20)
						}
					}
					runtime.KeepAlive(live)
				}()
			}
			wg.Wait()
			after := cpu.Stats()
			t.Logf("allocated %d MiB, working set ≤ %d MiB, heap in use ≤ %d MiB; pool: %d hits, %d misses, %d collections, %d evicted",
				allocated.Load()>>20, maxLive.Load()>>20, maxHeap.Load()>>20, after.Hits-before.Hits, after.Misses-before.Misses,
				after.Collections-before.Collections, after.Evicted-before.Evicted)
		})
	}
}
