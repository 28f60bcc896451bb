package kernels

import "github.com/tapir-ml/tapir/backend"

const optimTmpl = `
{{- $t := .T}}{{$s := $t.Short}}{{$C := $t.C}}
// The steps of backend.FusedOptimizer, rounded as its documentation
// states: each product by MUL (an intrinsic the compiler never fuses
// into an FMA), the float64 scalars converted to the compute type once.
#define MUL(a, b) {{.Mul}}((a), (b))
// sgd_<dt>: torch.optim.SGD; negLR = −lr, oneMinusDamp = 1 − τ (float64).
extern "C" __global__ void sgd_{{$s}}({{$t.S}}* p, const {{$t.S}}* g, {{$t.S}}* buf, i64 n, double negLR, double momentum,
		double oneMinusDamp, double wd, int nesterov, int first, int maximize) {
	{{$C}} nlr = ({{$C}})negLR, mo = ({{$C}})momentum, omd = ({{$C}})oneMinusDamp, wd_ = ({{$C}})wd;
	GRID_STRIDE(i, n) {
		{{$C}} d = ld_{{$s}}(g[i]);
		if (maximize) d = -d;
		{{$C}} pi = ld_{{$s}}(p[i]);
		if (wd != 0) d = d + MUL(wd_, pi);
		if (momentum != 0) {
			{{$C}} b = first ? d : MUL(mo, ld_{{$s}}(buf[i])) + MUL(omd, d);
			buf[i] = st_{{$s}}(b);
			d = nesterov ? d + MUL(mo, b) : b;
		}
		p[i] = st_{{$s}}(pi + MUL(nlr, d));
	}
}
// adam_<dt>: torch.optim.Adam, or AdamW when decay (1 − lr·λ, float64)
// is not 1; wd is the coupled L2 term (0 for AdamW); negStep = −lr/c1,
// bc2s = √c2 (backend.AdamHyper.BiasCorrections).
extern "C" __global__ void adam_{{$s}}({{$t.S}}* p, const {{$t.S}}* g, {{$t.S}}* m, {{$t.S}}* v, {{$t.S}}* vmax, i64 n,
		double decay, double wd, double beta1, double beta2, double eps, double negStep, double bc2s,
		int amsgrad, int maximize) {
	{{$C}} dec = ({{$C}})decay, wd_ = ({{$C}})wd, b1 = ({{$C}})beta1, b2 = ({{$C}})beta2, omb1 = ({{$C}})(1 - beta1),
		omb2 = ({{$C}})(1 - beta2), eps_ = ({{$C}})eps, nst = ({{$C}})negStep, c2 = ({{$C}})bc2s;
	GRID_STRIDE(i, n) {
		{{$C}} d = ld_{{$s}}(g[i]);
		if (maximize) d = -d;
		{{$C}} pi = ld_{{$s}}(p[i]);
		if (decay != 1) pi = MUL(dec, pi);
		if (wd != 0) d = d + MUL(wd_, pi);
		{{$C}} mi = MUL(b1, ld_{{$s}}(m[i])) + MUL(omb1, d);
		{{$C}} vi = MUL(b2, ld_{{$s}}(v[i])) + MUL(MUL(omb2, d), d);
		m[i] = st_{{$s}}(mi);
		v[i] = st_{{$s}}(vi);
		{{$C}} den = vi;
		if (amsgrad) {
			{{$C}} mx = ld_{{$s}}(vmax[i]);
			if (vi > mx || vi != vi) mx = vi;
			vmax[i] = st_{{$s}}(mx);
			den = mx;
		}
		den = sqrt{{$t.F}}(den) / c2 + eps_;
		p[i] = st_{{$s}}(pi + MUL(nst, mi) / den);
	}
}
`

// OptimModule holds the fused optimizer steps sgd_<dt> and adam_<dt>
// (float types; half types compute in float32).
func OptimModule(dt backend.DType) Module {
	t := types[dt]
	mul := "__fmul_rn"
	if dt == backend.Float64 {
		mul = "__dmul_rn"
	}
	return module("optim_"+t.Short, optimTmpl, map[string]any{"T": t, "Mul": mul})
}
