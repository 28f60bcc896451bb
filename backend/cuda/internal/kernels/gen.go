package kernels

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/template"

	"github.com/tapir-ml/tapir/backend"
)

// Module is one compilation unit: its source and the kernels it defines.
type Module struct {
	Name    string
	Source  string
	Entries []string
}

// opDef is a unary or binary op's body in C, over x (a, b) of the
// compute type C and the scalars a, b.
type opDef struct {
	Name string
	Body string // a C statement list ending in return
	Cmp  bool   // writes bool (u8)
}

// unaryBody returns op's C body for type t, or "" if op is not defined
// on t.
func unaryBody(op backend.UnaryOp, t typ) string {
	if !t.Float {
		if op.FloatOnly() || t.DT == backend.Bool {
			return ""
		}
		switch op {
		case backend.Neg:
			return "return -x;"
		case backend.Abs:
			return "return x < 0 ? -x : x;"
		case backend.Sign:
			return "return x > 0 ? 1 : (x < 0 ? -1 : 0);"
		case backend.Square:
			return "return x * x;"
		case backend.ReLU:
			return "return x < 0 ? 0 : x;"
		case backend.AddScalar:
			return "return x + a;"
		case backend.MulScalar:
			return "return x * a;"
		case backend.RSubScalar:
			return "return a - x;"
		case backend.Clamp:
			return "if (x < a) x = a; if (x > b) x = b; return x;"
		}
		return ""
	}
	f := func(name string) string { return name + t.F }
	C := t.C
	switch op {
	case backend.Neg:
		return "return -x;"
	case backend.Abs:
		return "return " + f("fabs") + "(x);"
	case backend.Sign:
		return "return x > 0 ? (" + C + ")1 : (x < 0 ? (" + C + ")-1 : x * 0);"
	case backend.Square:
		return "return x * x;"
	case backend.ReLU:
		return "return x < 0 ? (" + C + ")0 : x;"
	case backend.Exp:
		return "return " + f("exp") + "(x);"
	case backend.Log:
		return "return " + f("log") + "(x);"
	case backend.Log1p:
		return "return " + f("log1p") + "(x);"
	case backend.Sqrt:
		return "return " + f("sqrt") + "(x);"
	case backend.Rsqrt:
		return "return (" + C + ")1 / " + f("sqrt") + "(x);"
	case backend.Reciprocal:
		return "return (" + C + ")1 / x;"
	case backend.Sin:
		return "return " + f("sin") + "(x);"
	case backend.Cos:
		return "return " + f("cos") + "(x);"
	case backend.Tanh:
		return "return " + f("tanh") + "(x);"
	case backend.Sigmoid:
		return "return sigm(x);"
	case backend.GELU:
		// erfc(−x/√2) rather than 1 + erf(x/√2): for negative x the sum
		// cancels and float32 keeps few correct digits
		return "return (" + C + ")0.5 * x * " + f("erfc") + "(x * (" + C + ")-0.70710678118654752440);"
	case backend.SiLU:
		return "return x * sigm(x);"
	case backend.Softplus:
		return "if (x * a > b) return x; return " + f("log1p") + "(" + f("exp") + "(x * a)) / a;"
	case backend.Erf:
		return "return " + f("erf") + "(x);"
	case backend.Floor:
		return "return " + f("floor") + "(x);"
	case backend.Ceil:
		return "return " + f("ceil") + "(x);"
	case backend.Round:
		return "return " + f("rint") + "(x);"
	case backend.AddScalar:
		return "return x + a;"
	case backend.MulScalar:
		return "return x * a;"
	case backend.RSubScalar:
		return "return a - x;"
	case backend.DivScalar:
		return "return x / a;"
	case backend.RDivScalar:
		return "return a / x;"
	case backend.PowScalar:
		return "if (a == (" + C + ")2) return x * x; if (a == (" + C + ")0.5) return " + f("sqrt") + "(x); if (a == (" + C + ")-1) return (" + C + ")1 / x; return " + f("pow") + "(x, a);"
	case backend.Clamp:
		return "if (x < a) x = a; if (x > b) x = b; return x;"
	case backend.LeakyReLU:
		return "return x > 0 ? x : a * x;"
	case backend.Hardsigmoid, backend.Hardswish:
		// the comparisons fail for NaN, which passes through
		clamp := C + " t = x + (" + C + ")3; if (t < 0) t = 0; if (t > 6) t = 6; "
		if op == backend.Hardsigmoid {
			return clamp + "return t / (" + C + ")6;"
		}
		return clamp + "return x * t / (" + C + ")6;"
	case backend.ELU:
		return "return x > 0 ? b * x : a * b * " + f("expm1") + "(x);"
	case backend.GELUTanh:
		// ½·x·(1 + tanh u) as x·σ(2u), the same value, which does not
		// cancel for x < 0; 2u = 2·√(2/π)·x·(1 + 0.044715·x²)
		return "return x * sigm((" + C + ")1.5957691216057308 * x * ((" + C + ")1 + (" + C + ")0.044715 * x * x));"
	}
	return ""
}

// binaryBody returns op's C body over x, y for type t, or "".
func binaryBody(op backend.BinaryOp, t typ) string {
	switch op {
	case backend.Add:
		return "return x + y;"
	case backend.Sub:
		return "return x - y;"
	case backend.Mul:
		return "return x * y;"
	case backend.Div:
		if !t.Float {
			return ""
		}
		return "return x / y;"
	case backend.Pow:
		if t.Float {
			return "return pow" + t.F + "(x, y);"
		}
		return "return ipow(x, y);"
	case backend.Maximum:
		if t.Float {
			return "return (x > y || x != x) ? x : y;"
		}
		return "return x > y ? x : y;"
	case backend.Minimum:
		if t.Float {
			return "return (x < y || x != x) ? x : y;"
		}
		return "return x < y ? x : y;"
	case backend.Eq:
		return "return x == y;"
	case backend.Ne:
		return "return x != y;"
	case backend.Lt:
		return "return x < y;"
	case backend.Le:
		return "return x <= y;"
	case backend.Gt:
		return "return x > y;"
	case backend.Ge:
		return "return x >= y;"
	}
	return ""
}

// UnaryName is the kernel of op on dt; contig selects the fast path.
func UnaryName(op backend.UnaryOp, dt backend.DType, contig bool) string {
	return fmt.Sprintf("unary_%s_%s_%s", op, Short(dt), cs(contig))
}

// BinaryName is the kernel of op on operands of type dt.
func BinaryName(op backend.BinaryOp, dt backend.DType, contig bool) string {
	return fmt.Sprintf("binary_%s_%s_%s", op, Short(dt), cs(contig))
}

// UnarySupported reports whether a kernel exists for op on dt.
func UnarySupported(op backend.UnaryOp, dt backend.DType) bool {
	return unaryBody(op, types[dt]) != ""
}

// BinarySupported reports whether a kernel exists for op on dt.
func BinarySupported(op backend.BinaryOp, dt backend.DType) bool {
	return binaryBody(op, types[dt]) != ""
}

func cs(contig bool) string {
	if contig {
		return "c"
	}
	return "s"
}

var funcs = template.FuncMap{
	"dlit":  dlit,
	"upper": strings.ToUpper,
}

func render(name, tmpl string, data any) string {
	t := template.Must(template.New(name).Funcs(funcs).Parse(tmpl))
	var b bytes.Buffer
	b.WriteString(prelude)
	if err := t.Execute(&b, data); err != nil {
		panic("kernels: " + name + ": " + err.Error())
	}
	return b.String()
}

// entries lists the names "extern \"C\" __global__ void NAME(" in src.
func entries(src string) []string {
	var out []string
	const key = `extern "C" __global__ void `
	for s := src; ; {
		i := strings.Index(s, key)
		if i < 0 {
			break
		}
		s = s[i+len(key):]
		j := strings.IndexByte(s, '(')
		out = append(out, s[:j])
	}
	sort.Strings(out)
	return out
}

func module(name, tmpl string, data any) Module {
	src := render(name, tmpl, data)
	return Module{Name: name, Source: src, Entries: entries(src)}
}

// Modules returns every module, in a fixed order.
func Modules() []Module {
	var ms []Module
	for _, dt := range backend.DTypes() {
		ms = append(ms, UnaryModule(dt), BinaryModule(dt), MiscModule(dt), CopyModule(dt), ReduceModule(dt), ScanModule(dt), IndexModule(dt))
		if dt.IsFloat() {
			ms = append(ms, WindowModule(dt), OptimModule(dt))
		}
	}
	ms = append(ms, RandomModule())
	out := ms[:0]
	for _, m := range ms {
		if len(m.Entries) > 0 { // Bool has no unary ops
			out = append(out, m)
		}
	}
	return out
}

// ModuleOf names the module that defines kernel entry.
func ModuleOf(entry string) string {
	for _, m := range moduleIndex() {
		if m.entry == entry {
			return m.module
		}
	}
	return ""
}

type entryModule struct{ entry, module string }

var indexCache []entryModule

func moduleIndex() []entryModule {
	if indexCache == nil {
		for _, m := range Modules() {
			for _, e := range m.Entries {
				indexCache = append(indexCache, entryModule{e, m.Name})
			}
		}
	}
	return indexCache
}

// ModuleByName regenerates the named module.
func ModuleByName(name string) (Module, bool) {
	i := strings.LastIndexByte(name, '_')
	if name == "random" {
		return RandomModule(), true
	}
	if i < 0 {
		return Module{}, false
	}
	fam, short := name[:i], name[i+1:]
	var dt backend.DType
	found := false
	for d, t := range types {
		if t.Short == short {
			dt, found = d, true
		}
	}
	if !found {
		return Module{}, false
	}
	switch fam {
	case "unary":
		return UnaryModule(dt), true
	case "binary":
		return BinaryModule(dt), true
	case "misc":
		return MiscModule(dt), true
	case "copy":
		return CopyModule(dt), true
	case "reduce":
		return ReduceModule(dt), true
	case "scan":
		return ScanModule(dt), true
	case "index":
		return IndexModule(dt), true
	case "window":
		if dt.IsFloat() {
			return WindowModule(dt), true
		}
	case "optim":
		if dt.IsFloat() {
			return OptimModule(dt), true
		}
	}
	return Module{}, false
}
