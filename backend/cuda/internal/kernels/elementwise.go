package kernels

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

type unaryOp struct {
	Name, Body, A, B string
}

// intRange is the range of an integer type, for sat.
func intRange(dt backend.DType) (lo, hi float64) {
	switch dt {
	case backend.Uint8, backend.Bool:
		return 0, 255
	case backend.Int32:
		return math.MinInt32, math.MaxInt32
	}
	return math.MinInt64, math.MaxInt64
}

const unaryTmpl = `
{{- $t := .T}}
{{- if $t.Float}}
__device__ __forceinline__ {{$t.C}} sigm({{$t.C}} x) {
	if (x >= 0) return ({{$t.C}})1 / (({{$t.C}})1 + exp{{$t.F}}(-x));
	{{$t.C}} e = exp{{$t.F}}(x);
	return e / (({{$t.C}})1 + e);
}
{{- end}}
{{range .Ops}}
__device__ __forceinline__ {{$t.C}} u_{{.Name}}({{$t.C}} x, {{$t.C}} a, {{$t.C}} b) { {{.Body}} }
extern "C" __global__ void unary_{{.Name}}_{{$t.Short}}_c({{$t.S}}* d, const {{$t.S}}* s, i64 n, double A, double B) {
	{{$t.C}} a = {{.A}}, b = {{.B}};
	GRID_STRIDE(i, n) d[i] = st_{{$t.Short}}(u_{{.Name}}(ld_{{$t.Short}}(s[i]), a, b));
}
extern "C" __global__ void unary_{{.Name}}_{{$t.Short}}_s({{$t.S}}* d, const {{$t.S}}* s, i64 n, double A, double B, Lay ld, Lay ls) {
	{{$t.C}} a = {{.A}}, b = {{.B}};
	GRID_STRIDE(i, n) d[at(ld, i)] = st_{{$t.Short}}(u_{{.Name}}(ld_{{$t.Short}}(s[at(ls, i)]), a, b));
}
{{end}}`

// UnaryModule holds every unary op defined on dt. Kernels:
// unary_<op>_<dt>_c(d, s, n, A, B) and unary_<op>_<dt>_s(d, s, n, A, B,
// Lay d, Lay s).
func UnaryModule(dt backend.DType) Module {
	t := types[dt]
	var ops []unaryOp
	for op := backend.UnaryOp(0); op < backend.NumUnaryOps; op++ {
		body := unaryBody(op, t)
		if body == "" {
			continue
		}
		u := unaryOp{Name: op.String(), Body: body, A: "(" + t.C + ")A", B: "(" + t.C + ")B"}
		if !t.Float {
			u.A, u.B = "("+t.C+")f2i(A)", "("+t.C+")f2i(B)"
			if op == backend.Clamp {
				lo, hi := intRange(dt)
				u.A = fmt.Sprintf("(%s)sat(A, %s, %s)", t.C, dlit(lo), dlit(hi))
				u.B = fmt.Sprintf("(%s)sat(B, %s, %s)", t.C, dlit(lo), dlit(hi))
			}
		}
		ops = append(ops, u)
	}
	return module("unary_"+t.Short, unaryTmpl, map[string]any{"T": t, "Ops": ops})
}

const binaryTmpl = `
{{- $t := .T}}
{{- if not $t.Float}}
__device__ __forceinline__ {{$t.C}} ipow({{$t.C}} x, {{$t.C}} y) {
	if (y < 0) return x == 1 ? 1 : (x == -1 ? ((y & 1) ? -1 : 1) : 0);
	{{$t.C}} r = 1;
	while (y > 0) { if (y & 1) r *= x; x *= x; y >>= 1; }
	return r;
}
{{- end}}
{{range .Ops}}
{{- $out := $t.S}}{{$st := printf "st_%s" $t.Short}}{{if .Cmp}}{{$out = "u8"}}{{$st = "(u8)"}}{{end}}
__device__ __forceinline__ {{if .Cmp}}bool{{else}}{{$t.C}}{{end}} b_{{.Name}}({{$t.C}} x, {{$t.C}} y) { {{.Body}} }
extern "C" __global__ void binary_{{.Name}}_{{$t.Short}}_c({{$out}}* d, const {{$t.S}}* a, const {{$t.S}}* b, i64 n) {
	GRID_STRIDE(i, n) d[i] = {{$st}}(b_{{.Name}}(ld_{{$t.Short}}(a[i]), ld_{{$t.Short}}(b[i])));
}
extern "C" __global__ void binary_{{.Name}}_{{$t.Short}}_s({{$out}}* d, const {{$t.S}}* a, const {{$t.S}}* b, i64 n, Lay ld, Lay la, Lay lb) {
	GRID_STRIDE(i, n) d[at(ld, i)] = {{$st}}(b_{{.Name}}(ld_{{$t.Short}}(a[at(la, i)]), ld_{{$t.Short}}(b[at(lb, i)])));
}
{{end}}`

// BinaryModule holds every binary op on operands of dt. Kernels:
// binary_<op>_<dt>_c(d, a, b, n) and _s(d, a, b, n, Lay d, Lay a, Lay b);
// comparisons write u8 (Bool).
func BinaryModule(dt backend.DType) Module {
	t := types[dt]
	var ops []opDef
	for op := backend.BinaryOp(0); op < backend.NumBinaryOps; op++ {
		if body := binaryBody(op, t); body != "" {
			ops = append(ops, opDef{Name: op.String(), Body: body, Cmp: op.IsComparison()})
		}
	}
	return module("binary_"+t.Short, binaryTmpl, map[string]any{"T": t, "Ops": ops})
}

const miscTmpl = `
{{- $t := .T}}{{$s := $t.Short}}
__device__ __forceinline__ {{$t.S}} fillval(double v) { return {{.FromDouble}}; }
extern "C" __global__ void fill_{{$s}}_c({{$t.S}}* d, i64 n, double v) {
	{{$t.S}} x = fillval(v);
	GRID_STRIDE(i, n) d[i] = x;
}
extern "C" __global__ void fill_{{$s}}_s({{$t.S}}* d, i64 n, double v, Lay ld) {
	{{$t.S}} x = fillval(v);
	GRID_STRIDE(i, n) d[at(ld, i)] = x;
}
extern "C" __global__ void where_{{$s}}_c({{$t.S}}* d, const u8* c, const {{$t.S}}* a, const {{$t.S}}* b, i64 n) {
	GRID_STRIDE(i, n) d[i] = c[i] ? a[i] : b[i];
}
extern "C" __global__ void where_{{$s}}_s({{$t.S}}* d, const u8* c, const {{$t.S}}* a, const {{$t.S}}* b, i64 n, Lay ld, Lay lc, Lay la, Lay lb) {
	GRID_STRIDE(i, n) d[at(ld, i)] = c[at(lc, i)] ? a[at(la, i)] : b[at(lb, i)];
}
{{- if .IntMatMul}}
// matmul_<dt>: the integer batched product, one thread per element of
// dst [B,M,N]; lx, ly, ld are 3-d layouts ([B,M,K], [B,K,N], [B,M,N]).
// Sums wrap as the type does: modular arithmetic in u64, then narrowed.
extern "C" __global__ void matmul_{{$s}}(const {{$t.S}}* x, const {{$t.S}}* y, {{$t.S}}* d, i64 n, i64 M, i64 N, i64 K, Lay lx, Lay ly, Lay ld) {
	GRID_STRIDE(i, n) {
		i64 j = i % N, r = i / N;
		i64 m = r % M, p = r / M;
		const {{$t.S}}* xr = x + lx.off + p * lx.st[0] + m * lx.st[1];
		const {{$t.S}}* yc = y + ly.off + p * ly.st[0] + j * ly.st[2];
		u64 acc = 0;
		for (i64 k = 0; k < K; ++k)
			acc += (u64)(i64)ld_{{$s}}(xr[k * lx.st[2]]) * (u64)(i64)ld_{{$s}}(yc[k * ly.st[1]]);
		d[at(ld, i)] = st_{{$s}}(({{$t.C}})(i64)acc);
	}
}
{{- end}}
`

// MiscModule holds fill_<dt>_{c,s} and where_<dt>_{c,s}, and for the
// integer types matmul_<dt> (the float products go through cuBLAS).
func MiscModule(dt backend.DType) Module {
	t := types[dt]
	return module("misc_"+t.Short, miscTmpl, map[string]any{"T": t, "FromDouble": convert("v", true, dt), "IntMatMul": IntMatMulSupported(dt)})
}

// IntMatMulSupported reports whether matmul_<dt> exists: the integer
// types other than Bool.
func IntMatMulSupported(dt backend.DType) bool {
	return dt == backend.Int64 || dt == backend.Int32 || dt == backend.Uint8
}

// convert is the C expression converting x — a double if isFloat, else
// an i64 — to dt's storage type, with Copy's rules.
func convert(x string, isFloat bool, dt backend.DType) string {
	switch dt {
	case backend.Float32:
		return "(float)(" + x + ")"
	case backend.Float64:
		return "(double)(" + x + ")"
	case backend.Float16:
		return "f2h((float)(" + x + "))"
	case backend.BFloat16:
		return "f2bf((float)(" + x + "))"
	case backend.Bool:
		return "(u8)((" + x + ") != 0)"
	}
	s := types[dt].S
	if isFloat {
		return "(" + s + ")f2i(" + x + ")"
	}
	return "(" + s + ")(" + x + ")"
}

const copyTmpl = `
{{- $src := .Src}}
{{range .Dsts}}
extern "C" __global__ void copy_{{$src.Short}}_{{.T.Short}}_c({{.T.S}}* d, const {{$src.S}}* s, i64 n) {
	GRID_STRIDE(i, n) { {{.Mid}} v = {{.Load}}(s[i]); d[i] = {{.Conv}}; }
}
extern "C" __global__ void copy_{{$src.Short}}_{{.T.Short}}_s({{.T.S}}* d, const {{$src.S}}* s, i64 n, Lay ld, Lay ls) {
	GRID_STRIDE(i, n) { {{.Mid}} v = {{.Load}}(s[at(ls, i)]); d[at(ld, i)] = {{.Conv}}; }
}
{{end}}`

// CopyName is the kernel converting src to dst.
func CopyName(src, dst backend.DType, contig bool) string {
	return fmt.Sprintf("copy_%s_%s_%s", Short(src), Short(dst), cs(contig))
}

// CopyModule holds copy_<src>_<dst>_{c,s} for every dst type.
func CopyModule(src backend.DType) Module {
	ts := types[src]
	type dst struct {
		T               typ
		Mid, Load, Conv string
	}
	var ds []dst
	for _, dt := range backend.DTypes() {
		d := dst{T: types[dt]}
		switch {
		case src == dt:
			d.Mid, d.Load, d.Conv = ts.S, "", "v"
		case ts.Float:
			d.Mid, d.Load, d.Conv = "double", "(double)ld_"+ts.Short, convert("v", true, dt)
		default:
			d.Mid, d.Load, d.Conv = "i64", "(i64)ld_"+ts.Short, convert("v", false, dt)
		}
		ds = append(ds, d)
	}
	return module("copy_"+ts.Short, copyTmpl, map[string]any{"Src": ts, "Dsts": ds})
}
