package torchfile_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/tapir-ml/tapir/tensor"
	"github.com/tapir-ml/tapir/zoo/torchfile"
)

// A state dict saved with Save is a file torch.load reads; Load reads it
// back, or one that torch.save wrote.
func Example() {
	dir, err := os.MkdirTemp("", "torchfile")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "linear.pt")

	sd := map[string]*tensor.Tensor{
		"weight": tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3),
		"bias":   tensor.FromSlice([]float32{0.5, -0.5}),
	}
	if err := torchfile.Save(path, sd, []string{"weight", "bias"}); err != nil {
		log.Fatal(err)
	}
	// In Python: torch.load(path) gives
	// OrderedDict([('weight', tensor([[1., 2., 3.], [4., 5., 6.]])), ('bias', tensor([ 0.5000, -0.5000]))])

	loaded, order, err := torchfile.Load(path)
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range order {
		t := loaded[name]
		fmt.Println(name, t.DType(), t.Shape(), t.Float32s())
	}
	// Output:
	// weight float32 [2 3] [1 2 3 4 5 6]
	// bias float32 [2] [0.5 -0.5]
}

// Load finds the state dict inside a training checkpoint, here the one
// gen_fixtures.py saved as {"epoch": 7, "state_dict": …, "optimizer": …,
// "args": argparse.Namespace(…)}.
func ExampleLoad() {
	sd, order, err := torchfile.Load(filepath.Join("testdata", "nested.pt"))
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range order {
		fmt.Println(name, sd[name].DType(), sd[name].Shape())
	}
	// Output:
	// fc.weight float32 [3 4]
	// fc.bias float32 [3]
	// bn.running_mean float64 [3]
	// bn.num_batches_tracked int64 []
	// mask bool [3]
}
