package data

import (
	"encoding/json"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/tensor"
)

// fixtures is testdata/fixtures.json, written by testdata/gen_fixtures.py
// with numpy, torch and torchvision.
type fixtureTensor struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type fixtures struct {
	Distributed []struct {
		N        int     `json:"n"`
		World    int     `json:"world"`
		DropLast bool    `json:"drop_last"`
		Len      int     `json:"len"`
		Ranks    [][]int `json:"ranks"`
	} `json:"distributed"`
	PadSequence struct {
		Seqs       [][][]float64 `json:"seqs"`
		Pad        float64       `json:"pad"`
		BatchFirst fixtureTensor `json:"batch_first"`
		TimeFirst  fixtureTensor `json:"time_first"`
	} `json:"pad_sequence"`
	Transforms struct {
		Input fixtureTensor            `json:"input"`
		Cases map[string]fixtureTensor `json:"cases"`
	} `json:"transforms"`
	ImageFolder struct {
		Classes []string `json:"classes"`
		Samples [][2]any `json:"samples"`
	} `json:"image_folder"`
	FashionMNIST *struct {
		Dir   string       `json:"dir"`
		Train fashionSplit `json:"train"`
		Test  fashionSplit `json:"test"`
	} `json:"fashion_mnist"`
}

type fashionSplit struct {
	Count       int   `json:"count"`
	Histogram   []int `json:"histogram"`
	FirstLabels []int `json:"first_labels"`
	Picks       []int `json:"picks"`
	PickLabels  []int `json:"pick_labels"`
	PickSums    []int `json:"pick_sums"`
	Probes      []struct {
		Index, Row, Col, Value int
	} `json:"probes"`
	Mean float64 `json:"mean"`
}

var (
	fixOnce sync.Once
	fix     fixtures
	fixErr  error
)

func loadFixtures(t testing.TB) *fixtures {
	t.Helper()
	fixOnce.Do(func() {
		b, err := os.ReadFile("testdata/fixtures.json")
		if err != nil {
			fixErr = err
			return
		}
		fixErr = json.Unmarshal(b, &fix)
	})
	if fixErr != nil {
		t.Fatalf("fixtures: %v", fixErr)
	}
	return &fix
}

func (f fixtureTensor) tensor() *tensor.Tensor {
	v := make([]float32, len(f.Data))
	for i, x := range f.Data {
		v[i] = float32(x)
	}
	return tensor.FromSlice(v, f.Shape...)
}

// assertClose checks shape and values of got against want within tol.
func assertClose(t *testing.T, name string, got *tensor.Tensor, want fixtureTensor, tol float64) {
	t.Helper()
	if !sameShape(got.Shape(), want.Shape) {
		t.Fatalf("%s: shape %v, want %v", name, got.Shape(), want.Shape)
	}
	g := got.Float64s()
	for i := range g {
		if math.Abs(g[i]-want.Data[i]) > tol {
			t.Fatalf("%s: element %d = %v, want %v", name, i, g[i], want.Data[i])
		}
	}
}

// goroutines returns the goroutine count once it is stable, and a check
// that polls until the count is back to it (goleak-style).
func goroutines(t *testing.T) func() {
	t.Helper()
	runtime.GC()
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Fatalf("goroutine leak: %d goroutines, %d before\n%s", n, before, dataStacks(string(buf)))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// dataStacks keeps the goroutine stacks that mention this package.
func dataStacks(all string) string {
	var keep []string
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "tapir/data.") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}
