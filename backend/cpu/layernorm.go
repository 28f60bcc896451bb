package cpu

import (
	"fmt"
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
			mu, rinv := rowStats(xr, eps)
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

// rowStats is a row's mean μ and 1/√(σ² + eps) for its biased variance
// σ², summed in float64 in two passes (the scalar loops'; float32 rows
// with the kernels take rowStats32).
func rowStats[T float](xr []T, eps float64) (mu, rinv float64) {
	n := len(xr)
	mu = sumRow(xr) / float64(n)
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
	return mu, 1 / math.Sqrt((v0+v1)/float64(n)+eps)
}

var _ backend.GroupNormer = (*CPU)(nil)

// GroupNorm implements backend.GroupNormer: LayerNorm's rows, each
// sample's group of channels, with the affine per channel. Each channel's
// run is written while the row is in the cache: (x − μ)·(r·w[c]) in
// float64, rounded to the DType, then + b[c] in the DType (two roundings,
// one fewer than LayerNorm followed by the products with w and b as
// separate ops). Float32 rows take the row kernels of layernorm_vec.go
// and the elementwise kernels of vec.go.
func (*CPU) GroupNorm(y, mean, rstd, x, w, b backend.View, groups int, eps float64) {
	switch x.DType() {
	case backend.Float32:
		groupNormT[float32](y, mean, rstd, x, w, b, groups, eps)
	case backend.Float64:
		groupNormT[float64](y, mean, rstd, x, w, b, groups, eps)
	default:
		panic(badDType("group norm", x.DType()))
	}
}

func groupNormT[T float](y, mean, rstd, x, w, b backend.View, groups int, eps float64) {
	if len(x.Shape) < 2 || groups < 1 || x.Shape[1]%groups != 0 {
		panic(fmt.Sprintf("cpu: group norm of %v in %d groups", x.Shape, groups))
	}
	c := x.Shape[1]
	rows, n := layerNormRows(x, mean)
	if rows == 0 || n == 0 {
		return
	}
	cpg := c / groups
	hw := n / cpg
	xs, ys := slice[T](x.Storage)[x.Offset:x.Offset+rows*n], slice[T](y.Storage)[y.Offset:y.Offset+rows*n]
	ms, rs := slice[T](mean.Storage)[mean.Offset:mean.Offset+rows], slice[T](rstd.Storage)[rstd.Offset:rstd.Offset+rows]
	ws, bs := optSlice[T](w, c), optSlice[T](b, c)
	_, vec := any(xs).([]float32)
	vec = vec && !lnOff
	parallelFor(rows, max(1, grain/8/n), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xr, yr := xs[r*n:(r+1)*n:(r+1)*n], ys[r*n:(r+1)*n:(r+1)*n]
			var mu, rinv float64
			if vec {
				mu, rinv = rowStats32(any(xr).([]float32), eps)
			} else {
				mu, rinv = rowStats(xr, eps)
			}
			ms[r], rs[r] = T(mu), T(rinv)
			c0 := r % groups * cpg
			for j := range cpg {
				xc, yc := xr[j*hw:(j+1)*hw:(j+1)*hw], yr[j*hw:(j+1)*hw:(j+1)*hw]
				s := rinv
				if ws != nil {
					s *= float64(ws[c0+j])
				}
				if vec {
					y32 := any(yc).([]float32)
					ln32.fwd(y32, any(xc).([]float32), nil, nil, mu, s)
					if bs != nil {
						vec32.un[vuAdds](y32, y32, any(bs).([]float32)[c0+j], 0)
					}
					continue
				}
				for i, e := range xc {
					yc[i] = T((float64(e) - mu) * s)
				}
				if bs != nil {
					bc := bs[c0+j]
					for i := range yc {
						yc[i] += bc
					}
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
