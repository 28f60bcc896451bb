package onnx

import (
	"strings"

	"github.com/tapir-ml/tapir/tensor"
)

// Recurrent layers: RNN, GRU and LSTM, unrolled over time with Tapir ops
// (so gradients flow through time), forward, reverse or bidirectional,
// with per-sequence lengths, clipping, peepholes and the layout attribute
// of opset 14.

func init() {
	register(rnnOp("RNN"), "RNN")
	register(rnnOp("GRU"), "GRU")
	register(rnnOp("LSTM"), "LSTM")
}

// activation is one of the named activations of the recurrent operators.
type activation func(x *tensor.Tensor) *tensor.Tensor

func (c *opCtx) activations(defaults []string) []activation {
	names := c.strs("activations")
	alphas, betas := c.floats("activation_alpha"), c.floats("activation_beta")
	if names == nil {
		names = defaults
	}
	ai, bi := 0, 0
	next := func(list []float64, i *int, def float64) float64 {
		if *i < len(list) {
			v := list[*i]
			*i++
			return v
		}
		return def
	}
	out := make([]activation, len(names))
	for k, n := range names {
		switch strings.ToLower(n) {
		case "sigmoid":
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.Sigmoid() }
		case "tanh":
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.Tanh() }
		case "relu":
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.ReLU() }
		case "softsign":
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.Div(x.Abs().AddScalar(1)) }
		case "softplus":
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.Softplus() }
		case "affine":
			a, b := next(alphas, &ai, 1), next(betas, &bi, 0)
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.MulScalar(a).AddScalar(b) }
		case "leakyrelu":
			a := next(alphas, &ai, 0.01)
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.LeakyReLU(a) }
		case "thresholdedrelu":
			a := next(alphas, &ai, 1)
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.Mul(x.GtScalar(a).To(x.DType())) }
		case "scaledtanh":
			a, b := next(alphas, &ai, 1), next(betas, &bi, 1)
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.MulScalar(b).Tanh().MulScalar(a) }
		case "hardsigmoid":
			a, b := next(alphas, &ai, 0.2), next(betas, &bi, 0.5)
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return x.MulScalar(a).AddScalar(b).Clamp(0, 1) }
		case "elu":
			a := next(alphas, &ai, 1)
			out[k] = func(x *tensor.Tensor) *tensor.Tensor { return elu(x, a) }
		default:
			c.fail("unknown activation %q", n)
		}
	}
	return out
}

// rnnOp builds RNN, GRU or LSTM.
func rnnOp(kind string) opFunc {
	gates := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[kind]
	nact := map[string]int{"RNN": 1, "GRU": 2, "LSTM": 3}[kind]
	defaults := map[string][]string{"RNN": {"Tanh", "Tanh"}, "GRU": {"Sigmoid", "Tanh", "Sigmoid", "Tanh"}, "LSTM": {"Sigmoid", "Tanh", "Tanh", "Sigmoid", "Tanh", "Tanh"}}[kind]
	return func(c *opCtx) []*tensor.Tensor {
		x, w, r := c.x(0), c.x(1), c.x(2)
		b, lens, h0 := c.opt(3), c.opt(4), c.opt(5)
		var c0, peep *tensor.Tensor
		if kind == "LSTM" {
			c0, peep = c.opt(6), c.opt(7)
		}
		hidden := int(c.int("hidden_size", 0))
		layout := c.int("layout", 0)
		dirs := 1
		dir := c.str("direction", "forward")
		switch dir {
		case "forward", "reverse":
		case "bidirectional":
			dirs = 2
		default:
			c.fail("unknown direction %q", dir)
		}
		if x.Dim() != 3 || w.Dim() != 3 || r.Dim() != 3 {
			c.fail("X %v, W %v and R %v must be 3-d", x.Shape(), w.Shape(), r.Shape())
		}
		if layout == 1 {
			x = x.Transpose(0, 1)
			if h0 != nil {
				h0 = h0.Transpose(0, 1)
			}
			if c0 != nil {
				c0 = c0.Transpose(0, 1)
			}
		}
		T, B := x.Size(0), x.Size(1)
		if hidden <= 0 {
			hidden = w.Size(1) / gates
		}
		if w.Size(0) != dirs || w.Size(1) != gates*hidden || r.Size(0) != dirs || r.Size(1) != gates*hidden || r.Size(2) != hidden || w.Size(2) != x.Size(2) {
			c.fail("W %v and R %v do not fit %d directions of %d gates of %d units over input %v", w.Shape(), r.Shape(), dirs, gates, hidden, x.Shape())
		}
		dt := x.DType()
		acts := c.activations(defaults[:nact*dirs])
		if len(acts) < nact*dirs {
			c.fail("%d activations for %d directions", len(acts), dirs)
		}
		clip := c.float("clip", 0)
		clipf := func(t *tensor.Tensor) *tensor.Tensor {
			if clip > 0 {
				return t.Clamp(-clip, clip)
			}
			return t
		}
		var lenv []int64
		if lens != nil {
			lenv = c.hostInts(lens)
			if len(lenv) != B {
				c.fail("%d sequence lengths for a batch of %d", len(lenv), B)
			}
		}
		// mask(t) is [B, 1], 1 where step t is inside the sequence.
		mask := func(t int) *tensor.Tensor {
			if lenv == nil {
				return nil
			}
			v := make([]bool, B)
			for i, l := range lenv {
				v[i] = int64(t) < l
			}
			return c.dev(tensor.FromSlice(v, B, 1))
		}
		var ys []*tensor.Tensor // per direction: [T, B, hidden]
		var hs, cs []*tensor.Tensor
		for d := 0; d < dirs; d++ {
			wd, rd := w.Select(0, d).To(dt), r.Select(0, d).To(dt)
			var wb, rb *tensor.Tensor
			if b != nil {
				bd := b.Select(0, d).To(dt)
				wb, rb = bd.Narrow(0, 0, gates*hidden), bd.Narrow(0, gates*hidden, gates*hidden)
			}
			h := c.full(dt, 0, B, hidden)
			if h0 != nil {
				h = h0.Select(0, d).To(dt)
			}
			cell := c.full(dt, 0, B, hidden)
			if c0 != nil {
				cell = c0.Select(0, d).To(dt)
			}
			var pi, po, pf *tensor.Tensor
			if peep != nil {
				pd := peep.Select(0, d).To(dt)
				pi, po, pf = pd.Narrow(0, 0, hidden), pd.Narrow(0, hidden, hidden), pd.Narrow(0, 2*hidden, hidden)
			}
			a := acts[d*nact : (d+1)*nact]
			// Input projections of every step at once: [T, B, gates·hidden].
			xw := x.To(dt).MatMul(wd.T())
			if wb != nil {
				xw = xw.Add(wb)
			}
			reverse := dir == "reverse" || d == 1
			out := make([]*tensor.Tensor, T)
			for s := 0; s < T; s++ {
				t := s
				if reverse {
					t = T - 1 - s
				}
				xt := xw.Select(0, t)
				var hn, cn *tensor.Tensor
				switch kind {
				case "RNN":
					pre := xt.Add(h.MatMul(rd.T()))
					if rb != nil {
						pre = pre.Add(rb)
					}
					hn = a[0](clipf(pre))
				case "GRU":
					rz := rd.Narrow(0, 0, 2*hidden)
					rh := rd.Narrow(0, 2*hidden, hidden)
					hr := h.MatMul(rz.T())
					if rb != nil {
						hr = hr.Add(rb.Narrow(0, 0, 2*hidden))
					}
					zr := xt.Narrow(1, 0, 2*hidden).Add(hr)
					z := a[0](clipf(zr.Narrow(1, 0, hidden)))
					rr := a[0](clipf(zr.Narrow(1, hidden, hidden)))
					var hh *tensor.Tensor
					var rbh *tensor.Tensor
					if rb != nil {
						rbh = rb.Narrow(0, 2*hidden, hidden)
					}
					if c.int("linear_before_reset", 0) != 0 {
						hh = h.MatMul(rh.T())
						if rbh != nil {
							hh = hh.Add(rbh)
						}
						hh = rr.Mul(hh)
					} else {
						hh = rr.Mul(h).MatMul(rh.T())
						if rbh != nil {
							hh = hh.Add(rbh)
						}
					}
					ht := a[1](clipf(xt.Narrow(1, 2*hidden, hidden).Add(hh)))
					hn = z.RSubScalar(1).Mul(ht).Add(z.Mul(h))
				case "LSTM":
					pre := xt.Add(h.MatMul(rd.T()))
					if rb != nil {
						pre = pre.Add(rb)
					}
					ig, og, fg, cg := pre.Narrow(1, 0, hidden), pre.Narrow(1, hidden, hidden), pre.Narrow(1, 2*hidden, hidden), pre.Narrow(1, 3*hidden, hidden)
					if pi != nil {
						ig = ig.Add(pi.Mul(cell))
						fg = fg.Add(pf.Mul(cell))
					}
					i := a[0](clipf(ig))
					f := a[0](clipf(fg))
					if c.int("input_forget", 0) != 0 {
						f = i.RSubScalar(1)
					}
					cn = f.Mul(cell).Add(i.Mul(a[1](clipf(cg))))
					if po != nil {
						og = og.Add(po.Mul(cn))
					}
					hn = a[0](clipf(og)).Mul(a[2](cn))
				}
				if m := mask(t); m != nil {
					hn = tensor.Where(m, hn, h)
					if cn != nil {
						cn = tensor.Where(m, cn, cell)
					}
					out[t] = tensor.Where(m, hn, c.full(dt, 0))
				} else {
					out[t] = hn
				}
				h = hn
				if cn != nil {
					cell = cn
				}
			}
			if T == 0 {
				ys = append(ys, c.full(dt, 0, 0, B, hidden))
			} else {
				ys = append(ys, tensor.Stack(out, 0))
			}
			hs = append(hs, h)
			cs = append(cs, cell)
		}
		y := tensor.Stack(ys, 1) // [T, dirs, B, hidden]
		yh := tensor.Stack(hs, 0)
		yc := tensor.Stack(cs, 0)
		if layout == 1 {
			y = y.Permute(2, 0, 1, 3)
			yh = yh.Transpose(0, 1)
			yc = yc.Transpose(0, 1)
		}
		return []*tensor.Tensor{y, yh, yc}
	}
}
