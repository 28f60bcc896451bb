package kernels

import (
	"math"

	"github.com/tapir-ml/tapir/backend"
)

const windowTmpl = `
{{- $t := .T}}{{$s := $t.Short}}
// unfold: d is a contiguous [N, C*K, L]; ls is src's [N, C, S...] layout
extern "C" __global__ void unfold_{{$s}}({{$t.S}}* d, const {{$t.S}}* s, i64 n, i64 C, i64 K, i64 L, Lay ls, Win w) {
	GRID_STRIDE(i, n) {
		i64 l = i % L, t = i / L;
		i64 k = t % K; t /= K;
		i64 c = t % C, b = t / C;
		i64 off = ls.off + b * ls.st[0] + c * ls.st[1];
		bool inside = true;
		for (int q = w.nsp - 1; q >= 0; --q) {
			i64 o = l % w.out[q]; l /= w.out[q];
			i64 j = k % w.ker[q]; k /= w.ker[q];
			i64 x = o * w.str[q] - w.pad[q] + j * w.dil[q];
			if (x < 0 || x >= w.in[q]) inside = false;
			else off += x * ls.st[2 + q];
		}
		d[i] = inside ? s[off] : st_{{$s}}(({{$t.C}})0);
	}
}
// fold: d is a contiguous [N, C, S...] of insz = prod(S) per channel;
// ls is src's [N, C*K, L] layout. Each output gathers its taps.
extern "C" __global__ void fold_{{$s}}({{$t.S}}* d, const {{$t.S}}* s, i64 n, i64 C, i64 K, i64 insz, Lay ls, Win w) {
	GRID_STRIDE(i, n) {
		i64 p = i % insz, t = i / insz;
		i64 c = t % C, b = t / C;
		i64 xs[6];
		for (int q = w.nsp - 1; q >= 0; --q) { xs[q] = p % w.in[q]; p /= w.in[q]; }
		{{.Acc}} acc = 0;
		for (i64 k = 0; k < K; ++k) {
			i64 kr = k, l = 0, mult = 1;
			bool ok = true;
			for (int q = w.nsp - 1; q >= 0 && ok; --q) {
				i64 j = kr % w.ker[q]; kr /= w.ker[q];
				i64 num = xs[q] + w.pad[q] - j * w.dil[q];
				if (num < 0 || num % w.str[q] != 0) { ok = false; break; }
				i64 o = num / w.str[q];
				if (o >= w.out[q]) { ok = false; break; }
				l += o * mult;
				mult *= w.out[q];
			}
			if (ok) acc += ({{.Acc}})ld_{{$s}}(s[ls.off + b * ls.st[0] + (c * K + k) * ls.st[1] + l * ls.st[2]]);
		}
		d[i] = st_{{$s}}(({{$t.C}})acc);
	}
}
// maxpool: v and idx are contiguous [N, C, O...] with outsz = prod(O);
// ls is src's [N, C, S...] layout; idx is the row-major position in S
extern "C" __global__ void maxpool_{{$s}}({{$t.S}}* v, i64* idx, const {{$t.S}}* s, i64 n, i64 C, i64 outsz, i64 K, Lay ls, Win w) {
	GRID_STRIDE(i, n) {
		i64 o = i % outsz, t = i / outsz;
		i64 c = t % C, b = t / C;
		i64 os[6];
		for (int q = w.nsp - 1; q >= 0; --q) { os[q] = o % w.out[q]; o /= w.out[q]; }
		i64 base = ls.off + b * ls.st[0] + c * ls.st[1];
		bool have = false;
		{{$t.C}} best = 0;
		i64 bi = 0;
		for (i64 k = 0; k < K; ++k) {
			i64 kr = k, off = base, pos = 0, mult = 1;
			bool inside = true;
			for (int q = w.nsp - 1; q >= 0; --q) {
				i64 j = kr % w.ker[q]; kr /= w.ker[q];
				i64 x = os[q] * w.str[q] - w.pad[q] + j * w.dil[q];
				if (x < 0 || x >= w.in[q]) { inside = false; break; }
				off += x * ls.st[2 + q];
				pos += x * mult;
				mult *= w.in[q];
			}
			if (!inside) continue;
			{{$t.C}} x = ld_{{$s}}(s[off]);
			if (!have || (!(best != best) && (x > best || x != x))) { best = x; bi = pos; have = true; }
		}
		v[i] = st_{{$s}}(best);
		idx[i] = bi;
	}
}
`

// WindowModule holds unfold_<dt>, fold_<dt> and maxpool_<dt> (float types).
func WindowModule(dt backend.DType) Module {
	t := types[dt]
	acc := "float"
	if dt == backend.Float64 {
		acc = "double"
	}
	return module("window_"+t.Short, windowTmpl, map[string]any{"T": t, "Acc": acc})
}

const randomTmpl = `
// Philox4x32-10 block n under seed, as backend.RandomSpec documents.
__device__ __forceinline__ void philox_block(u64 seed, u64 n, u64* u0, u64* u1) {
	u32 c0 = (u32)n, c1 = (u32)(n >> 32), c2 = 0, c3 = 0;
	u32 k0 = (u32)seed, k1 = (u32)(seed >> 32);
	for (int r = 0; r < 10; ++r) {
		if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
		u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
		u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
		u32 n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
		c0 = n0; c1 = lo1; c2 = n2; c3 = lo0;
	}
	*u0 = (u64)c0 | ((u64)c1 << 32);
	*u1 = (u64)c2 | ((u64)c3 << 32);
}
{{range .Floats}}
extern "C" __global__ void random_uniform_{{.Short}}({{.S}}* d, i64 n, u64 seed, u64 offset, double A, double B, {{.S}} top) {
	GRID_STRIDE(k, (n + 1) / 2) {
		u64 u0, u1;
		philox_block(seed, offset + (u64)k, &u0, &u1);
		double v0 = A + (B - A) * ((double)(u0 >> {{.Shift}}) * {{dlit .Scale}});
		double v1 = A + (B - A) * ((double)(u1 >> {{.Shift}}) * {{dlit .Scale}});
		d[2 * k] = fmin{{.F}}(({{.S}})v0, top);
		if (2 * k + 1 < n) d[2 * k + 1] = fmin{{.F}}(({{.S}})v1, top);
	}
}
extern "C" __global__ void random_normal_{{.Short}}({{.S}}* d, i64 n, u64 seed, u64 offset, double A, double B) {
	GRID_STRIDE(k, (n + 1) / 2) {
		u64 u0, u1;
		philox_block(seed, offset + (u64)k, &u0, &u1);
		double r = sqrt(-2.0 * log((double)((u0 >> 11) + 1) * {{dlit $.P53}}));
		double t = {{dlit $.TwoPi}} * (double)(u1 >> 11) * {{dlit $.P53}};
		double sn, cs;
		sincos(t, &sn, &cs);
		d[2 * k] = ({{.S}})(A + B * r * cs);
		if (2 * k + 1 < n) d[2 * k + 1] = ({{.S}})(A + B * r * sn);
	}
}
{{end}}
// lo + floor(u * span / 2^64)
extern "C" __global__ void random_integer_i64(i64* d, i64 n, u64 seed, u64 offset, i64 lo, u64 span) {
	GRID_STRIDE(k, (n + 1) / 2) {
		u64 u0, u1;
		philox_block(seed, offset + (u64)k, &u0, &u1);
		d[2 * k] = lo + (i64)__umul64hi(u0, span);
		if (2 * k + 1 < n) d[2 * k + 1] = lo + (i64)__umul64hi(u1, span);
	}
}
`

// RandomModule holds random_uniform_{f32,f64}(d, n, seed, offset, A, B,
// top), random_normal_{f32,f64}(d, n, seed, offset, A, B) and
// random_integer_i64(d, n, seed, offset, lo, span).
func RandomModule() Module {
	type fl struct {
		Short, S, F string
		Shift       int
		Scale       float64
	}
	return module("random", randomTmpl, map[string]any{
		"Floats": []fl{{"f32", "float", "f", 40, 0x1p-24}, {"f64", "double", "", 11, 0x1p-53}},
		"P53":    0x1p-53,
		"TwoPi":  2 * math.Pi,
	})
}

const optimTmpl = `
{{- $t := .T}}{{$s := $t.Short}}{{$C := $t.C}}
// SGD as torch.optim.SGD: weight decay, momentum with dampening
// (first: the buffer starts as the gradient), Nesterov, maximize.
extern "C" __global__ void sgd_{{$s}}({{$t.S}}* p, const {{$t.S}}* g, {{$t.S}}* buf, i64 n, double lr, double momentum,
		double dampening, double wd, int nesterov, int first, int maximize) {
	{{$C}} lr_ = ({{$C}})lr, mo = ({{$C}})momentum, da = ({{$C}})dampening, wd_ = ({{$C}})wd;
	GRID_STRIDE(i, n) {
		{{$C}} gi = ld_{{$s}}(g[i]);
		if (maximize) gi = -gi;
		{{$C}} pi = ld_{{$s}}(p[i]);
		if (wd_ != 0) gi += wd_ * pi;
		if (mo != 0) {
			{{$C}} b = first ? gi : mo * ld_{{$s}}(buf[i]) + (({{$C}})1 - da) * gi;
			buf[i] = st_{{$s}}(b);
			gi = nesterov ? gi + mo * b : b;
		}
		p[i] = st_{{$s}}(pi - lr_ * gi);
	}
}
// Adam/AdamW as torch.optim: bc1 = 1 - beta1^t, bc2 = 1 - beta2^t;
// decoupled (AdamW) scales p by 1 - lr*wd, else wd is added to the gradient.
extern "C" __global__ void adam_{{$s}}({{$t.S}}* p, const {{$t.S}}* g, {{$t.S}}* m, {{$t.S}}* v, {{$t.S}}* vmax, i64 n,
		double lr, double beta1, double beta2, double eps, double wd, double bc1, double bc2,
		int decoupled, int amsgrad, int maximize) {
	{{$C}} lr_ = ({{$C}})lr, b1 = ({{$C}})beta1, b2 = ({{$C}})beta2, eps_ = ({{$C}})eps, wd_ = ({{$C}})wd;
	{{$C}} step = ({{$C}})(lr / bc1), bc2s = ({{$C}})sqrt(bc2);
	GRID_STRIDE(i, n) {
		{{$C}} gi = ld_{{$s}}(g[i]);
		if (maximize) gi = -gi;
		{{$C}} pi = ld_{{$s}}(p[i]);
		if (wd_ != 0) {
			if (decoupled) pi *= ({{$C}})1 - lr_ * wd_;
			else gi += wd_ * pi;
		}
		{{$C}} mi = b1 * ld_{{$s}}(m[i]) + (({{$C}})1 - b1) * gi;
		{{$C}} vi = b2 * ld_{{$s}}(v[i]) + (({{$C}})1 - b2) * gi * gi;
		m[i] = st_{{$s}}(mi);
		v[i] = st_{{$s}}(vi);
		{{$C}} den = vi;
		if (amsgrad) {
			{{$C}} mx = ld_{{$s}}(vmax[i]);
			if (vi > mx) mx = vi;
			vmax[i] = st_{{$s}}(mx);
			den = mx;
		}
		p[i] = st_{{$s}}(pi - step * mi / (sqrt{{$t.F}}(den) / bc2s + eps_));
	}
}
`

// OptimModule holds the fused optimizer steps sgd_<dt> and adam_<dt>
// (float types; half types compute in float32).
func OptimModule(dt backend.DType) Module {
	t := types[dt]
	return module("optim_"+t.Short, optimTmpl, map[string]any{"T": t})
}
