package tensor_test

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func TestBadInputGivesTypedErrors(t *testing.T) {
	a := tensor.Zeros(2, 3)
	b := tensor.Zeros(4, 5)
	idx := tensor.FromSlice([]int64{0, 7})
	cases := []struct {
		name string
		kind error
		want []string // substrings of the message: the op and the shapes
		f    func()
	}{
		{"matmul inner dims", tensor.ErrShape, []string{"tensor: matmul:", "[2 3] × [4 5]", "inner dimensions differ"}, func() { a.MatMul(b) }},
		{"matmul 0-d", tensor.ErrShape, []string{"matmul"}, func() { tensor.Scalar(1).MatMul(a) }},
		{"broadcast", tensor.ErrShape, []string{"tensor: add:", "[2 3] and [4 5]"}, func() { a.Add(b) }},
		{"reshape", tensor.ErrShape, []string{"reshape", "[4 2]", "[2 3]"}, func() { a.Reshape(4, 2) }},
		{"reshape two -1", tensor.ErrShape, []string{"reshape", "only one"}, func() { a.Reshape(-1, -1) }},
		{"view of transposed", tensor.ErrShape, []string{"view", "Reshape"}, func() { a.T().View(6) }},
		{"expand", tensor.ErrShape, []string{"expand", "[2 3]", "[4 3]"}, func() { a.Expand(4, 3) }},
		{"dim out of range", tensor.ErrIndex, []string{"sum", "dim 2"}, func() { a.Sum(2) }},
		{"repeated dim", tensor.ErrIndex, []string{"sum", "more than once"}, func() { a.Sum(1, -1) }},
		{"permute", tensor.ErrShape, []string{"permute"}, func() { a.Permute(0) }},
		{"narrow range", tensor.ErrIndex, []string{"narrow", "[2, 4)"}, func() { a.Narrow(1, 2, 2) }},
		{"slice step", tensor.ErrIndex, []string{"slice", "step"}, func() { a.Slice(0, 0, 2, 0) }},
		{"index_select oob", tensor.ErrIndex, []string{"index_select", "index 7"}, func() { a.IndexSelect(0, idx) }},
		{"index float", tensor.ErrDType, []string{"index_select", "float32"}, func() { a.IndexSelect(0, tensor.Zeros(2)) }},
		{"gather oob", tensor.ErrIndex, []string{"gather"}, func() { a.Gather(1, tensor.FromSlice([]int64{3, 0}, 2, 1)) }},
		{"gather rank", tensor.ErrShape, []string{"gather"}, func() { a.Gather(1, idx) }},
		{"scatter_add oob", tensor.ErrIndex, []string{"scatter_add"}, func() { a.ScatterAdd(0, tensor.FromSlice([]int64{-1}, 1, 1), tensor.Ones(1, 1)) }},
		{"cat shapes", tensor.ErrShape, []string{"cat", "[2 3]", "[4 5]"}, func() { tensor.Cat([]*tensor.Tensor{a, b}, 0) }},
		{"cat empty list", tensor.ErrShape, []string{"cat"}, func() { tensor.Cat(nil, 0) }},
		{"stack shapes", tensor.ErrShape, []string{"stack"}, func() { tensor.Stack([]*tensor.Tensor{a, b}, 0) }},
		{"where cond dtype", tensor.ErrDType, []string{"where", "bool"}, func() { tensor.Where(a, a, a) }},
		{"masked_fill shape", tensor.ErrShape, []string{"masked_fill"}, func() { a.MaskedFill(tensor.FromSlice([]bool{true, false, true, false}), 1) }},
		{"mean of ints", tensor.ErrDType, []string{"mean", "int64"}, func() { idx.Mean() }},
		{"softmax of ints", tensor.ErrDType, []string{"softmax"}, func() { idx.Softmax(0) }},
		{"amax of empty", tensor.ErrShape, []string{"amax", "size 0"}, func() { tensor.Zeros(0, 2).Amax(0) }},
		{"argmax of empty", tensor.ErrShape, []string{"argmax"}, func() { tensor.Zeros(0).ArgMax(0) }},
		{"item of many", tensor.ErrShape, []string{"item", "6 elements"}, func() { a.Item() }},
		{"from slice", tensor.ErrShape, []string{"from_slice", "5 values", "[2 3]"}, func() { tensor.FromSlice([]float32{1, 2, 3, 4, 5}, 2, 3) }},
		{"negative shape", tensor.ErrShape, []string{"negative"}, func() { tensor.Zeros(-1) }},
		{"element count overflows", tensor.ErrShape, []string{"full", fmt.Sprint([]int{halfInt, halfInt}), "more elements"}, func() { tensor.Zeros(halfInt, halfInt) }},
		{"byte count overflows", tensor.ErrOutOfMemory, []string{fmt.Sprint([]int{1, math.MaxInt / 2}), "bytes"}, func() { tensor.Zeros(1, math.MaxInt/2) }},
		{"reshape count overflows", tensor.ErrShape, []string{"reshape", fmt.Sprint([]int{halfInt, halfInt})}, func() { tensor.Zeros(0).Reshape(halfInt, halfInt) }},
		{"reshape inferred overflows", tensor.ErrShape, []string{"reshape", "more elements"}, func() { tensor.Zeros(0).Reshape(halfInt, -1, halfInt) }},
		{"requires grad on ints", tensor.ErrDType, []string{"floating"}, func() { idx.SetRequiresGrad(true) }},
		{"bool sub", tensor.ErrDType, []string{"sub", "bool"}, func() { tensor.FromSlice([]bool{true}).Sub(tensor.FromSlice([]bool{true})) }},
		{"in-place broadcast grow", tensor.ErrShape, []string{"add_"}, func() { tensor.Zeros(3).AddIn(tensor.Zeros(2, 3)) }},
		{"in-place float into int", tensor.ErrDType, []string{"mul_", "int64"}, func() { tensor.FromSlice([]int64{1, 2}).MulIn(tensor.FromSlice([]float32{1.5, 2})) }},
		{"copy broadcast", tensor.ErrShape, []string{"copy_"}, func() { a.CopyIn(b) }},
		{"unknown device", tensor.ErrDevice, []string{"cuda"}, func() { a.ToDevice(tensor.CUDA(0)) }},
		{"arange step", tensor.ErrShape, []string{"arange"}, func() { tensor.Arange(0, 1, 0) }},
		{"multinomial", tensor.ErrShape, []string{"multinomial"}, func() { tensor.Multinomial(tensor.FromSlice([]float32{1, 0}), 2, false) }},
		{"multinomial negative", tensor.ErrShape, []string{"multinomial"}, func() { tensor.Multinomial(tensor.FromSlice([]float32{1, -1}), 1, true) }},
		{"randint range", tensor.ErrShape, []string{"randint"}, func() { tensor.RandInt(3, 3, 2) }},
		{"chunk count", tensor.ErrShape, []string{"chunk"}, func() { a.Chunk(0, 0) }},
		{"flatten order", tensor.ErrIndex, []string{"flatten"}, func() { a.Flatten(1, 0) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tensor.Try(c.f)
			if err == nil {
				t.Fatal("no error")
			}
			var te *tensor.Error
			if !errors.As(err, &te) {
				t.Fatalf("%T is not *tensor.Error", err)
			}
			if !errors.Is(err, c.kind) {
				t.Fatalf("%q is not of kind %v", err, c.kind)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestTryOnlyRecoversTensorErrors(t *testing.T) {
	if err := tensor.Try(func() { tensor.Ones(2).Add(tensor.Ones(2)) }); err != nil {
		t.Fatalf("good code gave %v", err)
	}
	defer func() {
		if r := recover(); r != "not mine" {
			t.Fatalf("recovered %v, want the foreign panic to propagate", r)
		}
	}()
	_ = tensor.Try(func() { panic("not mine") })
	t.Fatal("Try swallowed a foreign panic")
}

// halfInt is 2^(bits of int / 2): the square of it overflows int, on
// 32-bit platforms as on 64-bit ones.
const halfInt = 1 << (bits.UintSize / 2)

// TestEmptyShapesWithHugeDims checks that the overflow checks of
// TestBadInputGivesTypedErrors leave alone what torch allows: a zero dim
// makes a tensor empty however large its other dims are.
func TestEmptyShapesWithHugeDims(t *testing.T) {
	z := tensor.Zeros(0, halfInt, halfInt)
	if n := z.Numel(); n != 0 {
		t.Fatalf("Zeros(0, %d, %d) has %d elements, want 0", halfInt, halfInt, n)
	}
	r := z.Reshape(halfInt, 0, halfInt)
	if got := r.Shape(); len(got) != 3 || got[0] != halfInt || got[1] != 0 || got[2] != halfInt {
		t.Fatalf("reshape to [%d 0 %d] gave %v", halfInt, halfInt, got)
	}
	if n := tensor.Zeros(3, 1<<12).Reshape(-1, 1<<10).Shape()[0]; n != 12 {
		t.Fatalf("inferred dim %d, want 12", n)
	}
}
