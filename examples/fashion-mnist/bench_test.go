package main

import (
	"context"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/data"
)

// benchTrainSet returns the full training split when it is on this
// machine (no download), else the embedded subset.
func benchTrainSet(b *testing.B) *data.MNISTDataset {
	ds, err := data.LoadFashionMNIST(context.Background(), data.MNISTConfig{Train: true, NoDownload: true})
	if err != nil {
		b.Logf("full dataset not found (%v); using the embedded subset", err)
		if ds, err = readSubset("train"); err != nil {
			b.Fatal(err)
		}
	}
	return ds
}

// benchmarkLoaderEpoch loads one epoch of augmented training batches per
// iteration: each image goes through RandomCrop(28, padding 2) and
// RandomHorizontalFlip (tensor ops, as -augment does), then an elastic
// distortion (alpha 8, sigma 3, in plain Go on the pixels) and Normalize,
// one sample at a time; StackSamples makes batches of 64. Nothing trains:
// it measures the loader alone. Besides the wall time per epoch it reports
// the process's CPU time per epoch and "cores", CPU time over wall time:
// the number of cores the loader kept busy, which stays meaningful on a
// machine that other work shares (where wall times are not).
func benchmarkLoaderEpoch(b *testing.B, workers int) {
	ds := benchTrainSet(b)
	heavy := data.Compose(data.RandomCrop(28, 2), data.RandomHorizontalFlip(0.5), newElastic(8, 3),
		data.Normalize([]float64{pixelMean}, []float64{pixelStd}))
	loader := data.NewLoader[data.Sample, data.Sample](data.WithTransform(ds, heavy, 1),
		data.LoaderConfig{BatchSize: 64, Shuffle: true, Workers: workers, Seed: 1}, data.StackSamples)
	ctx := context.Background()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	samples := 0
	for range b.N {
		for batch, err := range loader.All(ctx) {
			if err != nil {
				b.Fatal(err)
			}
			samples += batch.Target.Numel()
		}
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/epoch")
	b.ReportMetric(float64(samples)/elapsed.Seconds(), "samples/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/epoch")
		b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores")
	}
}

// BenchmarkLoaderEpochWorkers0 loads the batches in the consumer's
// goroutine.
func BenchmarkLoaderEpochWorkers0(b *testing.B) { benchmarkLoaderEpoch(b, 0) }

// BenchmarkLoaderEpochWorkers2 loads them with two worker goroutines.
func BenchmarkLoaderEpochWorkers2(b *testing.B) { benchmarkLoaderEpoch(b, 2) }
