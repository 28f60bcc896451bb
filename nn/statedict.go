package nn

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tapir-ml/tapir/tensor"
)

// StateDictKeys returns the keys of m's state dict in torch's order: each
// module's parameters, then its buffers, then its submodules', in
// declaration order.
func StateDictKeys(m Module) []string {
	var keys []string
	for _, e := range stateEntries(m) {
		keys = append(keys, e.name)
	}
	return keys
}

type stateEntry struct {
	name string
	p    *Parameter
	b    *Buffer
}

func (e stateEntry) tensor() *tensor.Tensor {
	if e.p != nil {
		return e.p.Tensor
	}
	return e.b.Tensor
}

// stateEntries lists every parameter and buffer under every name it is
// reachable by (shared tensors appear under each name, as in torch).
func stateEntries(m Module) []stateEntry {
	var out []stateEntry
	walk(m, &visitor{
		param:  func(name string, p *Parameter) { out = append(out, stateEntry{name: name, p: p}) },
		buffer: func(name string, b *Buffer) { out = append(out, stateEntry{name: name, b: b}) },
	})
	return out
}

// StateDict returns m's parameters and buffers by dotted name. The tensors
// are detached and share storage with the module (as torch's state_dict
// does): clone them to keep a snapshot. [StateDictKeys] gives the order.
func StateDict(m Module) map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for _, e := range stateEntries(m) {
		sd[e.name] = e.tensor().Detach()
	}
	return sd
}

// LoadError lists everything wrong with a state dict at once.
type LoadError struct {
	Missing    []string // keys the module has and the state dict lacks
	Unexpected []string // keys the state dict has and the module lacks
	Mismatched []string // "key: state dict [2 3], module [3 2]"
}

func (e *LoadError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, "missing keys: "+strings.Join(e.Missing, ", "))
	}
	if len(e.Unexpected) > 0 {
		parts = append(parts, "unexpected keys: "+strings.Join(e.Unexpected, ", "))
	}
	if len(e.Mismatched) > 0 {
		parts = append(parts, "shape mismatches: "+strings.Join(e.Mismatched, "; "))
	}
	return "nn: load state dict: " + strings.Join(parts, "; ")
}

// LoadStateDict copies the tensors of sd into m's parameters and buffers
// by name, converting dtypes as torch's copy_ does. With strict, missing
// and unexpected keys are errors; shape mismatches always are. On error
// nothing is copied and the *LoadError lists every bad key.
func LoadStateDict(m Module, sd map[string]*tensor.Tensor, strict bool) error {
	entries := stateEntries(m)
	le := &LoadError{}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.name] = true
		src, ok := sd[e.name]
		if !ok || src == nil {
			le.Missing = append(le.Missing, e.name)
			continue
		}
		if dst := e.tensor(); !slices.Equal(src.Shape(), dst.Shape()) {
			le.Mismatched = append(le.Mismatched, fmt.Sprintf("%s: state dict %v, module %v", e.name, src.Shape(), dst.Shape()))
		}
	}
	for k := range sd {
		if !have[k] {
			le.Unexpected = append(le.Unexpected, k)
		}
	}
	slices.Sort(le.Unexpected)
	if len(le.Mismatched) > 0 || (strict && (len(le.Missing) > 0 || len(le.Unexpected) > 0)) {
		if !strict {
			le.Missing, le.Unexpected = nil, nil
		}
		return le
	}
	return tensor.Try(func() {
		tensor.WithGradEnabled(false, func() {
			for _, e := range entries {
				if src, ok := sd[e.name]; ok && src != nil {
					e.tensor().CopyIn(src)
				}
			}
		})
	})
}

// To converts every floating-point parameter and buffer of m to dtype dt
// (torch's module.to(dtype)); integer buffers such as BatchNorm's
// num_batches_tracked keep theirs. Parameters stay leaves that require
// grad as they did; gradients are dropped.
func To(m Module, dt tensor.DType) {
	convert(m, func(t *tensor.Tensor) *tensor.Tensor {
		if !isFloat(t.DType()) {
			return t
		}
		return t.To(dt)
	})
}

// ToDevice moves every parameter and buffer of m to device d.
func ToDevice(m Module, d tensor.Device) {
	convert(m, func(t *tensor.Tensor) *tensor.Tensor { return t.ToDevice(d) })
}

func isFloat(dt tensor.DType) bool {
	switch dt {
	case tensor.Float32, tensor.Float64, tensor.Float16, tensor.BFloat16:
		return true
	}
	return false
}

func convert(m Module, f func(*tensor.Tensor) *tensor.Tensor) {
	done := map[*tensor.Tensor]*tensor.Tensor{}
	conv := func(t *tensor.Tensor) *tensor.Tensor {
		if r, ok := done[t]; ok {
			return r
		}
		r := t
		tensor.WithGradEnabled(false, func() { r = f(t) })
		if r != t {
			r = r.Detach()
		}
		done[t] = r
		return r
	}
	for _, p := range Parameters(m) {
		rg := p.RequiresGrad()
		if n := conv(p.Tensor); n != p.Tensor {
			p.Tensor = n.SetRequiresGrad(rg)
		}
	}
	for _, b := range NamedBuffers(m) {
		b.B.Tensor = conv(b.B.Tensor)
	}
}
