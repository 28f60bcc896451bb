package safetensors_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/tensor/safetensors"
)

func Example() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	weights := map[string]*tensor.Tensor{
		"fc.weight": tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
		"fc.bias":   tensor.FromSlice([]float32{0.5, -0.5}).To(tensor.BFloat16),
		"steps":     tensor.FromSlice([]int64{1000}, []int{}...), // 0-d
	}
	err = safetensors.Save(path, weights, nil, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fmt.Println(f.Names(), f.Metadata())
	info, _ := f.Info("fc.bias")
	fmt.Println(info.DType, info.Shape)
	w, err := f.Tensor("fc.weight")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w)
	// Output:
	// [fc.bias fc.weight steps] map[format:pt]
	// BF16 [2]
	// tensor([[1., 2., 3.],
	//         [4., 5., 6.]])
}

func ExampleRead() {
	var buf bytes.Buffer
	x := tensor.FromSlice([]float64{1, 2, 3, 4}, 2, 2)
	// a transposed view is written in its own row-major order
	err := safetensors.Write(&buf, map[string]*tensor.Tensor{"xT": x.T()}, nil, nil)
	if err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		log.Fatal(err)
	}
	xT, err := f.Tensor("xT")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(xT.Float64s())

	// a damaged file is an error
	_, err = safetensors.Read(bytes.NewReader(buf.Bytes()[:20]), 20)
	fmt.Println(err)
	// Output:
	// [1 3 2 4]
	// safetensors: header length 64 runs past the end of the 20-byte file
}
