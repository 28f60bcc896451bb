package torchfile

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/big"
	"runtime"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Objects the unpickler makes. Nothing in a pickle is executed: a
// reference to any class or function other than the few below becomes an
// opaque value, so checkpoints that hold optimizer state, argparse
// namespaces or numpy scalars next to the state dict still parse.

// storageClass is torch.FloatStorage and its kin.
type storageClass struct{ name string }

// storageRef is a storage as a persistent id names it.
type storageRef struct {
	key   string // the record (zip) or root key (legacy)
	typ   storageType
	numel int // elements of the storage as the id declares them
	// A legacy storage view (view_metadata) covers elements [offset,
	// offset+numel) of the root storage key, which has rootNumel.
	offset    int
	rootNumel int
}

// tensorRef is a tensor as _rebuild_tensor_v2 describes it.
type tensorRef struct {
	st      *storageRef
	offset  int
	shape   []int
	strides []int
}

// rebuildTensor is torch._utils._rebuild_tensor_v2 (v1 when old):
// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]]).
type rebuildTensor struct{ old bool }

func (r rebuildTensor) Call(args ...any) (any, error) {
	if r.old && len(args) != 4 || !r.old && (len(args) < 4 || len(args) > 7) {
		return nil, fmt.Errorf("_rebuild_tensor: %d arguments", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor: the storage is a %s", typeName(args[0]))
	}
	off, err := toInt(args[1])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: storage offset: %w", err)
	}
	shape, err := toInts(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: size: %w", err)
	}
	strides, err := toInts(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor: stride: %w", err)
	}
	if len(shape) != len(strides) {
		return nil, fmt.Errorf("_rebuild_tensor: size %v and stride %v differ in length", shape, strides)
	}
	return &tensorRef{st: st, offset: off, shape: shape, strides: strides}, nil
}

// rebuildParameter is torch._utils._rebuild_parameter and
// _rebuild_parameter_with_state: (data, requires_grad, backward_hooks[, state]).
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) < 3 || len(args) > 4 {
		return nil, fmt.Errorf("_rebuild_parameter: %d arguments", len(args))
	}
	t, ok := args[0].(*tensorRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_parameter: the data is a %s", typeName(args[0]))
	}
	return t, nil
}

// rebuildFromType is torch._tensor._rebuild_from_type_v2, which torch 2
// uses for tensor subclasses: (func, type, args, state); the type and state
// are dropped.
type rebuildFromType struct{}

func (rebuildFromType) Call(args ...any) (any, error) {
	if len(args) != 4 {
		return nil, fmt.Errorf("_rebuild_from_type_v2: %d arguments", len(args))
	}
	f, ok := args[0].(types.Callable)
	if !ok {
		return nil, fmt.Errorf("_rebuild_from_type_v2: %s is not callable", typeName(args[0]))
	}
	in, ok := args[2].(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("_rebuild_from_type_v2: arguments are a %s", typeName(args[2]))
	}
	out, err := f.Call(*in...)
	if err != nil {
		return nil, err
	}
	if _, ok := out.(*tensorRef); !ok {
		return &opaque{class: &opaqueClass{module: "torch._tensor", name: "_rebuild_from_type_v2"}}, nil
	}
	return out, nil
}

// opaqueClass is any other global: calling it or making an instance gives
// an opaque value.
type opaqueClass struct{ module, name string }

func (c *opaqueClass) Call(args ...any) (any, error)  { return &opaque{class: c}, nil }
func (c *opaqueClass) PyNew(args ...any) (any, error) { return &opaque{class: c}, nil }

// opaque is an instance of an opaqueClass; its state is dropped.
type opaque struct{ class *opaqueClass }

func (o *opaque) PySetState(any) error { return nil }

// findClass resolves a global of the pickle.
func findClass(module, name string) (any, error) {
	switch module {
	case "torch._utils":
		switch name {
		case "_rebuild_tensor_v2":
			return rebuildTensor{}, nil
		case "_rebuild_tensor":
			return rebuildTensor{old: true}, nil
		case "_rebuild_parameter", "_rebuild_parameter_with_state":
			return rebuildParameter{}, nil
		}
	case "torch._tensor":
		if name == "_rebuild_from_type_v2" {
			return rebuildFromType{}, nil
		}
	case "torch":
		if strings.HasSuffix(name, "Storage") {
			return &storageClass{name: name}, nil
		}
	}
	return &opaqueClass{module: module, name: name}, nil
}

// unpickle runs gopickle over p, a pickle scanPickle checked, with the
// given persistent-id loader. A panic inside gopickle (it indexes without
// checking in a few places) becomes an error.
func unpickle(p []byte, persistent func(any) (any, error)) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(runtime.Error); ok {
				err = fmt.Errorf("malformed pickle (%v)", re)
				return
			}
			err = fmt.Errorf("malformed pickle (%v)", r)
		}
	}()
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = findClass
	if persistent != nil {
		u.PersistentLoad = persistent
	} else {
		u.PersistentLoad = func(any) (any, error) { return nil, errors.New("unexpected persistent id") }
	}
	return u.Load()
}

// storageFromID turns a persistent id of the zip format,
// ('storage', storage_type, key, location, numel), or of the legacy
// format, which adds view_metadata, into a storageRef. Every reference to
// one key must agree on its type.
func storageFromID(pid any, legacy bool, seen map[string]*storageRef) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() == 0 {
		return nil, fmt.Errorf("persistent id is a %s, not a tuple", typeName(pid))
	}
	kind, _ := t.Get(0).(string)
	if legacy && kind == "module" {
		return &opaque{class: &opaqueClass{module: "torch.nn", name: "Module"}}, nil
	}
	if kind != "storage" {
		return nil, fmt.Errorf("persistent id of kind %q, not 'storage'", kind)
	}
	want := 5
	if legacy {
		want = 6
	}
	if t.Len() != want {
		return nil, fmt.Errorf("storage persistent id has %d fields, not %d", t.Len(), want)
	}
	cls, ok := t.Get(1).(*storageClass)
	if !ok {
		return nil, fmt.Errorf("storage type is a %s", typeName(t.Get(1)))
	}
	typ, err := lookupStorage(cls.name)
	if err != nil {
		return nil, err
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return nil, fmt.Errorf("storage key is a %s", typeName(t.Get(2)))
	}
	numel, err := toInt(t.Get(4))
	if err != nil {
		return nil, fmt.Errorf("storage %q: size: %w", key, err)
	}
	ref := &storageRef{key: key, typ: typ, numel: numel, rootNumel: numel}
	if prev, ok := seen[key]; ok {
		if prev.typ.name != typ.name {
			return nil, fmt.Errorf("storage %q is both a %s and a %s", key, prev.typ.name, typ.name)
		}
		ref.numel, ref.rootNumel = prev.rootNumel, prev.rootNumel
	} else {
		seen[key] = ref
	}
	if legacy && t.Get(5) != nil {
		vm, ok := t.Get(5).(*types.Tuple)
		if !ok || vm.Len() != 3 {
			return nil, fmt.Errorf("storage %q: malformed view metadata", key)
		}
		off, err1 := toInt(vm.Get(1))
		n, err2 := toInt(vm.Get(2))
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("storage %q: view metadata: %w", key, err)
		}
		if off > ref.rootNumel || n > ref.rootNumel-off {
			return nil, fmt.Errorf("storage %q: view [%d, %d) lies outside its %d elements", key, off, off+n, ref.rootNumel)
		}
		ref = &storageRef{key: key, typ: typ, numel: n, offset: off, rootNumel: ref.rootNumel}
	}
	return ref, nil
}

// toInt reads a non-negative Python int that fits an int.
func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		if x < 0 {
			return 0, fmt.Errorf("negative value %d", x)
		}
		return x, nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case *big.Int:
		if x.Sign() < 0 || !x.IsInt64() || x.Int64() > math.MaxInt {
			return 0, fmt.Errorf("value %s out of range", x)
		}
		return int(x.Int64()), nil
	}
	return 0, fmt.Errorf("a %s, not an int", typeName(v))
}

// toInts reads a tuple (or list) of non-negative ints.
func toInts(v any) ([]int, error) {
	var items []any
	switch x := v.(type) {
	case *types.Tuple:
		items = *x
	case *types.List:
		items = *x
	case *opaque: // torch.Size(...) pickled as a class call
		return nil, fmt.Errorf("a %s.%s, not a tuple", x.class.module, x.class.name)
	default:
		return nil, fmt.Errorf("a %s, not a tuple", typeName(v))
	}
	if len(items) > maxDims {
		return nil, fmt.Errorf("%d dims, more than %d", len(items), maxDims)
	}
	out := make([]int, len(items))
	for i, it := range items {
		n, err := toInt(it)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// maxDims bounds a tensor's rank (torch allows 64).
const maxDims = 64

// typeName names the Python type of an unpickled value without printing
// the value, which may be large or refer to itself.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case int, *big.Int:
		return "int"
	case float64:
		return "float"
	case bool:
		return "bool"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case *types.Tuple:
		return "tuple"
	case *types.List:
		return "list"
	case *types.Dict:
		return "dict"
	case *types.OrderedDict:
		return "OrderedDict"
	case *types.Set, *types.FrozenSet:
		return "set"
	case *tensorRef:
		return "tensor"
	case *storageRef:
		return "storage"
	case *storageClass:
		return "torch." + x.name
	case *opaque:
		return x.class.module + "." + x.class.name
	case *opaqueClass:
		return "class " + x.module + "." + x.name
	}
	return fmt.Sprintf("%T", v)
}
