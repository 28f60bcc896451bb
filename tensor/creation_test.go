package tensor_test

import (
	"fmt"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func TestCreationMatchesPyTorch(t *testing.T) {
	var fx struct {
		Cases []struct {
			fixTensor
			Args args `json:"args"`
		} `json:"cases"`
	}
	loadJSON(t, "creation.json", &fx)
	for i, c := range fx.Cases {
		t.Run(fmt.Sprintf("%s/%d", c.Name, i), func(t *testing.T) {
			var got *tensor.Tensor
			switch c.Name {
			case "linspace":
				got = tensor.Linspace(c.Args.f("start"), c.Args.f("end"), c.Args.i("n"))
			case "arange":
				got = tensor.Arange(c.Args.f("start"), c.Args.f("end"), c.Args.f("step"))
			case "eye":
				got = tensor.Eye(c.Args.i("n"))
			}
			want := c.fixTensor
			if err := compare(got, &want, c.Name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTypePromotionMatchesPyTorch(t *testing.T) {
	var fx struct {
		Cases []struct {
			A, B        string
			ADims       bool `json:"a_dims"`
			BDims       bool `json:"b_dims"`
			Result, Add string
			Div         string
		} `json:"cases"`
	}
	loadJSON(t, "promotion.json", &fx)
	all := map[string]tensor.DType{"float16": tensor.Float16, "bfloat16": tensor.BFloat16}
	for k, v := range dtypes {
		all[k] = v
	}
	mk := func(dt string, dims bool) *tensor.Tensor {
		if dims {
			return tensor.Ones(2).To(all[dt])
		}
		return tensor.Scalar(1).To(all[dt])
	}
	for _, c := range fx.Cases {
		name := fmt.Sprintf("%s%v+%s%v", c.A, c.ADims, c.B, c.BDims)
		t.Run(name, func(t *testing.T) {
			x, y := mk(c.A, c.ADims), mk(c.B, c.BDims)
			var sum *tensor.Tensor
			err := tensor.Try(func() { sum = x.Add(y) })
			if c.Add == "" {
				if err == nil {
					t.Fatalf("add gave %v; torch refuses", sum.DType())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := sum.DType().String(); got != c.Add {
				t.Errorf("add: %s, torch gives %s", got, c.Add)
			}
			if got := x.Div(y).DType().String(); got != c.Div {
				t.Errorf("div: %s, torch gives %s", got, c.Div)
			}
		})
	}
}
