package kernels

import (
	"fmt"
	"math"

	"github.com/tapir-ml/tapir/backend"
)

type reduceOp struct {
	Name, Ident, Comb, Finish string
}

// reduceOps returns the reductions on type t. Comb combines acc a with
// value v (NaN wins for max and min); Finish maps the final acc (Mean
// divides by the count r).
func reduceOps(t typ) []reduceOp {
	var lo, hi string
	if t.Float {
		lo, hi = dlit(math.Inf(-1)), dlit(math.Inf(1))
	} else {
		lo, hi = "((i64)0x8000000000000000ULL)", "((i64)0x7fffffffffffffffLL)"
	}
	ops := []reduceOp{
		{"sum", "0", "a + v", "a"},
		{"prod", "1", "a * v", "a"},
		{"max", lo, "(v > a || v != v) ? v : a", "a"},
		{"min", hi, "(v < a || v != v) ? v : a", "a"},
	}
	if t.Float {
		ops = append(ops, reduceOp{"mean", "0", "a + v", "a / (double)r"})
	}
	return ops
}

// ReduceName is the kernel of op on dt. Variants: "c" (src contiguous,
// reduced dims trailing, dst contiguous; a block per output), "s"
// (strided; a block per output), "t" (strided; a thread per output,
// for short reductions), and the split pair "p" (several blocks per
// output, each writing a partial accumulator) and "f" (combines them).
func ReduceName(op backend.ReduceOp, dt backend.DType, variant string) string {
	return fmt.Sprintf("reduce_%s_%s_%s", op, Short(dt), variant)
}

const reduceTmpl = `
{{- $t := .T}}{{$s := $t.Short}}{{$A := $t.Acc}}
{{range .Ops}}
__device__ __forceinline__ {{$A}} r_{{.Name}}({{$A}} a, {{$A}} v) { return {{.Comb}}; }
__device__ __forceinline__ {{$t.S}} f_{{.Name}}({{$A}} a, i64 r) { return st_{{$s}}(({{$t.C}})({{.Finish}})); }
// one block of 256 threads per output j; s[j*r + k]
extern "C" __global__ void reduce_{{.Name}}_{{$s}}_c({{$t.S}}* d, const {{$t.S}}* s, i64 nout, i64 r) {
	__shared__ {{$A}} sh[256];
	for (i64 j = blockIdx.x; j < nout; j += gridDim.x) {
		{{$A}} a = {{.Ident}};
		for (i64 k = threadIdx.x; k < r; k += blockDim.x) a = r_{{.Name}}(a, ({{$A}})ld_{{$s}}(s[j * r + k]));
		sh[threadIdx.x] = a;
		__syncthreads();
		for (int w = blockDim.x / 2; w > 0; w >>= 1) {
			if (threadIdx.x < w) sh[threadIdx.x] = r_{{.Name}}(sh[threadIdx.x], sh[threadIdx.x + w]);
			__syncthreads();
		}
		if (threadIdx.x == 0) d[j] = f_{{.Name}}(sh[0], r);
		__syncthreads();
	}
}
// lk: the kept dims (dst's shape, src's strides and offset); lr: the
// reduced dims (their sizes, src's strides, offset 0); ld: dst
extern "C" __global__ void reduce_{{.Name}}_{{$s}}_s({{$t.S}}* d, const {{$t.S}}* s, i64 nout, i64 r, Lay ld, Lay lk, Lay lr) {
	__shared__ {{$A}} sh[256];
	for (i64 j = blockIdx.x; j < nout; j += gridDim.x) {
		i64 base = at(lk, j);
		{{$A}} a = {{.Ident}};
		for (i64 k = threadIdx.x; k < r; k += blockDim.x) a = r_{{.Name}}(a, ({{$A}})ld_{{$s}}(s[base + at(lr, k)]));
		sh[threadIdx.x] = a;
		__syncthreads();
		for (int w = blockDim.x / 2; w > 0; w >>= 1) {
			if (threadIdx.x < w) sh[threadIdx.x] = r_{{.Name}}(sh[threadIdx.x], sh[threadIdx.x + w]);
			__syncthreads();
		}
		if (threadIdx.x == 0) d[at(ld, j)] = f_{{.Name}}(sh[0], r);
		__syncthreads();
	}
}
// split reductions, for few outputs of many elements each: block b
// reduces chunk b%P of output b/P into part[b], unfinished; then _f
// combines each output's P parts and finishes with the full count r
extern "C" __global__ void reduce_{{.Name}}_{{$s}}_p({{$A}}* part, const {{$t.S}}* s, i64 nout, i64 r, i64 P, i64 chunk, Lay lk, Lay lr) {
	__shared__ {{$A}} sh[256];
	for (i64 b = blockIdx.x; b < nout * P; b += gridDim.x) {
		i64 j = b / P, p = b - j * P;
		i64 base = at(lk, j);
		i64 k0 = p * chunk, k1 = k0 + chunk < r ? k0 + chunk : r;
		{{$A}} a = {{.Ident}};
		for (i64 k = k0 + threadIdx.x; k < k1; k += blockDim.x) a = r_{{.Name}}(a, ({{$A}})ld_{{$s}}(s[base + at(lr, k)]));
		sh[threadIdx.x] = a;
		__syncthreads();
		for (int w = blockDim.x / 2; w > 0; w >>= 1) {
			if (threadIdx.x < w) sh[threadIdx.x] = r_{{.Name}}(sh[threadIdx.x], sh[threadIdx.x + w]);
			__syncthreads();
		}
		if (threadIdx.x == 0) part[b] = sh[0];
		__syncthreads();
	}
}
extern "C" __global__ void reduce_{{.Name}}_{{$s}}_f({{$t.S}}* d, const {{$A}}* part, i64 nout, i64 P, i64 r, Lay ld) {
	GRID_STRIDE(j, nout) {
		{{$A}} a = part[j * P];
		for (i64 p = 1; p < P; ++p) a = r_{{.Name}}(a, part[j * P + p]);
		d[at(ld, j)] = f_{{.Name}}(a, r);
	}
}
extern "C" __global__ void reduce_{{.Name}}_{{$s}}_t({{$t.S}}* d, const {{$t.S}}* s, i64 nout, i64 r, Lay ld, Lay lk, Lay lr) {
	GRID_STRIDE(j, nout) {
		i64 base = at(lk, j);
		{{$A}} a = {{.Ident}};
		for (i64 k = 0; k < r; ++k) a = r_{{.Name}}(a, ({{$A}})ld_{{$s}}(s[base + at(lr, k)]));
		d[at(ld, j)] = f_{{.Name}}(a, r);
	}
}
{{end}}
// first extreme along a lane; NaN counts as the extreme and the first NaN wins
{{range .Args}}
extern "C" __global__ void {{.}}_{{$s}}_c({{$t.S}}* vals, i64* idx, const {{$t.S}}* s, i64 nout, i64 len, int hasv) {
	GRID_STRIDE(j, nout) {
		const {{$t.S}}* p = s + j * len;
		{{$t.C}} best = ld_{{$s}}(p[0]);
		i64 bi = 0;
		for (i64 k = 1; k < len; ++k) {
			{{$t.C}} x = ld_{{$s}}(p[k]);
			if (!(best != best) && (x {{if eq . "argmax"}}>{{else}}<{{end}} best || x != x)) { best = x; bi = k; }
		}
		if (hasv) vals[j] = st_{{$s}}(best);
		idx[j] = bi;
	}
}
// ls: src with size 1 at dim; step: src's stride along dim
extern "C" __global__ void {{.}}_{{$s}}_s({{$t.S}}* vals, i64* idx, const {{$t.S}}* s, i64 nout, i64 len, int hasv, i64 step, Lay ls, Lay lv, Lay li) {
	GRID_STRIDE(j, nout) {
		i64 base = at(ls, j);
		{{$t.C}} best = ld_{{$s}}(s[base]);
		i64 bi = 0;
		for (i64 k = 1; k < len; ++k) {
			{{$t.C}} x = ld_{{$s}}(s[base + k * step]);
			if (!(best != best) && (x {{if eq . "argmax"}}>{{else}}<{{end}} best || x != x)) { best = x; bi = k; }
		}
		if (hasv) vals[at(lv, j)] = st_{{$s}}(best);
		idx[at(li, j)] = bi;
	}
}
{{end}}`

// ArgName is the kernel of ArgMax/ArgMin on dt: _c(vals, idx, s, nout,
// len, hasv) for a contiguous src reduced along its last dim with
// contiguous outputs, _s(vals, idx, s, nout, len, hasv, step, Lay src,
// Lay vals, Lay idx) otherwise.
func ArgName(op backend.ArgOp, dt backend.DType, contig bool) string {
	name := "argmax"
	if op == backend.ArgMin {
		name = "argmin"
	}
	return fmt.Sprintf("%s_%s_%s", name, Short(dt), cs(contig))
}

// ReduceModule holds reduce_<op>_<dt>_{c,s,t,p,f} and arg{max,min}_<dt>_{c,s}.
func ReduceModule(dt backend.DType) Module {
	t := types[dt]
	return module("reduce_"+t.Short, reduceTmpl, map[string]any{"T": t, "Ops": reduceOps(t), "Args": []string{"argmax", "argmin"}})
}

const scanTmpl = `
{{- $t := .T}}{{$s := $t.Short}}{{$A := $t.Acc}}
extern "C" __global__ void cumsum_{{$s}}_c({{$t.S}}* d, const {{$t.S}}* s, i64 nout, i64 len) {
	GRID_STRIDE(j, nout) {
		{{$A}} a = 0;
		for (i64 k = 0; k < len; ++k) { a += ({{$A}})ld_{{$s}}(s[j * len + k]); d[j * len + k] = st_{{$s}}(({{$t.C}})a); }
	}
}
extern "C" __global__ void cumsum_{{$s}}_s({{$t.S}}* d, const {{$t.S}}* s, i64 nout, i64 len, i64 dstep, i64 sstep, Lay ld, Lay ls) {
	GRID_STRIDE(j, nout) {
		i64 bd = at(ld, j), bs = at(ls, j);
		{{$A}} a = 0;
		for (i64 k = 0; k < len; ++k) { a += ({{$A}})ld_{{$s}}(s[bs + k * sstep]); d[bd + k * dstep] = st_{{$s}}(({{$t.C}})a); }
	}
}
{{- if $t.Float}}
{{range .Soft}}
// {{.}} along a lane, in double as the CPU backend computes it
extern "C" __global__ void {{.}}_{{$s}}_c({{$t.S}}* d, const {{$t.S}}* s, i64 nout, i64 len) {
	GRID_STRIDE(j, nout) {
		const {{$t.S}}* p = s + j * len;
		{{$t.S}}* q = d + j * len;
		double mx = {{dlit $.NegInf}};
		for (i64 k = 0; k < len; ++k) { double x = (double)ld_{{$s}}(p[k]); if (x > mx || x != x) mx = x; }
		double sum = 0;
		for (i64 k = 0; k < len; ++k) sum += exp((double)ld_{{$s}}(p[k]) - mx);
{{- if eq . "logsoftmax"}}
		double lse = mx + log(sum);
		for (i64 k = 0; k < len; ++k) q[k] = st_{{$s}}(({{$t.C}})((double)ld_{{$s}}(p[k]) - lse));
{{- else}}
		double inv = 1.0 / sum;
		for (i64 k = 0; k < len; ++k) q[k] = st_{{$s}}(({{$t.C}})(exp((double)ld_{{$s}}(p[k]) - mx) * inv));
{{- end}}
	}
}
extern "C" __global__ void {{.}}_{{$s}}_s({{$t.S}}* d, const {{$t.S}}* s, i64 nout, i64 len, i64 dstep, i64 sstep, Lay ld, Lay ls) {
	GRID_STRIDE(j, nout) {
		i64 bd = at(ld, j), bs = at(ls, j);
		double mx = {{dlit $.NegInf}};
		for (i64 k = 0; k < len; ++k) { double x = (double)ld_{{$s}}(s[bs + k * sstep]); if (x > mx || x != x) mx = x; }
		double sum = 0;
		for (i64 k = 0; k < len; ++k) sum += exp((double)ld_{{$s}}(s[bs + k * sstep]) - mx);
{{- if eq . "logsoftmax"}}
		double lse = mx + log(sum);
		for (i64 k = 0; k < len; ++k) d[bd + k * dstep] = st_{{$s}}(({{$t.C}})((double)ld_{{$s}}(s[bs + k * sstep]) - lse));
{{- else}}
		double inv = 1.0 / sum;
		for (i64 k = 0; k < len; ++k) d[bd + k * dstep] = st_{{$s}}(({{$t.C}})(exp((double)ld_{{$s}}(s[bs + k * sstep]) - mx) * inv));
{{- end}}
	}
}
{{end}}
{{- end}}`

// ScanName is a lane kernel: "cumsum", "softmax" or "logsoftmax" on dt.
// _c(d, s, nout, len) for contiguous operands along the last dim;
// _s(d, s, nout, len, dstep, sstep, Lay d, Lay s) with size 1 at dim.
func ScanName(kind string, dt backend.DType, contig bool) string {
	return fmt.Sprintf("%s_%s_%s", kind, Short(dt), cs(contig))
}

// ScanModule holds cumsum (every type) and softmax/logsoftmax (floats).
func ScanModule(dt backend.DType) Module {
	t := types[dt]
	return module("scan_"+t.Short, scanTmpl, map[string]any{"T": t, "Soft": []string{"softmax", "logsoftmax"}, "NegInf": math.Inf(-1)})
}

// atomicType reports whether ScatterAdd/IndexAdd exist for dt, and the
// C atomicAdd call for a pointer p and value v.
func atomicAdd(dt backend.DType) string {
	switch dt {
	case backend.Float32, backend.Float64, backend.Int32:
		return "atomicAdd(p, v)"
	case backend.Int64:
		return "atomicAdd((u64*)p, (u64)v)"
	case backend.Uint8:
		return "atomicAddU8(p, v)"
	}
	return ""
}

// AtomicSupported reports whether IndexAdd and ScatterAdd have kernels for dt.
func AtomicSupported(dt backend.DType) bool { return atomicAdd(dt) != "" }

const indexTmpl = `
{{- $t := .T}}{{$s := $t.Short}}
// err[0] is set to 1 and err[1] to an offending index when one is out of range.
__device__ __forceinline__ bool badidx(i64 k, i64 lim, i64* err) {
	if (k >= 0 && k < lim) return false;
	err[1] = k;
	atomicExch((u64*)err, 1ULL);
	return true;
}
{{- if eq $s "u8"}}
// atomicAddU8 adds v to *p, wrapping, by compare-and-swap on the aligned
// 32-bit word that holds the byte (allocations are 256-byte aligned and
// rounded up to their size class, so the word lies inside the buffer).
__device__ __forceinline__ void atomicAddU8(u8* p, u8 v) {
	u32* w = (u32*)((u64)p & ~(u64)3);
	u32 sh = ((u32)(u64)p & 3u) * 8u;
	u32 old = *w, seen;
	do {
		seen = old;
		u32 b = ((seen >> sh) + v) & 0xffu;
		old = atomicCAS(w, seen, (seen & ~(0xffu << sh)) | (b << sh));
	} while (old != seen);
}
{{- end}}
// dst element i (over dst's shape); c = its coordinate along dim;
// ls: dst's shape with src's strides and 0 at dim
extern "C" __global__ void index_select_{{$s}}(const {{$t.S}}* s, {{$t.S}}* d, const i64* index, i64 n, i64 inner, i64 dimsz,
		i64 sstep, i64 lim, i64 ioff, i64 istep, Lay ld, Lay ls, i64* err) {
	GRID_STRIDE(i, n) {
		i64 c = (i / inner) % dimsz;
		i64 k = index[ioff + c * istep];
		if (badidx(k, lim, err)) continue;
		d[at(ld, i)] = s[at(ls, i) + k * sstep];
	}
}
// dst and index share a shape; ls: that shape with src's strides and 0 at dim
extern "C" __global__ void gather_{{$s}}(const {{$t.S}}* s, {{$t.S}}* d, const i64* index, i64 n, i64 sstep, i64 lim,
		Lay ld, Lay ls, Lay li, i64* err) {
	GRID_STRIDE(i, n) {
		i64 k = index[at(li, i)];
		if (badidx(k, lim, err)) continue;
		d[at(ld, i)] = s[at(ls, i) + k * sstep];
	}
}
{{- if .Atomic}}
// src element i (over src's shape); ld: src's shape with dst's strides and 0 at dim
extern "C" __global__ void index_add_{{$s}}(const {{$t.S}}* s, {{$t.S}}* d, const i64* index, i64 n, i64 inner, i64 dimsz,
		i64 dstep, i64 lim, i64 ioff, i64 istep, Lay ld, Lay ls, i64* err) {
	GRID_STRIDE(i, n) {
		i64 c = (i / inner) % dimsz;
		i64 k = index[ioff + c * istep];
		if (badidx(k, lim, err)) continue;
		{{$t.S}}* p = d + at(ld, i) + k * dstep;
		{{$t.S}} v = s[at(ls, i)];
		{{.Atomic}};
	}
}
// index element i (over index's shape); ls: index's shape with src's
// strides; ld: index's shape with dst's strides and 0 at dim
extern "C" __global__ void scatter_add_{{$s}}(const {{$t.S}}* s, {{$t.S}}* d, const i64* index, i64 n, i64 dstep, i64 lim,
		Lay ld, Lay ls, Lay li, i64* err) {
	GRID_STRIDE(i, n) {
		i64 k = index[at(li, i)];
		if (badidx(k, lim, err)) continue;
		{{$t.S}}* p = d + at(ld, i) + k * dstep;
		{{$t.S}} v = s[at(ls, i)];
		{{.Atomic}};
	}
}
{{- end}}
`

// IndexModule holds index_select_<dt> and gather_<dt>, and for the types
// with atomic adds (float32, float64, int64, int32, uint8) index_add_<dt> and
// scatter_add_<dt>.
func IndexModule(dt backend.DType) Module {
	t := types[dt]
	return module("index_"+t.Short, indexTmpl, map[string]any{"T": t, "Atomic": atomicAdd(dt)})
}
