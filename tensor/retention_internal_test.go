package tensor

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// collected reports whether the tensor made by mk becomes unreachable
// once mk returns, while keep (made from it) stays alive.
func collected(t *testing.T, mk func() (dropped, keep *Tensor)) bool {
	t.Helper()
	var done atomic.Bool
	keep := func() *Tensor {
		d, k := mk()
		runtime.AddCleanup(d, func(*atomic.Bool) { done.Store(true) }, &done)
		return k
	}()
	for i := 0; i < 50 && !done.Load(); i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	runtime.KeepAlive(keep)
	return done.Load()
}

// Small tensors keep their shape and strides inline. Nothing may hold a
// slice into another tensor's inline layout: a view or a graph node that
// did would keep that tensor (and through it its graph) alive.
func TestInlineLayoutDoesNotRetain(t *testing.T) {
	w := FromSlice([]float32{1, 2, 3, 4}, 2, 2).SetRequiresGrad(true)
	big := Ones(2, smallCPUBytes/4).SetRequiresGrad(true)
	cases := []struct {
		name string
		mk   func() (dropped, keep *Tensor)
	}{
		{"detach", func() (*Tensor, *Tensor) {
			y := w.MulScalar(2) // y.gradFn leads into w's graph
			return y, y.Detach()
		}},
		{"graph input meta", func() (*Tensor, *Tensor) {
			// larger than smallCPUBytes: the node that makes a small
			// output shares its object, so a later op's edge to that
			// node keeps the output by design (see tensorNode)
			y := big.MulScalar(2)
			return y, y.AddScalar(1) // AddScalar saves nothing; its node has y's shape
		}},
		{"graph output meta", func() (*Tensor, *Tensor) {
			y := w.MulScalar(2)
			z := y.AddScalar(1)
			return z, z.Detach().SetRequiresGrad(false)
		}},
		{"view", func() (*Tensor, *Tensor) {
			y := FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
			return y, y.Transpose(0, 1)
		}},
	}
	for _, c := range cases {
		if !collected(t, c.mk) {
			t.Errorf("%s: the dropped tensor is still reachable", c.name)
		}
	}
}
