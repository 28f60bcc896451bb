package kernels

import "github.com/tapir-ml/tapir/backend"

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
