package kernels

import "github.com/tapir-ml/tapir/backend"

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
