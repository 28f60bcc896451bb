package data_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/tensor"
)

func ExampleLoader() {
	// ten samples: input [2] filled with i, target class i mod 3
	var samples []data.Sample
	for i := range 10 {
		samples = append(samples, data.Sample{Input: tensor.Full(float64(i), 2), Target: data.Label(i % 3)})
	}
	loader := data.NewLoader(data.FromSlice(samples), data.LoaderConfig{BatchSize: 4, Workers: 2}, data.StackSamples)
	fmt.Println("batches per epoch:", loader.Len())
	for batch, err := range loader.All(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(batch.Input.Shape(), batch.Target.Int64s())
	}
	// Output:
	// batches per epoch: 3
	// [4 2] [0 1 2 0]
	// [4 2] [1 2 0 1]
	// [2 2] [2 0]
}

func ExampleFashionMNIST() {
	train, err := data.FashionMNIST("", true) // cache, Debian's package, or a download
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(train.Len(), "images of", train.Rows, "×", train.Cols)
	loader := data.NewLoader(train, data.LoaderConfig{BatchSize: 64, Shuffle: true, Seed: 1, Workers: 2}, data.StackSamples)
	for batch, err := range loader.All(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(batch.Input.Shape(), batch.Target.Shape()) // [64 1 28 28] [64]
		break
	}
}

func ExampleMNISTDataset_Batch() {
	ds := &data.MNISTDataset{ // two 2×2 images, as FashionMNIST would load them
		Images: []uint8{0, 255, 51, 102, 255, 255, 0, 0},
		Labels: []uint8{7, 3},
		Rows:   2, Cols: 2,
	}
	loader := data.NewLoader(data.Indices(ds.Len()), data.LoaderConfig{BatchSize: 2}, ds.Batch)
	for b, err := range loader.All(context.Background()) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(b.Input.Shape(), b.Input.Float32s()[:4], b.Target.Int64s())
	}
	// Output: [2 1 2 2] [0 1 0.2 0.4] [7 3]
}

func ExamplePadSequences() {
	a := tensor.FromSlice([]int64{1, 2, 3})
	b := tensor.FromSlice([]int64{4})
	padded, lengths := data.PadSequences([]*tensor.Tensor{a, b}, true, 0)
	fmt.Println(padded.Shape(), padded.Int64s(), lengths)
	// Output: [2 3] [1 2 3 4 0 0] [3 1]
}

func ExampleReadCSV() {
	csv := "x1,x2,label\n0.5,1.5,cat\n2,3,dog\n"
	ds, err := data.ReadCSV(strings.NewReader(csv), data.CSVConfig{Label: "label"})
	if err != nil {
		log.Fatal(err)
	}
	s, _ := ds.At(1)
	fmt.Println(ds.Classes, s.Input.Float32s(), s.Target.Item())
	// Output: [cat dog] [2 3] 1
}

func ExampleReadText() {
	corpus, err := data.ReadText(strings.NewReader("abracadabra"), data.CharLevel)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(corpus.Vocab.Tokens, corpus.IDs)
	w := corpus.Windows(4, 0) // non-overlapping windows of 4 with targets one later
	s, _ := w.At(1)
	fmt.Println(w.Len(), corpus.Vocab.Decode(s.Input.Int64s()), corpus.Vocab.Decode(s.Target.Int64s()))
	// Output:
	// [a b c d r] [0 1 4 0 2 0 3 0 1 4 0]
	// 2 cada adab
}

func ExampleDistributedSampler() {
	for rank := range 3 {
		s := data.DistributedSampler{N: 10, Rank: rank, WorldSize: 3}
		fmt.Println(rank, s.Indices(0))
	}
	// Output:
	// 0 [0 3 6 9]
	// 1 [1 4 7 0]
	// 2 [2 5 8 1]
}

func ExampleWithTransform() {
	img := tensor.Rand(3, 32, 32)
	train := data.WithTransform(data.FromSlice([]data.Sample{{Input: img, Target: data.Label(0)}}),
		data.Compose(
			data.RandomCrop(32, 4),
			data.RandomHorizontalFlip(0.5),
			data.Normalize([]float64{0.5, 0.5, 0.5}, []float64{0.25, 0.25, 0.25}),
		), 42)
	s, _ := train.At(0)
	fmt.Println(s.Input.Shape())
	// Output: [3 32 32]
}
