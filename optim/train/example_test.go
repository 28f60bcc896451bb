package train_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/optim/train"
	"github.com/tapir-ml/tapir/tensor"
)

// A progress bar over 8 steps written to a pipe (as in a log file): a
// plain line at each quarter and a closing line. A fixed clock, 250 ms a
// step, makes the rates reproducible here.
func ExampleProgress() {
	bar := train.NewProgress(os.Stdout, "epoch 1/1", 8)
	bar.Terminal = false // on a terminal it would redraw one line in place
	bar.Lines = 4
	clock := time.Unix(0, 0)
	bar.Now = func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
	bar.Start()
	for i := range 8 {
		bar.Set("loss", 1/float64(i+1))
		bar.Add(1)
	}
	bar.Finish()
	// Output:
	// epoch 1/1: 2/8  25% 4.0 it/s ETA 1.5s loss=0.5
	// epoch 1/1: 4/8  50% 4.0 it/s ETA 1.0s loss=0.25
	// epoch 1/1: 6/8  75% 4.0 it/s ETA 0.5s loss=0.1667
	// epoch 1/1: 8/8 100% 4.0 it/s loss=0.125
	// epoch 1/1: done 8 in 2.2s (3.6 it/s) loss=0.125
}

// Running means over an epoch's batches, logged as one slog record.
func ExampleMetrics_Log() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // no timestamps, for a reproducible example
			}
			return a
		},
	}))
	var m train.Metrics
	logits := tensor.FromSlice([]float32{2, 0, 0, 1, 0.5, 3}, 3, 2)
	target := tensor.FromSlice([]int64{0, 0, 1})
	var acc train.Accuracy
	acc.Add(logits, target)
	m.Add("loss", 0.5, 3)
	m.Add("loss", 0.3, 1) // a last, shorter batch
	m.AddAccuracy("acc", acc)
	m.Log(logger, "epoch", "epoch", 1)
	// Output:
	// level=INFO msg=epoch epoch=1 loss=0.45 acc=0.6666666666666666
}

// Save a checkpoint after some training and restore it into a fresh
// model and optimizer.
func ExampleSaveCheckpoint() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "ckpt.safetensors")

	tensor.ManualSeed(1)
	model := nn.NewLinear(3, 2)
	opt := optim.NewAdam(nn.Parameters(model), optim.AdamConfig{LR: 0.01})
	x, y := tensor.Randn(4, 3), tensor.FromSlice([]int64{0, 1, 1, 0})
	for range 5 {
		opt.ZeroGrad()
		F.CrossEntropy(model.Forward(x), y).Backward()
		opt.Step()
	}
	err := train.SaveCheckpoint(path, train.Checkpoint{Model: model, Optimizer: opt, Epoch: 1, Step: 5,
		Extra: map[string]float64{"best_acc": 0.75}})
	if err != nil {
		fmt.Println(err)
		return
	}

	fresh := nn.NewLinear(3, 2)
	freshOpt := optim.NewAdam(nn.Parameters(fresh), optim.AdamConfig{LR: 0.01})
	ck := train.Checkpoint{Model: fresh, Optimizer: freshOpt}
	if err := train.LoadCheckpoint(path, &ck); err != nil {
		fmt.Println(err)
		return
	}
	same := fresh.Weight.Sub(model.Weight.Tensor).Abs().Amax().Item() == 0
	fmt.Printf("epoch %d, step %d, best_acc %v, same weights: %v\n", ck.Epoch, ck.Step, ck.Extra["best_acc"], same)
	// Output: epoch 1, step 5, best_acc 0.75, same weights: true
}

// Scalars for TensorBoard: `tensorboard --logdir runs` shows them.
func ExampleSummaryWriter() {
	dir, _ := os.MkdirTemp("", "runs")
	defer os.RemoveAll(dir)
	w, err := train.NewSummaryWriter(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	for step, loss := range []float64{2.3, 1.1, 0.7} {
		if err := w.AddScalar("train/loss", loss, step); err != nil {
			fmt.Println(err)
		}
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
	}
	st, _ := os.Stat(w.Path())
	// 40 bytes of file_version record, then 46 for step 0 (a zero step is
	// left out of the proto) and 48 each for steps 1 and 2
	fmt.Println(strings.HasPrefix(filepath.Base(w.Path()), "events.out.tfevents."), st.Size())
	// Output: true 182
}

// Record curves as training goes and plot them: one panel for the loss,
// one for the accuracies.
func ExampleHistory_WritePNG() {
	dir, _ := os.MkdirTemp("", "plot")
	defer os.RemoveAll(dir)
	var h train.History
	for step := 1; step <= 300; step++ {
		h.Add(step, "train/loss", 1/float64(step))
		if step%100 == 0 {
			h.Add(step, "train/acc", 0.8+float64(step)/3000)
			h.Add(step, "test/acc", 0.78+float64(step)/3000)
		}
	}
	if err := h.WritePNG(filepath.Join(dir, "curves.png")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Names())
	// Output: [train/loss train/acc test/acc]
}
