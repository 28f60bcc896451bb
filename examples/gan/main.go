// Command gan trains a small DCGAN (Radford, Metz and Chintala, 2015) to
// draw Fashion-MNIST clothes, and writes a PNG grid of samples after every
// epoch and at the end.
//
// The generator maps a noise vector z ~ N(0, I) through a Linear layer to
// 7×7 feature maps, then two stride-2 transposed convolutions (with batch
// norm and ReLU between) up to a 28×28 image squashed into [−1, 1] by Tanh.
// The discriminator mirrors it: two stride-2 convolutions with LeakyReLU
// (batch norm on the second, as in DCGAN) and a Linear layer that gives one
// logit, "real" versus "generated". Both are trained with Adam (lr 2e-4,
// β = (0.5, 0.999)) on the binary cross-entropy of those logits, the
// generator on the non-saturating loss −log D(G(z)).
//
// Fashion-MNIST is read from the directory given by -data, the user cache
// or Debian's dataset-fashion-mnist package (apt-get install
// dataset-fashion-mnist); the program does not download it. With
// -data synthetic it trains on generated images of bright blobs instead,
// which needs no files (the tests use this).
//
//	go run ./examples/gan
//	go run ./examples/gan -epochs 10 -train-size 0 -out samples
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	nninit "github.com/tapir-ml/tapir/nn/init"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// config holds the command-line options.
type config struct {
	Data      string // a directory with Fashion-MNIST, "" for the usual places, or "synthetic"
	TrainSize int    // images per epoch, taken from the start of a fixed shuffle of the split; 0: all
	Epochs    int
	Steps     int // stop after this many steps in all (0: no cap)
	Batch     int
	NZ        int // noise dimension
	NGF, NDF  int // feature maps of the generator's and the discriminator's last and first layers
	LR        float64
	Seed      uint64
	OutDir    string    // where the PNGs and weights go; "" writes nothing
	Log       io.Writer // progress; nil means io.Discard
	LogEvery  int       // steps between progress lines; 0 never

	// Where else to look for Fashion-MNIST; nil means data's defaults
	// (the user cache and Debian's path). The tests set them to hide the
	// installed data.
	cacheDir   string
	systemDirs []string
}

// stepStats is what one training step measured.
type stepStats struct {
	LossD, LossG float64
	// AccD is the discriminator's accuracy on the step's real and fake
	// batches before its update (logit > 0 means "real").
	AccD float64
	// DReal, DFake are the mean probabilities D gave the real and the
	// generated images.
	DReal, DFake float64
}

// result is what run measured.
type result struct {
	Steps   []stepStats
	Epochs  int
	Images  []string // PNG files written
	Elapsed time.Duration
	// DataMean is the mean pixel value (in [−1, 1]) of the training
	// images; SampleMean0 and SampleMean the mean pixel of the generator's
	// samples of the fixed noise before training and at the end.
	DataMean, SampleMean0, SampleMean float64
	Dataset                           string

	lastEpochStart int // index in Steps of the last epoch's first step
}

func main() {
	var cfg config
	flag.StringVar(&cfg.Data, "data", "", `Fashion-MNIST directory ("" looks in the user cache and Debian's path), or "synthetic" for generated blobs`)
	flag.IntVar(&cfg.TrainSize, "train-size", 20000, "training images per epoch (a fixed random subset; 0 uses all 60000)")
	flag.IntVar(&cfg.Epochs, "epochs", 3, "epochs")
	flag.IntVar(&cfg.Steps, "steps", 0, "stop after this many steps in all (0: no cap)")
	flag.IntVar(&cfg.Batch, "batch", 32, "batch size")
	flag.IntVar(&cfg.NZ, "nz", 64, "noise dimension")
	flag.IntVar(&cfg.NGF, "ngf", 32, "generator width (feature maps before the last layer)")
	flag.IntVar(&cfg.NDF, "ndf", 32, "discriminator width (feature maps of the first layer)")
	flag.Float64Var(&cfg.LR, "lr", 2e-4, "Adam learning rate (both networks)")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	flag.StringVar(&cfg.OutDir, "out", filepath.Join(os.TempDir(), "tapir-gan"), "directory for the sample grids and the trained weights")
	flag.Parse()
	cfg.Log = os.Stdout
	cfg.LogEvery = 50
	res, err := run(context.Background(), cfg)
	if errors.Is(err, errNoData) {
		fmt.Fprintln(os.Stderr, err)
		fmt.Fprintln(os.Stderr, "Install it with `apt-get install dataset-fashion-mnist`, put the four IDX files in a directory and pass -data DIR, or run with -data synthetic.")
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("done: %d steps, %d epochs in %v; over the last epoch: %s\n", len(res.Steps), res.Epochs, res.Elapsed.Round(time.Second),
		summary(res.Steps[res.lastEpochStart:]))
}

var errNoData = errors.New("gan: Fashion-MNIST not found")

// generator: z [B, nz] → image [B, 1, 28, 28] in [−1, 1].
func newGenerator(nz, ngf int, g *tensor.Generator) *nn.Sequential {
	return nn.NewSequential(
		nn.NewLinear(nz, 2*ngf*7*7, nn.LinearConfig{Generator: g}),
		nn.NewUnflatten(1, 2*ngf, 7, 7),
		nn.NewBatchNorm2d(2*ngf),
		nn.NewReLU(),
		nn.NewConvTranspose2d(2*ngf, ngf, 4, nn.ConvConfig{Stride: 2, Padding: 1, NoBias: true, Generator: g}), // 14×14
		nn.NewBatchNorm2d(ngf),
		nn.NewReLU(),
		nn.NewConvTranspose2d(ngf, 1, 4, nn.ConvConfig{Stride: 2, Padding: 1, Generator: g}), // 28×28
		nn.NewTanh(),
	)
}

// discriminator: image [B, 1, 28, 28] → logit [B, 1].
func newDiscriminator(ndf int, g *tensor.Generator) *nn.Sequential {
	return nn.NewSequential(
		nn.NewConv2d(1, ndf, 4, nn.ConvConfig{Stride: 2, Padding: 1, Generator: g}), // 14×14
		nn.NewLeakyReLU(0.2),
		nn.NewConv2d(ndf, 2*ndf, 4, nn.ConvConfig{Stride: 2, Padding: 1, NoBias: true, Generator: g}), // 7×7
		nn.NewBatchNorm2d(2*ndf),
		nn.NewLeakyReLU(0.2),
		nn.NewFlatten(),
		nn.NewLinear(2*ndf*7*7, 1, nn.LinearConfig{Generator: g}),
	)
}

// dcganInit draws weights as the DCGAN paper does: convolution and linear
// weights from N(0, 0.02²), batch-norm scales from N(1, 0.02²), biases 0.
func dcganInit(m *nn.Sequential, g *tensor.Generator) {
	for _, l := range m.Layers {
		switch l := l.(type) {
		case *nn.Linear:
			nninit.Normal(l.Weight.Tensor, 0, 0.02, g)
			nninit.Zeros(l.Bias.Tensor)
		case *nn.Conv2d:
			nninit.Normal(l.Weight.Tensor, 0, 0.02, g)
			if l.Bias != nil {
				nninit.Zeros(l.Bias.Tensor)
			}
		case *nn.ConvTranspose2d:
			nninit.Normal(l.Weight.Tensor, 0, 0.02, g)
			if l.Bias != nil {
				nninit.Zeros(l.Bias.Tensor)
			}
		case *nn.BatchNorm2d:
			nninit.Normal(l.Weight.Tensor, 1, 0.02, g)
			nninit.Zeros(l.Bias.Tensor)
		}
	}
}

// images is a source of training batches in [−1, 1].
type images interface {
	Len() int
	batch(idx []int) *tensor.Tensor // [len(idx), 1, 28, 28]
}

// fashion serves Fashion-MNIST images rescaled from [0, 1] to [−1, 1].
type fashion struct {
	ds     *data.MNISTDataset
	subset []int // the images used, by index into ds
}

func (f *fashion) Len() int { return len(f.subset) }

func (f *fashion) batch(idx []int) *tensor.Tensor {
	rows := make([]int, len(idx))
	for i, j := range idx {
		rows[i] = f.subset[j]
	}
	b, err := f.ds.Batch(rows)
	if err != nil {
		panic(err) // indices come from a permutation of Len: cannot fail
	}
	return b.Input.MulScalar(2).SubScalar(1)
}

// blobs are synthetic 28×28 images: one or two bright Gaussian spots of
// random size and place on a dark background, in [−1, 1]. They stand in
// for Fashion-MNIST where it is not installed.
type blobs struct{ pix []float32 }

func newBlobs(n int, g *tensor.Generator) *blobs {
	u := g.Uniform(tensor.Float64, 0, 1, n, 7).Float64s()
	pix := make([]float32, n*28*28)
	for i := range n {
		r := u[7*i : 7*i+7]
		spots := 1
		if r[6] < 0.5 {
			spots = 2
		}
		for y := range 28 {
			for x := range 28 {
				v := 0.0
				for s := range spots {
					cx, cy := 7+14*r[3*s], 7+14*r[3*s+1]
					sigma := 1.5 + 2.5*r[3*s+2]
					d2 := (float64(x)-cx)*(float64(x)-cx) + (float64(y)-cy)*(float64(y)-cy)
					v = math.Max(v, math.Exp(-d2/(2*sigma*sigma)))
				}
				pix[i*784+y*28+x] = float32(2*v - 1)
			}
		}
	}
	return &blobs{pix: pix}
}

func (b *blobs) Len() int { return len(b.pix) / 784 }

func (b *blobs) batch(idx []int) *tensor.Tensor {
	out := make([]float32, 0, len(idx)*784)
	for _, i := range idx {
		out = append(out, b.pix[i*784:(i+1)*784]...)
	}
	return tensor.FromSlice(out, len(idx), 1, 28, 28)
}

// loadImages opens the training data the config names.
func loadImages(ctx context.Context, cfg config, g *tensor.Generator) (images, string, error) {
	if cfg.Data == "synthetic" {
		n := cfg.TrainSize
		if n <= 0 {
			n = 10000
		}
		return newBlobs(n, g), fmt.Sprintf("synthetic blobs (%d images)", n), nil
	}
	mc := data.MNISTConfig{Dir: cfg.Data, Train: true, NoDownload: true, CacheDir: cfg.cacheDir, SystemDirs: cfg.systemDirs}
	ds, err := data.LoadFashionMNIST(ctx, mc)
	if err != nil {
		return nil, "", fmt.Errorf("%w (looked in -data, the user cache and %s): %v", errNoData, data.DebianFashionMNISTDir, err)
	}
	perm := g.RandPerm(ds.Len()).Int64s()
	n := cfg.TrainSize
	if n <= 0 || n > ds.Len() {
		n = ds.Len()
	}
	subset := make([]int, n)
	for i := range subset {
		subset[i] = int(perm[i])
	}
	return &fashion{ds: ds, subset: subset}, fmt.Sprintf("Fashion-MNIST from %s (%d of %d training images)", ds.Dir, n, ds.Len()), nil
}

func run(ctx context.Context, cfg config) (*result, error) {
	if cfg.Epochs < 1 || cfg.Batch < 2 || cfg.NZ < 1 || cfg.NGF < 1 || cfg.NDF < 1 || cfg.LR <= 0 {
		return nil, errors.New("gan: epochs, nz, ngf, ndf and lr must be positive and batch at least 2")
	}
	out := cfg.Log
	if out == nil {
		out = io.Discard
	}

	gen := tensor.NewGenerator(cfg.Seed)
	imgs, desc, err := loadImages(ctx, cfg, gen)
	if err != nil {
		return nil, err
	}
	if imgs.Len() < cfg.Batch {
		return nil, fmt.Errorf("gan: %d training images, fewer than one batch of %d", imgs.Len(), cfg.Batch)
	}
	if cfg.OutDir != "" {
		if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
			return nil, err
		}
	}

	netG := newGenerator(cfg.NZ, cfg.NGF, gen)
	netD := newDiscriminator(cfg.NDF, gen)
	dcganInit(netG, gen)
	dcganInit(netD, gen)
	adam := optim.AdamConfig{LR: cfg.LR, Betas: [2]float64{0.5, 0.999}}
	optG := optim.NewAdam(nn.Parameters(netG), adam)
	optD := optim.NewAdam(nn.Parameters(netD), adam)

	res := &result{Dataset: desc}
	fixedNoise := gen.Randn(64, cfg.NZ) // the same 64 codes for every grid
	sample := func() *tensor.Tensor {
		var x *tensor.Tensor
		nn.Eval(netG) // batch norm with its running statistics
		autograd.NoGrad(func() { x = netG.Forward(fixedNoise) })
		nn.Train(netG)
		return x
	}
	res.SampleMean0 = sample().Mean().Item()
	dataSum, dataN := 0.0, 0

	loader := data.NewLoader(data.Indices(imgs.Len()), data.LoaderConfig{BatchSize: cfg.Batch, Shuffle: true, DropLast: true, Seed: cfg.Seed},
		func(idx []int) (*tensor.Tensor, error) { return imgs.batch(idx), nil })
	ones := tensor.Ones(cfg.Batch, 1)
	zeros := tensor.Zeros(cfg.Batch, 1)
	fmt.Fprintf(out, "DCGAN on %s: generator %d parameters, discriminator %d; %d steps per epoch of batch %d\n",
		desc, count(netG), count(netD), loader.Len(), cfg.Batch)

	start := time.Now()
	done := false
	for epoch := 1; epoch <= cfg.Epochs && !done; epoch++ {
		res.lastEpochStart = len(res.Steps)
		for real, err := range loader.All(ctx) {
			if err != nil {
				return nil, err
			}
			if len(res.Steps) < 20*loader.Len() { // enough for the mean
				dataSum += real.Mean().Item() * float64(real.Numel())
				dataN += real.Numel()
			}
			s := step(netG, netD, optG, optD, real, gen.Randn(cfg.Batch, cfg.NZ), ones, zeros)
			if math.IsNaN(s.LossD) || math.IsNaN(s.LossG) || math.IsInf(s.LossD, 0) || math.IsInf(s.LossG, 0) {
				return res, fmt.Errorf("gan: step %d: loss D %v, loss G %v", len(res.Steps)+1, s.LossD, s.LossG)
			}
			res.Steps = append(res.Steps, s)
			n := len(res.Steps)
			if cfg.LogEvery > 0 && n%cfg.LogEvery == 0 {
				fmt.Fprintf(out, "epoch %d step %5d  %s  (%v)\n", epoch, n, summary(res.Steps[max(0, n-cfg.LogEvery):]), time.Since(start).Round(time.Second))
			}
			if cfg.Steps > 0 && n >= cfg.Steps {
				done = true
				break
			}
		}
		res.Epochs = epoch
		fmt.Fprintf(out, "epoch %d done in %v; over the epoch: %s\n", epoch, time.Since(start).Round(time.Second), summary(res.Steps[res.lastEpochStart:]))
		if cfg.OutDir != "" {
			path := filepath.Join(cfg.OutDir, fmt.Sprintf("epoch-%02d.png", epoch))
			if err := writeGrid(path, sample(), 8); err != nil {
				return res, err
			}
			res.Images = append(res.Images, path)
			fmt.Fprintf(out, "wrote %s\n", path)
		}
	}
	res.Elapsed = time.Since(start)
	final := sample()
	res.SampleMean = final.Mean().Item()
	res.DataMean = dataSum / float64(dataN)
	if cfg.OutDir != "" {
		path := filepath.Join(cfg.OutDir, "samples.png")
		if err := writeGrid(path, final, 8); err != nil {
			return res, err
		}
		res.Images = append(res.Images, path)
		if err := nn.Save(filepath.Join(cfg.OutDir, "generator.safetensors"), netG); err != nil {
			return res, err
		}
		if err := nn.Save(filepath.Join(cfg.OutDir, "discriminator.safetensors"), netD); err != nil {
			return res, err
		}
		fmt.Fprintf(out, "wrote %s and the weights of both networks to %s\n", path, cfg.OutDir)
	}
	return res, nil
}

// step trains the discriminator on one real and one generated batch, then
// the generator on fooling it.
func step(netG, netD *nn.Sequential, optG, optD optim.Optimizer, real, z, ones, zeros *tensor.Tensor) stepStats {
	var s stepStats
	fake := netG.Forward(z)

	// Discriminator: maximise log D(x) + log(1 − D(G(z))). The fake batch
	// is detached: this step does not reach into the generator.
	optD.ZeroGrad()
	logitReal := netD.Forward(real)
	logitFake := netD.Forward(fake.Detach())
	lossD := F.BCEWithLogits(logitReal, ones).Add(F.BCEWithLogits(logitFake, zeros))
	lossD.Backward()
	optD.Step()
	s.LossD = lossD.Item()
	pr, pf := logitReal.Detach().Sigmoid().Float64s(), logitFake.Detach().Sigmoid().Float64s()
	correct := 0
	for i := range pr {
		if pr[i] > 0.5 {
			correct++
		}
		if pf[i] < 0.5 {
			correct++
		}
		s.DReal += pr[i]
		s.DFake += pf[i]
	}
	s.AccD = float64(correct) / float64(2*len(pr))
	s.DReal /= float64(len(pr))
	s.DFake /= float64(len(pf))

	// Generator: maximise log D(G(z)) (the non-saturating loss), through
	// the just-updated discriminator.
	optG.ZeroGrad()
	lossG := F.BCEWithLogits(netD.Forward(fake), ones)
	lossG.Backward()
	optG.Step()
	s.LossG = lossG.Item()
	return s
}

// writeGrid writes the first cols² images of x [N, 1, H, W] (values in
// [−1, 1]) as one grayscale PNG, cols to a row, 2-pixel gaps.
func writeGrid(path string, x *tensor.Tensor, cols int) error {
	n, h, w := min(x.Size(0), cols*cols), x.Size(2), x.Size(3)
	rows := (n + cols - 1) / cols
	const gap = 2
	img := image.NewGray(image.Rect(0, 0, cols*(w+gap)+gap, rows*(h+gap)+gap))
	for i := range img.Pix {
		img.Pix[i] = 40
	}
	px := x.Float32s()
	for k := range n {
		ox, oy := gap+(k%cols)*(w+gap), gap+(k/cols)*(h+gap)
		for y := range h {
			for xx := range w {
				v := (float64(px[k*h*w+y*w+xx]) + 1) / 2 * 255
				img.SetGray(ox+xx, oy+y, color.Gray{Y: uint8(math.Round(math.Max(0, math.Min(255, v))))})
			}
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".grid-*.png")
	if err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

func count(m nn.Module) int {
	n := 0
	for _, p := range nn.Parameters(m) {
		n += p.Numel()
	}
	return n
}

// summary gives the means of steps' statistics.
func summary(steps []stepStats) string {
	return fmt.Sprintf("loss D %.3f  loss G %.3f  acc D %.2f  D(x) %.2f  D(G(z)) %.2f",
		avg(steps, func(s stepStats) float64 { return s.LossD }), avg(steps, func(s stepStats) float64 { return s.LossG }),
		avg(steps, func(s stepStats) float64 { return s.AccD }), avg(steps, func(s stepStats) float64 { return s.DReal }),
		avg(steps, func(s stepStats) float64 { return s.DFake }))
}

func avg(s []stepStats, f func(stepStats) float64) float64 {
	t := 0.0
	for _, x := range s {
		t += f(x)
	}
	return t / float64(len(s))
}
