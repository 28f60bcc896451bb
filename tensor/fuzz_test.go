package tensor_test

import (
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

// FuzzOpsNeverPanicForeign drives random ops with random shapes, dims and
// arguments: bad input must come back as a *tensor.Error from Try, never
// as a runtime panic (index out of range, nil dereference…). The seed
// corpus (and testdata/fuzz) runs with every go test; to search longer:
//
//	go test ./tensor -run XXX -fuzz FuzzOpsNeverPanicForeign -fuzztime 5m
func FuzzOpsNeverPanicForeign(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{200, 3, 0, 0, 17, 255, 1, 2})
	f.Add([]byte{9, 9, 9, 9, 0, 0, 0, 1, 5, 7, 11, 13})
	f.Fuzz(func(t *testing.T, prog []byte) {
		pos := 0
		next := func() int {
			if pos >= len(prog) {
				return 0
			}
			pos++
			return int(prog[pos-1])
		}
		small := func() int { return next()%5 - 1 } // -1…3: dims, sizes, indices
		shape := func() []int {
			n := next() % 4
			s := make([]int, n)
			for i := range s {
				s[i] = next() % 4 // includes 0
			}
			return s
		}
		mk := func() *tensor.Tensor {
			sh := shape()
			switch next() % 4 {
			case 0:
				return tensor.Ones(sh...).To(tensor.Int64)
			case 1:
				return tensor.Ones(sh...).To(tensor.Bool)
			case 2:
				return tensor.Ones(sh...).To(tensor.Float64).SetRequiresGrad(true)
			}
			return tensor.Full(0.5, sh...)
		}
		for pos < len(prog) {
			a, b := mk(), mk()
			op := next() % 24
			err := tensor.Try(func() {
				var out *tensor.Tensor
				switch op {
				case 0:
					out = a.Add(b)
				case 1:
					out = a.MatMul(b)
				case 2:
					out = a.Sum(small())
				case 3:
					out = a.Reshape(shape()...)
				case 4:
					out = a.Transpose(small(), small())
				case 5:
					out = a.Narrow(small(), small(), small())
				case 6:
					out = a.Slice(small(), small(), small(), small())
				case 7:
					out = a.IndexSelect(small(), b)
				case 8:
					out = a.Gather(small(), b)
				case 9:
					out = tensor.Cat([]*tensor.Tensor{a, b}, small())
				case 10:
					out = tensor.Stack([]*tensor.Tensor{a, b}, small())
				case 11:
					out = a.Expand(shape()...)
				case 12:
					out = a.Softmax(small())
				case 13:
					v, _ := a.Max(small())
					out = v
				case 14:
					out = a.Squeeze(small()).Unsqueeze(small())
				case 15:
					out = tensor.Where(a, a, b)
				case 16:
					out = a.MaskedFill(b, 1)
				case 17:
					out = a.Repeat(shape()...)
				case 18:
					out = a.Flip(small())
				case 19:
					out = a.ScatterAdd(small(), b, a)
				case 20:
					out = a.CumSum(small())
				case 21:
					out = a.Permute(shape()...)
				case 22:
					out = a.AddIn(b)
				case 23:
					out = a.Flatten(small(), small()).Mean()
				}
				if out != nil && out.RequiresGrad() && out.DType().IsFloat() {
					out.Sum().Backward()
				}
				_ = out.String()
			})
			_ = err // a *tensor.Error is fine; anything else panics out of Try
		}
	})
}
