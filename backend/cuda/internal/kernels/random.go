package kernels

import "math"

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
