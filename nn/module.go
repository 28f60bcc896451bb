package nn

import (
	"reflect"
	"strconv"
	"sync"

	"github.com/tapir-ml/tapir/tensor"
)

// Module is any value whose parameters, buffers and submodules are found
// by reflection: a pointer to a struct, typically. Exported fields of type
// *Parameter and *Buffer are its own tensors; exported fields holding
// structs or pointers to structs (directly, through interfaces, slices or
// arrays) are its submodules. Embedded structs lend their members to the
// embedding struct without a name of their own, as Go promotes fields.
//
// Field names become PyTorch's snake_case (RunningMean → running_mean,
// BN1 → bn1, LMHead → lm_head); a tag `nn:"name"` overrides the name and
// `nn:"-"` hides the field. Slice and array elements are named "0", "1", …
// A type that implements [MemberLister] names its members itself.
type Module any

// Layer is a module with a single-tensor forward pass.
type Layer interface {
	Forward(x *tensor.Tensor) *tensor.Tensor
}

// Member is one entry a [MemberLister] reports: exactly one of Param,
// Buffer and Module is set.
type Member struct {
	Name   string
	Param  *Parameter
	Buffer *Buffer
	Module Module
}

// MemberLister is implemented by modules whose member names do not follow
// from their fields: containers such as [Sequential], or recurrent layers
// whose PyTorch names carry layer suffixes (weight_ih_l0_reverse). Members
// returns the direct members in state-dict order; submodules are walked
// in turn.
type MemberLister interface {
	Members() []Member
}

// Named is a parameter with its dotted name.
type Named struct {
	Name string
	P    *Parameter
}

// NamedBuffer is a buffer with its dotted name.
type NamedBuffer struct {
	Name string
	B    *Buffer
}

// NamedModule is a module with its dotted name ("" for the root).
type NamedModule struct {
	Name   string
	Module Module
}

var (
	parameterType = reflect.TypeFor[*Parameter]()
	bufferType    = reflect.TypeFor[*Buffer]()
	listerType    = reflect.TypeFor[MemberLister]()
	trainerType   = reflect.TypeFor[Trainer]()
	layerType     = reflect.TypeFor[Layer]()
	tensorType    = reflect.TypeFor[*tensor.Tensor]()
)

// field is one exported struct field that may hold module content.
type field struct {
	index    int
	name     string // snake_case or tag name; "" for an embedded struct
	embedded bool
}

var plans sync.Map // reflect.Type (struct) → []field

// plan lists the fields of struct type t worth walking, cached per type as
// encoding/json caches its field lists.
func plan(t reflect.Type) []field {
	if p, ok := plans.Load(t); ok {
		return p.([]field)
	}
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue // reflect cannot hand out values read through unexported fields
		}
		tag := sf.Tag.Get("nn")
		if tag == "-" {
			continue
		}
		if !mayHold(sf.Type, map[reflect.Type]bool{}) {
			continue
		}
		f := field{index: i, embedded: sf.Anonymous && tag == ""}
		if !f.embedded {
			f.name = tag
			if f.name == "" {
				f.name = SnakeCase(sf.Name)
			}
		}
		fs = append(fs, f)
	}
	p, _ := plans.LoadOrStore(t, fs)
	return p.([]field)
}

// mayHold reports whether a value of type t can contain parameters,
// buffers or modules.
func mayHold(t reflect.Type, seen map[reflect.Type]bool) bool {
	switch t {
	case parameterType, bufferType:
		return true
	case tensorType:
		return false
	}
	if seen[t] {
		return true // recursive types: decide at walk time
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHold(t.Elem(), seen)
	case reflect.Struct:
		// Modules without tensors of their own still count when they
		// have a mode or a forward pass (Dropout, ReLU): Train and Eval
		// and hooks must reach them.
		for _, i := range []reflect.Type{listerType, trainerType, layerType} {
			if reflect.PointerTo(t).Implements(i) || t.Implements(i) {
				return true
			}
		}
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.IsExported() && sf.Tag.Get("nn") != "-" && mayHold(sf.Type, seen) {
				return true
			}
		}
	}
	return false
}

// visitor receives what a walk finds. Names are full dotted paths.
type visitor struct {
	param  func(name string, p *Parameter)
	buffer func(name string, b *Buffer)
	module func(name string, m Module) // called before the module's members
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	if name == "" {
		return prefix
	}
	return prefix + "." + name
}

// walk visits m and everything under it in declaration order.
func walk(m Module, v *visitor) {
	if m == nil {
		return
	}
	w := walker{v: v, onPath: map[uintptr]bool{}}
	w.value(reflect.ValueOf(m), "", true)
}

type walker struct {
	v      *visitor
	onPath map[uintptr]bool // struct pointers on the current path: cycles stop here
}

// value visits v named name. top marks a value that is a module in its own
// right (reported to v.module) rather than an embedded part of one.
func (w *walker) value(v reflect.Value, name string, top bool) {
	for v.Kind() == reflect.Interface {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Type() {
	case parameterType:
		if !v.IsNil() && w.v.param != nil {
			w.v.param(name, v.Interface().(*Parameter))
		}
		return
	case bufferType:
		if !v.IsNil() && w.v.buffer != nil {
			w.v.buffer(name, v.Interface().(*Buffer))
		}
		return
	case tensorType:
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Elem().Kind() != reflect.Struct {
			w.value(v.Elem(), name, top)
			return
		}
		ptr := v.Pointer()
		if w.onPath[ptr] {
			return
		}
		w.onPath[ptr] = true
		defer delete(w.onPath, ptr)
		w.structValue(v, name, top)
	case reflect.Struct:
		w.structValue(v, name, top)
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			w.value(v.Index(i), join(name, strconv.Itoa(i)), true)
		}
	}
}

// structValue visits a struct, given either as the struct or as a pointer
// to it.
func (w *walker) structValue(v reflect.Value, name string, top bool) {
	if top && w.v.module != nil {
		if v.Kind() == reflect.Struct && v.CanAddr() {
			v = v.Addr() // report the module itself, not a copy
		}
		if v.CanInterface() {
			w.v.module(name, v.Interface())
		}
	}
	if l, ok := lister(v); ok {
		for _, m := range l.Members() {
			full := join(name, m.Name)
			switch {
			case m.Param != nil:
				if w.v.param != nil {
					w.v.param(full, m.Param)
				}
			case m.Buffer != nil:
				if w.v.buffer != nil {
					w.v.buffer(full, m.Buffer)
				}
			case m.Module != nil:
				w.value(reflect.ValueOf(m.Module), full, true)
			}
		}
		return
	}
	// Torch's order: the module's own parameters, then its buffers, then
	// its submodules, each group in declaration order. Embedded structs'
	// members count as the module's own.
	var items []item
	w.expand(v, name, &items)
	for class := range 3 {
		for _, it := range items {
			if it.class == class {
				w.value(it.v, it.name, true)
			}
		}
	}
}

type item struct {
	v     reflect.Value
	name  string
	class int // 0 parameter, 1 buffer, 2 anything else
}

// expand lists the named fields of struct v, flattening embedded structs.
func (w *walker) expand(v reflect.Value, name string, items *[]item) {
	s := v
	if s.Kind() == reflect.Pointer {
		s = s.Elem()
	}
	for _, f := range plan(s.Type()) {
		fv := s.Field(f.index)
		if f.embedded {
			ev := fv
			if ev.Kind() == reflect.Pointer {
				if ev.IsNil() {
					continue
				}
			}
			if ev.Kind() == reflect.Struct || (ev.Kind() == reflect.Pointer && ev.Elem().Kind() == reflect.Struct) {
				if _, ok := lister(ev); !ok {
					w.expand(ev, name, items)
					continue
				}
			}
			w.value(fv, name, false)
			continue
		}
		class := 2
		dv := fv
		for dv.Kind() == reflect.Interface && !dv.IsNil() {
			dv = dv.Elem()
		}
		switch dv.Type() {
		case parameterType:
			class = 0
		case bufferType:
			class = 1
		}
		*items = append(*items, item{fv, join(name, f.name), class})
	}
}

// lister returns v's MemberLister, trying the pointer receiver too.
func lister(v reflect.Value) (MemberLister, bool) {
	if v.Kind() == reflect.Pointer {
		if l, ok := v.Interface().(MemberLister); ok {
			return l, true
		}
		return nil, false
	}
	if v.CanAddr() {
		if l, ok := v.Addr().Interface().(MemberLister); ok {
			return l, true
		}
	}
	if v.CanInterface() {
		if l, ok := v.Interface().(MemberLister); ok {
			return l, true
		}
	}
	return nil, false
}

// NamedParameters returns m's parameters with their dotted names, in
// declaration order. A parameter reachable under several names (shared
// weights) is listed once, under its first name, as torch does.
func NamedParameters(m Module) []Named {
	var out []Named
	seen := map[*Parameter]bool{}
	walk(m, &visitor{param: func(name string, p *Parameter) {
		if !seen[p] {
			seen[p] = true
			out = append(out, Named{name, p})
		}
	}})
	return out
}

// Parameters returns m's parameters in declaration order, each once.
func Parameters(m Module) []*Parameter {
	named := NamedParameters(m)
	out := make([]*Parameter, len(named))
	for i, n := range named {
		out[i] = n.P
	}
	return out
}

// NamedBuffers returns m's buffers with their dotted names, each once.
func NamedBuffers(m Module) []NamedBuffer {
	var out []NamedBuffer
	seen := map[*Buffer]bool{}
	walk(m, &visitor{buffer: func(name string, b *Buffer) {
		if !seen[b] {
			seen[b] = true
			out = append(out, NamedBuffer{name, b})
		}
	}})
	return out
}

// NamedModules returns m and every module under it with dotted names, the
// root first under "". A module reachable twice is listed once.
func NamedModules(m Module) []NamedModule {
	var out []NamedModule
	seen := map[any]bool{}
	walk(m, &visitor{module: func(name string, mod Module) {
		key := mod
		if !reflect.TypeOf(mod).Comparable() {
			key = name
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, NamedModule{name, mod})
		}
	}})
	return out
}

// Apply calls fn on m and every module under it, parents first.
func Apply(m Module, fn func(name string, m Module)) {
	for _, nm := range NamedModules(m) {
		fn(nm.Name, nm.Module)
	}
}

// SetRequiresGrad sets requires-grad on every parameter of m: false freezes
// the module (its parameters get no gradient), true unfreezes it.
func SetRequiresGrad(m Module, b bool) {
	for _, p := range Parameters(m) {
		p.SetRequiresGrad(b)
	}
}

// ZeroGrad drops the gradients of every parameter of m.
func ZeroGrad(m Module) {
	for _, p := range Parameters(m) {
		p.ZeroGrad()
	}
}
