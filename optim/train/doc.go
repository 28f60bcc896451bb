// Package train holds what a training loop needs around the model and the
// optimizer: a progress bar, running metrics logged with log/slog,
// checkpoints that resume training bit for bit, and loss and accuracy
// curves written as a PNG plot or as TensorBoard event files. It is a
// toolbox, not a framework: the loop stays the caller's own plain Go.
//
//	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
//	var hist train.History
//	for epoch := start; epoch < epochs; epoch++ {
//		var m train.Metrics
//		bar := train.NewProgress(os.Stderr, fmt.Sprintf("epoch %d/%d", epoch+1, epochs), loader.Len())
//		for batch, err := range loader.All(ctx) {
//			…
//			m.Add("loss", loss.Item(), n)
//			bar.Set("loss", m.Value("loss"))
//			bar.Add(1)
//			step++
//			hist.Add(step, "train/loss", loss.Item())
//		}
//		bar.Finish()
//		m.Log(logger, "epoch", "epoch", epoch+1)
//		err := train.SaveCheckpoint("ckpt.safetensors", train.Checkpoint{
//			Model: model, Optimizer: opt, Epoch: epoch + 1, Step: step, History: &hist})
//		…
//	}
//	err := hist.WritePNG("curves.png")
//
// # Progress
//
// [Progress] redraws one line in place when its writer is a terminal
// (an *os.File on a character device, found from the file's mode, no
// terminal library needed), with a bar, the count, the rate, the time
// left and fields such as the running loss. Written to a file or a pipe
// it degrades to a plain line at each tenth of the work.
//
// # Metrics and logging
//
// [Mean] is a running weighted mean (the loss over an epoch's samples),
// [Accuracy] counts a classifier's correct predictions, and [Metrics]
// keeps named means and logs them as one slog record. Nothing in this
// package prints or logs on its own: the caller passes the writer or the
// *slog.Logger.
//
// # Checkpoints
//
// [SaveCheckpoint] writes the model, the optimizer, the scheduler, the
// epoch and step counters, the states of the random generators
// (tensor.DefaultGenerator and any others, e.g. a Dropout's), named
// numbers and the recorded curves as one safetensors file, atomically.
// [LoadCheckpoint] restores them all. Training that resumes from a
// checkpoint reproduces the losses of the run that never stopped, bit
// for bit, provided the data comes in the same order: a data.Loader's
// order depends only on its seed and epoch number, so call
// Loader.SetEpoch with the saved epoch and skip the batches of that epoch
// already done.
//
// # Curves
//
// [History] records (step, value) series under TensorBoard-style names
// such as "train/loss" and "test/acc"; [History.WritePNG] plots them with
// gonum.org/v1/plot, one panel per metric. [SummaryWriter] writes the
// same scalars as a TensorBoard event file (TFRecord framing with masked
// CRC-32C, tensorflow.Event protocol buffers encoded with protowire), so
// `tensorboard --logdir DIR` shows them.
package train
