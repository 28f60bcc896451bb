package nn

import (
	"strconv"

	"github.com/tapir-ml/tapir/tensor"
)

// Sequential chains layers: each one's output is the next one's input.
// Its children are named "0", "1", … as in torch.nn.Sequential.
type Sequential struct {
	Layers []Layer
}

// NewSequential returns a Sequential of the given layers.
func NewSequential(layers ...Layer) *Sequential { return &Sequential{Layers: layers} }

// Forward runs the layers in order, each through [Call] so hooks fire.
func (s *Sequential) Forward(x *tensor.Tensor) *tensor.Tensor {
	for _, l := range s.Layers {
		x = Call(l, x)
	}
	return x
}

// Append adds layers at the end.
func (s *Sequential) Append(layers ...Layer) *Sequential {
	s.Layers = append(s.Layers, layers...)
	return s
}

// Len returns the number of layers.
func (s *Sequential) Len() int { return len(s.Layers) }

// Members names the layers "0", "1", ….
func (s *Sequential) Members() []Member {
	ms := make([]Member, len(s.Layers))
	for i, l := range s.Layers {
		ms[i] = Member{Name: strconv.Itoa(i), Module: l}
	}
	return ms
}

// ModuleList holds modules named "0", "1", …, as torch.nn.ModuleList. A
// plain slice field does the same; ModuleList is for lists of modules that
// are not Layers, or that are built one by one.
type ModuleList []Module

// Members names the modules "0", "1", ….
func (l ModuleList) Members() []Member {
	ms := make([]Member, len(l))
	for i, m := range l {
		ms[i] = Member{Name: strconv.Itoa(i), Module: m}
	}
	return ms
}

// ModuleDict holds modules by name in insertion order, as
// torch.nn.ModuleDict.
type ModuleDict struct {
	keys []string
	mods map[string]Module
}

// NewModuleDict returns an empty ModuleDict.
func NewModuleDict() *ModuleDict { return &ModuleDict{mods: map[string]Module{}} }

// Set adds or replaces the module under key; a new key goes last.
func (d *ModuleDict) Set(key string, m Module) {
	if d.mods == nil {
		d.mods = map[string]Module{}
	}
	if _, ok := d.mods[key]; !ok {
		d.keys = append(d.keys, key)
	}
	d.mods[key] = m
}

// Get returns the module under key, or nil.
func (d *ModuleDict) Get(key string) Module { return d.mods[key] }

// Keys returns the keys in insertion order.
func (d *ModuleDict) Keys() []string { return append([]string(nil), d.keys...) }

// Len returns the number of modules.
func (d *ModuleDict) Len() int { return len(d.keys) }

// Members lists the modules in insertion order.
func (d *ModuleDict) Members() []Member {
	ms := make([]Member, len(d.keys))
	for i, k := range d.keys {
		ms[i] = Member{Name: k, Module: d.mods[k]}
	}
	return ms
}
