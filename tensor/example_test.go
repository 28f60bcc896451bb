package tensor_test

import (
	"errors"
	"fmt"

	"github.com/tapir-ml/tapir/tensor"
)

func ExampleFromSlice() {
	x := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	fmt.Println(x)
	fmt.Println(x.Shape(), x.DType())
	// Output:
	// tensor([[1., 2., 3.],
	//         [4., 5., 6.]])
	// [2 3] float32
}

func ExampleTensor_MatMul() {
	a := tensor.FromSlice([]float64{1, 2, 3, 4}, 2, 2)
	b := tensor.FromSlice([]float64{1, 0, 1, 1}, 2, 2)
	fmt.Println(a.MatMul(b))
	// a batch of matrices times one matrix broadcasts
	batch := tensor.Ones(3, 2, 2).To(tensor.Float64)
	fmt.Println(batch.MatMul(b).Shape())
	// Output:
	// tensor([[3., 2.],
	//         [7., 4.]], dtype=torch.float64)
	// [3 2 2]
}

func ExampleTensor_Backward() {
	x := tensor.FromSlice([]float64{1, 2, 3}).SetRequiresGrad(true)
	y := x.Square().Sum() // y = Σ x², dy/dx = 2x
	y.Backward()
	fmt.Println(x.Grad())
	// Output:
	// tensor([2., 4., 6.], dtype=torch.float64)
}

func ExampleTensor_Transpose() {
	x := tensor.Arange(0, 6, 1).Reshape(2, 3)
	t := x.Transpose(0, 1) // a view: no copy
	fmt.Println(t)
	fmt.Println(t.IsContiguous(), t.SharesStorage(x))
	// Output:
	// tensor([[0, 3],
	//         [1, 4],
	//         [2, 5]])
	// false true
}

func ExampleTensor_Add_broadcast() {
	rows := tensor.FromSlice([]float32{0, 10, 20}, 3, 1)
	cols := tensor.FromSlice([]float32{1, 2})
	fmt.Println(rows.Add(cols))
	// Output:
	// tensor([[ 1.,  2.],
	//         [11., 12.],
	//         [21., 22.]])
}

func ExampleWhere() {
	x := tensor.FromSlice([]float32{-1, 2, -3, 4})
	fmt.Println(tensor.Where(x.GtScalar(0), x, tensor.ZerosLike(x)))
	// Output:
	// tensor([0., 2., 0., 4.])
}

func ExampleTensor_Max() {
	x := tensor.FromSlice([]float32{3, 9, 2, 7, 1, 8}, 2, 3)
	values, indices := x.Max(1)
	fmt.Println(values, indices)
	// Output:
	// tensor([9., 8.]) tensor([1, 2])
}

func ExampleTry() {
	a, b := tensor.Zeros(2, 3), tensor.Zeros(4, 5)
	err := tensor.Try(func() { a.MatMul(b) })
	fmt.Println(err)
	fmt.Println(errors.Is(err, tensor.ErrShape))
	// Output:
	// tensor: matmul: [2 3] × [4 5]: inner dimensions differ (3 vs 4)
	// true
}

func ExampleManualSeed() {
	tensor.ManualSeed(42)
	a := tensor.Randn(3)
	tensor.ManualSeed(42)
	b := tensor.Randn(3)
	fmt.Println(a.Eq(b).LogicalNot().Sum().Item() == 0)
	// Output:
	// true
}

func ExampleTensor_AddIn() {
	x := tensor.Zeros(2, 2)
	row := x.Select(0, 1) // a view of the second row
	row.AddIn(tensor.FromSlice([]float32{5, 6}))
	fmt.Println(x)
	// Output:
	// tensor([[0., 0.],
	//         [5., 6.]])
}
