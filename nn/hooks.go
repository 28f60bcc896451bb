package nn

import (
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/tapir-ml/tapir/tensor"
)

// ForwardHook runs after a layer's forward pass when the layer is called
// through [Call]. It sees the layer, its input and its output; a non-nil
// result replaces the output, as in torch's register_forward_hook.
type ForwardHook func(l Layer, input, output *tensor.Tensor) *tensor.Tensor

// ForwardPreHook runs before the forward pass; a non-nil result replaces
// the input.
type ForwardPreHook func(l Layer, input *tensor.Tensor) *tensor.Tensor

type hookEntry struct {
	id   uint64
	pre  ForwardPreHook
	post ForwardHook
}

var (
	hookMu    sync.RWMutex
	hooks     = map[any][]hookEntry{} // layer identity → hooks in registration order
	hookCount atomic.Int64
	hookID    atomic.Uint64
)

func hookKey(l Layer) any {
	v := reflect.ValueOf(l)
	if v.Kind() == reflect.Pointer {
		return v.Pointer()
	}
	if !v.Type().Comparable() {
		panic("nn: hooks need a layer that is a pointer or a comparable value, got " + v.Type().String())
	}
	return l
}

func register(l Layer, e hookEntry) (remove func()) {
	key := hookKey(l)
	e.id = hookID.Add(1)
	hookMu.Lock()
	hooks[key] = append(hooks[key], e)
	hookMu.Unlock()
	hookCount.Add(1)
	var once sync.Once
	return func() {
		once.Do(func() {
			hookMu.Lock()
			defer hookMu.Unlock()
			hs := hooks[key]
			for i, h := range hs {
				if h.id == e.id {
					hs = append(hs[:i:i], hs[i+1:]...)
					break
				}
			}
			if len(hs) == 0 {
				delete(hooks, key)
			} else {
				hooks[key] = hs
			}
			hookCount.Add(-1)
		})
	}
}

// RegisterForwardHook adds h to the hooks that run after l's forward pass
// whenever l is called through [Call] (containers such as [Sequential] and
// every built-in composite layer call their children that way). It
// returns a function that removes the hook. A registered hook keeps l
// reachable until it is removed.
func RegisterForwardHook(l Layer, h ForwardHook) (remove func()) {
	return register(l, hookEntry{post: h})
}

// RegisterForwardPreHook adds h to the hooks that run before l's forward
// pass; see [RegisterForwardHook].
func RegisterForwardPreHook(l Layer, h ForwardPreHook) (remove func()) {
	return register(l, hookEntry{pre: h})
}

// Call runs l.Forward(x) with l's hooks, the way calling a torch module
// does. With no hook registered anywhere it costs one atomic load.
func Call(l Layer, x *tensor.Tensor) *tensor.Tensor { return CallFunc(l, x, l.Forward) }

// CallFunc runs fwd(x) as l's forward pass, with l's hooks around it: for
// layers whose full pass takes more than the one tensor of Forward (an
// encoder layer with masks, say).
func CallFunc(l Layer, x *tensor.Tensor, fwd func(*tensor.Tensor) *tensor.Tensor) *tensor.Tensor {
	if hookCount.Load() == 0 {
		return fwd(x)
	}
	hookMu.RLock()
	hs := append([]hookEntry(nil), hooks[hookKey(l)]...)
	hookMu.RUnlock()
	for _, h := range hs {
		if h.pre != nil {
			if r := h.pre(l, x); r != nil {
				x = r
			}
		}
	}
	y := fwd(x)
	for _, h := range hs {
		if h.post != nil {
			if r := h.post(l, x, y); r != nil {
				y = r
			}
		}
	}
	return y
}
