package cpu

import (
	"math"

	"github.com/tapir-ml/tapir/backend"
)

// LayerNorm normalizes each row of x, a contiguous [rows, n] (any shape
// whose last dims multiply to n), over its n elements: with μ the row's
// mean and r = 1/√(σ² + eps) for its biased variance σ², it sets
// y = (x − μ)·r·w + b, mean[row] = μ and rstd[row] = r. w and b are
// contiguous [n], or views without storage for none; y, mean and rstd are
// contiguous. Sums run in float64; float32 rows take the vector kernels
// of layernorm_vec.go. The tensor package finds this method
// (and LayerNormBackward) with a type assertion, and composes the op from
// reductions and elementwise ops where a backend lacks it.
func (*CPU) LayerNorm(y, mean, rstd, x, w, b backend.View, eps float64) {
	switch x.DType() {
	case backend.Float32:
		layerNormT[float32](y, mean, rstd, x, w, b, eps)
	case backend.Float64:
		layerNormT[float64](y, mean, rstd, x, w, b, eps)
	default:
		panic(badDType("layer norm", x.DType()))
	}
}

// LayerNormBackward is LayerNorm's gradient for the gradient g of y (both
// contiguous like x): with x̂ = (x − μ)·r and ĝ = g·w (g without w),
//
//	dx = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))
//
// per row, and gxhat = g·x̂, whose sum over the rows is w's gradient; gxhat
// may be a view without storage when that is not needed.
func (*CPU) LayerNormBackward(dx, gxhat, g, x, mean, rstd, w backend.View) {
	switch x.DType() {
	case backend.Float32:
		layerNormBackwardT[float32](dx, gxhat, g, x, mean, rstd, w)
	case backend.Float64:
		layerNormBackwardT[float64](dx, gxhat, g, x, mean, rstd, w)
	default:
		panic(badDType("layer norm backward", x.DType()))
	}
}

// layerNormRows returns the count of rows (mean's elements) and their
// length n of a LayerNorm's operands.
func layerNormRows(x, mean backend.View) (rows, n int) {
	rows = mean.Numel()
	if rows == 0 {
		return 0, 0
	}
	return rows, x.Numel() / rows
}

// optSlice is v's elements from its offset, or nil for a view without
// storage.
func optSlice[T float](v backend.View, n int) []T {
	if v.Storage == nil {
		return nil
	}
	return slice[T](v.Storage)[v.Offset : v.Offset+n]
}

func layerNormT[T float](y, mean, rstd, x, w, b backend.View, eps float64) {
	rows, n := layerNormRows(x, mean)
	if rows == 0 || n == 0 {
		return
	}
	xs, ys := slice[T](x.Storage)[x.Offset:x.Offset+rows*n], slice[T](y.Storage)[y.Offset:y.Offset+rows*n]
	ms, rs := slice[T](mean.Storage)[mean.Offset:mean.Offset+rows], slice[T](rstd.Storage)[rstd.Offset:rstd.Offset+rows]
	ws, bs := optSlice[T](w, n), optSlice[T](b, n)
	if x32, ok := any(xs).([]float32); ok && !lnOff {
		layerNorm32(any(ys).([]float32), x32, any(ms).([]float32), any(rs).([]float32),
			any(ws).([]float32), any(bs).([]float32), rows, n, eps)
		return
	}
	parallelFor(rows, max(1, grain/8/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xs[r*n:(r+1)*n:(r+1)*n], ys[r*n:(r+1)*n:(r+1)*n]
			mu := sumRow(xr) / float64(n)
			var v0, v1 float64
			i := 0
			for ; i+2 <= n; i += 2 {
				d0, d1 := float64(xr[i])-mu, float64(xr[i+1])-mu
				v0 += d0 * d0
				v1 += d1 * d1
			}
			for ; i < n; i++ {
				d := float64(xr[i]) - mu
				v0 += d * d
			}
			rinv := 1 / math.Sqrt((v0+v1)/float64(n)+eps)
			ms[r], rs[r] = T(mu), T(rinv)
			switch {
			case ws != nil && bs != nil:
				for i, e := range xr {
					yr[i] = T((float64(e)-mu)*rinv*float64(ws[i]) + float64(bs[i]))
				}
			case ws != nil:
				for i, e := range xr {
					yr[i] = T((float64(e) - mu) * rinv * float64(ws[i]))
				}
			case bs != nil:
				for i, e := range xr {
					yr[i] = T((float64(e)-mu)*rinv + float64(bs[i]))
				}
			default:
				for i, e := range xr {
					yr[i] = T((float64(e) - mu) * rinv)
				}
			}
		}
	})
}

func layerNormBackwardT[T float](dx, gxhat, g, x, mean, rstd, w backend.View) {
	rows, n := layerNormRows(x, mean)
	if rows == 0 || n == 0 {
		return
	}
	xs, gs := slice[T](x.Storage)[x.Offset:x.Offset+rows*n], slice[T](g.Storage)[g.Offset:g.Offset+rows*n]
	ds := slice[T](dx.Storage)[dx.Offset : dx.Offset+rows*n]
	hs := optSlice[T](gxhat, rows*n)
	ms, rs := slice[T](mean.Storage)[mean.Offset:mean.Offset+rows], slice[T](rstd.Storage)[rstd.Offset:rstd.Offset+rows]
	ws := optSlice[T](w, n)
	if x32, ok := any(xs).([]float32); ok && !lnOff {
		layerNormBackward32(any(ds).([]float32), any(hs).([]float32), any(gs).([]float32), x32,
			any(ms).([]float32), any(rs).([]float32), any(ws).([]float32), rows, n)
		return
	}
	parallelFor(rows, max(1, grain/8/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, gr, dr := xs[r*n:(r+1)*n:(r+1)*n], gs[r*n:(r+1)*n:(r+1)*n], ds[r*n:(r+1)*n:(r+1)*n]
			mu, rinv := float64(ms[r]), float64(rs[r])
			// a = Σ ĝ, c = Σ ĝ·x̂
			var a, c float64
			for i, e := range gr {
				gh := float64(e)
				if ws != nil {
					gh *= float64(ws[i])
				}
				a += gh
				c += gh * (float64(xr[i]) - mu) * rinv
			}
			a /= float64(n)
			c /= float64(n)
			for i, e := range gr {
				xh := (float64(xr[i]) - mu) * rinv
				gh := float64(e)
				if hs != nil {
					hs[r*n+i] = T(gh * xh)
				}
				if ws != nil {
					gh *= float64(ws[i])
				}
				dr[i] = T(rinv * (gh - a - xh*c))
			}
		}
	})
}
