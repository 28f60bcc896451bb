// Command fashion-mnist trains a small convolutional network on Zalando's
// Fashion-MNIST (28×28 grey images of clothes in 10 classes) and reaches
// over 91% test accuracy in a few epochs on two CPU cores. It shows a
// whole training program in Tapir: a data.Loader with worker goroutines,
// nn layers, Adam with a cosine learning-rate schedule, a progress bar,
// metrics logged with log/slog, a checkpoint each epoch that -resume
// continues from bit for bit, and loss and accuracy curves as a PNG plot
// and, with -tb, as TensorBoard event files.
//
//	go run ./examples/fashion-mnist
//	go run ./examples/fashion-mnist -epochs 10 -tb runs
//	go run ./examples/fashion-mnist -resume
//
// The data comes from data.FashionMNIST: -data DIR, the user cache, or
// Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist),
// or else a download from the official mirrors. With none of these it
// trains on a subset of 3000 training and 1000 test images embedded in
// this program, and says so.
package main

import (
	"bytes"
	"context"
	"embed"
	"flag"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/optim/train"
	"github.com/tapir-ml/tapir/tensor"
)

// subset holds the bundled images: see subset/make_subset.go and
// subset/LICENSE (MIT, Zalando SE).
//
//go:embed subset/*.gz subset/LICENSE
var subset embed.FS

// Fashion-MNIST's pixel mean and standard deviation over the training
// set, on the [0, 1] scale.
const pixelMean, pixelStd = 0.2860, 0.3530

var classes = []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
	"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}

// config is what the flags set.
type config struct {
	epochs, batch, workers, steps int
	lr                            float64
	seed                          uint64
	dataDir                       string
	checkpoint, plot, tb          string
	resume, useSubset, augment    bool
	evalBatch                     int
	evalLimit                     int            // evaluate on the first evalLimit test images only (0: all); for tests
	afterStep                     func(step int) // called after each optimizer step; for tests
}

func main() {
	out := filepath.Join(os.TempDir(), "tapir-fashion-mnist")
	var c config
	flag.IntVar(&c.epochs, "epochs", 4, "epochs to train")
	flag.IntVar(&c.batch, "batch", 64, "batch size")
	flag.Float64Var(&c.lr, "lr", 1e-3, "Adam's learning rate at the start (it follows a cosine down to 0 over the epochs)")
	flag.IntVar(&c.workers, "workers", 2, "loader goroutines that prepare batches while the model trains (0: in the training loop)")
	flag.IntVar(&c.steps, "steps", 0, "stop after this many optimizer steps in all (0: train every epoch); a short run for tests")
	flag.Uint64Var(&c.seed, "seed", 1, "random seed for the weights, the shuffling, dropout and augmentation")
	flag.StringVar(&c.dataDir, "data", "", "directory holding the Fashion-MNIST files (searched before the cache and Debian's path)")
	flag.BoolVar(&c.useSubset, "subset", false, "train on the embedded subset (3000 training, 1000 test images) even if the full data is there")
	flag.BoolVar(&c.augment, "augment", false, "augment the training images (random crop with padding 2, horizontal flip) in the loader")
	flag.StringVar(&c.checkpoint, "checkpoint", filepath.Join(out, "checkpoint.safetensors"), "checkpoint written after each epoch (empty: none)")
	flag.BoolVar(&c.resume, "resume", false, "continue from the -checkpoint file")
	flag.StringVar(&c.plot, "plot", filepath.Join(out, "curves.png"), "PNG plot of the loss and accuracy curves (empty: none)")
	flag.StringVar(&c.tb, "tb", "", "directory for TensorBoard event files (empty: none); view with tensorboard --logdir DIR")
	flag.Parse()
	c.evalBatch = 500

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends the program at once
	}()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if _, err := run(ctx, c, os.Stdout, os.Stderr, logger); err != nil {
		logger.Error("fashion-mnist", "err", err)
		os.Exit(1)
	}
}

// result is what a run reports, for the tests.
type result struct {
	losses     []float64 // the training loss of each step, in order
	testAcc    float64
	epochTimes []time.Duration
	steps      int
	onSubset   bool
}

// CNN is two convolution blocks and a classifier head:
//
//	[N,1,28,28] → conv 3×3 (32) → BN → ReLU → max-pool 2 → [N,32,14,14]
//	            → conv 3×3 (64) → BN → ReLU → max-pool 2 → [N,64,7,7]
//	            → flatten → linear 3136→128 → ReLU → dropout 0.25 → linear 128→10
type CNN struct {
	Conv1 *nn.Conv2d
	BN1   *nn.BatchNorm2d
	Conv2 *nn.Conv2d
	BN2   *nn.BatchNorm2d
	FC1   *nn.Linear
	Drop  *nn.Dropout
	FC2   *nn.Linear
	Pool  *nn.MaxPool2d
}

// NewCNN returns the network with PyTorch's default initialization,
// drawn from tensor.DefaultGenerator.
func NewCNN() *CNN {
	return &CNN{
		Conv1: nn.NewConv2d(1, 32, 3, nn.ConvConfig{Padding: 1}),
		BN1:   nn.NewBatchNorm2d(32),
		Conv2: nn.NewConv2d(32, 64, 3, nn.ConvConfig{Padding: 1}),
		BN2:   nn.NewBatchNorm2d(64),
		FC1:   nn.NewLinear(64*7*7, 128),
		Drop:  nn.NewDropout(0.25),
		FC2:   nn.NewLinear(128, 10),
		Pool:  nn.NewMaxPool2d(2),
	}
}

// Forward maps images [N, 1, 28, 28] to class logits [N, 10].
func (m *CNN) Forward(x *tensor.Tensor) *tensor.Tensor {
	x = m.Pool.Forward(m.BN1.Forward(m.Conv1.Forward(x)).ReLU())
	x = m.Pool.Forward(m.BN2.Forward(m.Conv2.Forward(x)).ReLU())
	x = m.FC1.Forward(x.Flatten(1, -1)).ReLU()
	return m.FC2.Forward(m.Drop.Forward(x))
}

// batches is what the training loop needs of a data.Loader, whatever its
// sample type.
type batches interface {
	All(ctx context.Context) iter.Seq2[data.Sample, error]
	Len() int
	SetEpoch(epoch int)
}

// normalizedBatch returns a collate function that builds a batch straight
// from ds's bytes: inputs [B, 1, 28, 28] normalized with the dataset's
// mean and std, targets [B].
func normalizedBatch(ds *data.MNISTDataset) func([]int) (data.Sample, error) {
	px := ds.Rows * ds.Cols
	var lut [256]float32
	for i := range lut {
		lut[i] = (float32(i)/255 - pixelMean) / pixelStd
	}
	return func(idx []int) (data.Sample, error) {
		v := make([]float32, len(idx)*px)
		labels := make([]int64, len(idx))
		for k, i := range idx {
			if i < 0 || i >= ds.Len() {
				return data.Sample{}, fmt.Errorf("index %d out of range [0, %d)", i, ds.Len())
			}
			dst := v[k*px : (k+1)*px]
			for j, b := range ds.Image(i) {
				dst[j] = lut[b]
			}
			labels[k] = int64(ds.Labels[i])
		}
		return data.Sample{Input: tensor.FromSlice(v, len(idx), 1, ds.Rows, ds.Cols), Target: tensor.FromSlice(labels)}, nil
	}
}

// augmentation is the training transform of -augment: torchvision's
// RandomCrop(28, padding=2), RandomHorizontalFlip() and Normalize.
func augmentation() data.Transform {
	return data.Compose(data.RandomCrop(28, 2), data.RandomHorizontalFlip(0.5),
		data.Normalize([]float64{pixelMean}, []float64{pixelStd}))
}

// newTrainLoader returns the shuffling training loader: batches collated
// from the raw bytes, or, with augment, samples transformed one by one
// (each with its own random source, so the batches do not depend on the
// number of workers).
func newTrainLoader(ds *data.MNISTDataset, batch, workers int, seed uint64, augment bool) batches {
	cfg := data.LoaderConfig{BatchSize: batch, Shuffle: true, Workers: workers, Seed: seed}
	if augment {
		return data.NewLoader[data.Sample, data.Sample](data.WithTransform(ds, augmentation(), seed), cfg, data.StackSamples)
	}
	return data.NewLoader(data.Indices(ds.Len()), cfg, normalizedBatch(ds))
}

// loadFull finds or downloads the full dataset; tests replace it.
var loadFull = data.LoadFashionMNIST

// loadData returns the training and test splits: the full dataset where
// data.LoadFashionMNIST finds or downloads it, else the embedded subset.
func loadData(ctx context.Context, c config, stderr io.Writer) (trainDS, testDS *data.MNISTDataset, onSubset bool, err error) {
	if !c.useSubset {
		trainDS, err = loadFull(ctx, data.MNISTConfig{Dir: c.dataDir, Train: true, Progress: stderr})
		if err == nil {
			testDS, err = loadFull(ctx, data.MNISTConfig{Dir: c.dataDir, Progress: stderr})
		}
		if err == nil {
			return trainDS, testDS, false, nil
		}
		if ctx.Err() != nil {
			return nil, nil, false, err
		}
		fmt.Fprintf(stderr, "fashion-mnist: the full dataset is not on this machine and could not be downloaded:\n  %v\n", err)
		fmt.Fprintf(stderr, "fashion-mnist: TRAINING ON THE BUNDLED SUBSET (3000 training and 1000 test images, MIT-licensed by Zalando SE);\n"+
			"  expect well under 91%% accuracy. For the full 60000+10000 images: apt-get install dataset-fashion-mnist,\n"+
			"  or run once with network access (the files go to the user cache), or pass -data DIR.\n")
	}
	trainDS, err = readSubset("train")
	if err == nil {
		testDS, err = readSubset("t10k")
	}
	return trainDS, testDS, true, err
}

func readSubset(prefix string) (*data.MNISTDataset, error) {
	read := func(name string) (*data.IDX, error) {
		b, err := subset.ReadFile("subset/" + name)
		if err != nil {
			return nil, err
		}
		return data.ReadIDX(bytes.NewReader(b))
	}
	img, err := read(prefix + "-images-idx3-ubyte.gz")
	if err != nil {
		return nil, err
	}
	lab, err := read(prefix + "-labels-idx1-ubyte.gz")
	if err != nil {
		return nil, err
	}
	return &data.MNISTDataset{Images: img.Data, Labels: lab.Data, Rows: img.Shape[1], Cols: img.Shape[2],
		Classes: classes, Dir: "(embedded subset)"}, nil
}

// evaluate returns the mean loss and the accuracy of m on the first n
// images of ds (all of them when n is 0), in eval mode and recording
// nothing for autograd.
func evaluate(m *CNN, ds *data.MNISTDataset, batch, n int) (loss, acc float64, err error) {
	nn.Eval(m)
	defer nn.Train(m)
	if n <= 0 || n > ds.Len() {
		n = ds.Len()
	}
	collate := normalizedBatch(ds)
	var mean train.Mean
	var a train.Accuracy
	idx := make([]int, 0, batch)
	for start := 0; start < n; start += batch {
		idx = idx[:0]
		for i := start; i < min(start+batch, n); i++ {
			idx = append(idx, i)
		}
		b, err := collate(idx)
		if err != nil {
			return 0, 0, err
		}
		autograd.NoGrad(func() {
			logits := m.Forward(b.Input)
			mean.Add(F.CrossEntropy(logits, b.Target).Item(), len(idx))
			a.Add(logits, b.Target)
		})
	}
	return mean.Value(), a.Value(), nil
}

// run trains as c says, writing the progress and the logs to stderr and
// the closing summary to stdout.
func run(ctx context.Context, c config, stdout, stderr io.Writer, logger *slog.Logger) (*result, error) {
	if c.epochs <= 0 || c.batch <= 0 || c.workers < 0 || c.steps < 0 || c.lr <= 0 {
		return nil, fmt.Errorf("-epochs, -batch and -lr must be positive, -workers and -steps not negative")
	}
	trainDS, testDS, onSubset, err := loadData(ctx, c, stderr)
	if err != nil {
		return nil, err
	}
	logger.Info("data", "train", trainDS.Len(), "test", testDS.Len(), "from", trainDS.Dir,
		"batch", c.batch, "workers", c.workers, "augment", c.augment, "threads", runtime.GOMAXPROCS(0))

	tensor.ManualSeed(c.seed)
	model := NewCNN()
	opt := optim.NewAdam(nn.Parameters(model), optim.AdamConfig{LR: c.lr})
	sched := optim.NewCosineAnnealingLR(opt, c.epochs, 0)
	loader := newTrainLoader(trainDS, c.batch, c.workers, c.seed, c.augment)
	var hist train.History

	step := 0
	if c.resume {
		ck := train.Checkpoint{Model: model, Optimizer: opt, Scheduler: sched, History: &hist}
		if err := train.LoadCheckpoint(c.checkpoint, &ck); err != nil {
			return nil, err
		}
		step = ck.Step
		hist.Truncate(step)
		logger.Info("resumed", "checkpoint", c.checkpoint, "epoch", ck.Epoch, "step", step)
	}
	var tb *train.SummaryWriter
	if c.tb != "" {
		if tb, err = train.NewSummaryWriter(c.tb); err != nil {
			return nil, err
		}
		defer tb.Close()
	}
	toTB := func(name string, v float64) {
		if tb != nil {
			if err := tb.AddScalar(name, v, step); err != nil {
				logger.Warn("tensorboard", "err", err)
			}
		}
	}
	scalar := func(name string, v float64) {
		hist.Add(step, name, v)
		toTB(name, v)
	}
	// The plot gets the training loss averaged over windows of 20 steps
	// (one batch's loss is noisy); TensorBoard, which smooths on its own,
	// gets every step's.
	const window = 20
	var recent train.Mean

	// save writes a checkpoint atomically: the model, the optimizer and
	// scheduler, the position (epoch to start from, optimizer steps done)
	// and the curves so far.
	save := func(epoch, step int, testAcc float64) error {
		if err := os.MkdirAll(filepath.Dir(c.checkpoint), 0o755); err != nil {
			return err
		}
		extra := map[string]float64{}
		if !math.IsNaN(testAcc) {
			extra["test_acc"] = testAcc
		}
		return train.SaveCheckpoint(c.checkpoint, train.Checkpoint{Model: model, Optimizer: opt, Scheduler: sched,
			Epoch: epoch, Step: step, History: &hist, Extra: extra})
	}

	res := &result{onSubset: onSubset}
	startStep := step
	nb := loader.Len()
	total := c.epochs * nb
	if c.steps > 0 {
		total = min(total, c.steps)
	}
	for epoch := step / nb; step < total; epoch++ {
		loader.SetEpoch(epoch)
		skip := step - epoch*nb // batches of this epoch done before a resume
		whole := skip == 0      // an epoch timed from its start
		bar := train.NewProgress(stderr, fmt.Sprintf("epoch %d/%d", epoch+1, c.epochs), nb)
		bar.Unit = "batch"
		bar.Add(skip)
		var m train.Metrics
		start := time.Now()
		for b, err := range loader.All(ctx) {
			if err != nil {
				if ctx.Err() != nil && c.checkpoint != "" && step > startStep {
					// Interrupted (Ctrl-C): keep what was trained. The
					// checkpoint records the step, so -resume skips the
					// batches of this epoch already seen.
					if err := save(epoch, step, math.NaN()); err != nil {
						return nil, err
					}
					logger.Info("interrupted: checkpoint saved; continue with -resume", "checkpoint", c.checkpoint, "step", step)
				}
				return nil, err
			}
			if skip > 0 {
				skip--
				continue
			}
			opt.ZeroGrad()
			logits := model.Forward(b.Input)
			loss := F.CrossEntropy(logits, b.Target)
			loss.Backward()
			opt.Step()
			step++
			if c.afterStep != nil {
				c.afterStep(step)
			}

			n, l := b.Target.Numel(), loss.Item()
			m.Add("loss", l, n)
			m.Add("acc", float64(train.Correct(logits, b.Target))/float64(n), n)
			res.losses = append(res.losses, l)
			toTB("train/loss", l)
			if recent.Add(l, 1); step%window == 0 || step == total {
				hist.Add(step, "train/loss", recent.Value())
				recent.Reset()
			}
			bar.Set("loss", m.Value("loss"))
			bar.Set("acc", m.Value("acc"))
			bar.Add(1)
			if step >= total {
				break
			}
		}
		bar.Finish()
		elapsed := time.Since(start)
		done := step == (epoch+1)*nb // a whole epoch, not cut short by -steps
		if done {
			sched.Step()
			if whole {
				res.epochTimes = append(res.epochTimes, elapsed)
			}
		}

		evalStart := time.Now()
		testLoss, testAcc, err := evaluate(model, testDS, c.evalBatch, c.evalLimit)
		if err != nil {
			return nil, err
		}
		res.testAcc = testAcc
		scalar("train/acc", m.Value("acc"))
		scalar("test/loss", testLoss)
		scalar("test/acc", testAcc)
		logger.Info("epoch", "epoch", fmt.Sprintf("%d/%d", epoch+1, c.epochs), "test_acc", round(testAcc, 4),
			"epoch_time", elapsed.Round(10*time.Millisecond), "complete", done,
			"train_loss", round(m.Value("loss"), 4), "train_acc", round(m.Value("acc"), 4),
			"test_loss", round(testLoss, 4), "eval_time", time.Since(evalStart).Round(10*time.Millisecond),
			"lr", opt.ParamGroups()[0].LR())

		if c.checkpoint != "" {
			ckEpoch := epoch
			if done {
				ckEpoch++
			}
			if err := save(ckEpoch, step, testAcc); err != nil {
				return nil, err
			}
		}
	}
	res.steps = step
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if res.steps == startStep { // resumed at the end: nothing was trained or evaluated
		if _, res.testAcc, err = evaluate(model, testDS, c.evalBatch, c.evalLimit); err != nil {
			return nil, err
		}
	}

	if c.plot != "" && len(hist.Names()) > 0 {
		if err := os.MkdirAll(filepath.Dir(c.plot), 0o755); err != nil {
			return nil, err
		}
		if err := hist.WritePNG(c.plot); err != nil {
			return nil, err
		}
	}
	var perEpoch time.Duration
	for _, d := range res.epochTimes {
		perEpoch += d
	}
	what := "the full test set"
	if onSubset {
		what = "the bundled subset's test images"
	}
	fmt.Fprintf(stdout, "test accuracy %.2f%% on %s after %d steps", 100*res.testAcc, what, step)
	if len(res.epochTimes) > 0 {
		fmt.Fprintf(stdout, "; %.1f s per training epoch (mean of %d, %d threads)",
			(perEpoch / time.Duration(len(res.epochTimes))).Seconds(), len(res.epochTimes), runtime.GOMAXPROCS(0))
	}
	fmt.Fprintln(stdout)
	if c.checkpoint != "" {
		fmt.Fprintf(stdout, "checkpoint: %s\n", c.checkpoint)
	}
	if c.plot != "" {
		fmt.Fprintf(stdout, "curves: %s\n", c.plot)
	}
	if tb != nil {
		fmt.Fprintf(stdout, "tensorboard: tensorboard --logdir %s\n", c.tb)
	}
	return res, nil
}

// round rounds v to digits decimals, for readable logs.
func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
