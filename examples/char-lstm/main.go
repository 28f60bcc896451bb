// Command char-lstm trains a character-level LSTM language model on a
// small public-domain text and then writes new text with it, one
// character at a time, sampled at a chosen temperature.
//
// The corpus shipped with the example is the Third Book of Isaac Newton's
// Opticks (4th edition, 1730; public domain), taken from the copy of the
// Project Gutenberg text that the Go distribution keeps as test data. Any
// UTF-8 text file can be used instead with -text.
//
// The last tenth of the text is held out. The program reports the
// held-out loss (nats per character) and perplexity before and after
// training, and a sample.
//
//	go run ./examples/char-lstm
//	go run ./examples/char-lstm -steps 3000 -hidden 256 -temperature 0.6
//	go run ./examples/char-lstm -save model.safetensors
//	go run ./examples/char-lstm -load model.safetensors -steps 0 -temperature 1
//	go run ./examples/char-lstm -text mybook.txt -steps 3000
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"strings"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

//go:embed opticks.txt
var opticks string

// config is everything a run depends on; main fills it from flags.
type config struct {
	TextPath    string  // UTF-8 text to learn; "" means the embedded Opticks
	Steps       int     // optimizer steps
	Batch       int     // windows per batch
	SeqLen      int     // characters per window (truncated BPTT length)
	Embed       int     // character embedding size
	Hidden      int     // LSTM hidden size
	Layers      int     // stacked LSTM layers
	Dropout     float64 // dropout between layers and before the output layer
	LR          float64 // Adam learning rate (cosine-annealed to LR/10)
	Clip        float64 // gradient-norm clipping threshold
	Seed        uint64  // seeds initialization, shuffling, dropout and sampling
	LogEvery    int     // print the running loss every this many steps
	EvalWindows int     // held-out windows used for the validation loss (0: all)
	SampleLen   int     // characters to generate
	Temperature float64 // sampling temperature: < 1 is safer, > 1 wilder
	Prime       string  // text the sample starts from
	Save        string  // if set, save the trained weights here (safetensors)
	Load        string  // if set, start from these weights (saved by -save with the same text and sizes)
	Out         io.Writer
}

// result is what a run measured.
type result struct {
	VocabSize     int
	TrainChars    int
	ValChars      int
	Losses        []float64 // training loss of every step
	ValLossBefore float64   // held-out loss of the untrained model, nats/char
	ValLossAfter  float64   // held-out loss after training
	Sample        string
	Elapsed       time.Duration // training time
}

func main() {
	var c config
	flag.StringVar(&c.TextPath, "text", "", "UTF-8 text file to train on (default: the bundled Opticks, Third Book)")
	flag.IntVar(&c.Steps, "steps", 600, "training steps")
	flag.IntVar(&c.Batch, "batch", 32, "windows per batch")
	flag.IntVar(&c.SeqLen, "seq", 64, "characters per training window")
	flag.IntVar(&c.Embed, "embed", 32, "character embedding size")
	flag.IntVar(&c.Hidden, "hidden", 192, "LSTM hidden size")
	flag.IntVar(&c.Layers, "layers", 1, "stacked LSTM layers")
	flag.Float64Var(&c.Dropout, "dropout", 0, "dropout probability")
	flag.Float64Var(&c.LR, "lr", 4e-3, "Adam learning rate")
	flag.Float64Var(&c.Clip, "clip", 1, "clip the gradient norm to this")
	flag.Uint64Var(&c.Seed, "seed", 1, "random seed")
	flag.IntVar(&c.LogEvery, "log-every", 50, "print the loss every this many steps")
	flag.IntVar(&c.EvalWindows, "eval-windows", 0, "held-out windows for the validation loss (0: all)")
	flag.IntVar(&c.SampleLen, "sample", 600, "characters to sample after training")
	flag.Float64Var(&c.Temperature, "temperature", 0.7, "sampling temperature (>0)")
	flag.StringVar(&c.Prime, "prime", "Light ", "text the sample starts from")
	flag.StringVar(&c.Save, "save", "", "save the trained model to this safetensors file")
	flag.StringVar(&c.Load, "load", "", "start from a model saved with -save (same text and sizes); with -steps 0, only evaluate and sample")
	flag.Parse()
	c.Out = os.Stdout
	if _, err := run(c); err != nil {
		log.Fatal(err)
	}
}

// charLM is embedding → LSTM → linear, predicting the next character.
type charLM struct {
	Embed *nn.Embedding
	LSTM  *nn.LSTM
	Drop  *nn.Dropout
	Head  *nn.Linear
}

func newCharLM(vocab int, c config, g *tensor.Generator) *charLM {
	return &charLM{
		Embed: nn.NewEmbedding(vocab, c.Embed, nn.EmbeddingConfig{Generator: g}),
		LSTM: nn.NewLSTM(c.Embed, c.Hidden, nn.RNNConfig{
			Layers: c.Layers, BatchFirst: true, Dropout: c.Dropout, Generator: g,
		}),
		Drop: nn.NewDropout(c.Dropout, g),
		Head: nn.NewLinear(c.Hidden, vocab, nn.LinearConfig{Generator: g}),
	}
}

// forward maps ids [B, L] and the LSTM state (nil: zeros) to next-character
// logits [B, L, V] and the state after the last character.
func (m *charLM) forward(ids, h, c *tensor.Tensor) (logits, hN, cN *tensor.Tensor) {
	out, hN, cN := m.LSTM.ForwardState(m.Embed.Forward(ids), h, c)
	return m.Head.Forward(m.Drop.Forward(out)), hN, cN
}

// loss is the mean cross-entropy of the next-character predictions.
func (m *charLM) loss(b data.Sample) *tensor.Tensor {
	logits, _, _ := m.forward(b.Input, nil, nil)
	v := logits.Size(-1)
	return F.CrossEntropy(logits.Reshape(-1, v), b.Target.Reshape(-1))
}

func run(c config) (*result, error) {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Steps < 0 || (c.Steps == 0 && c.Load == "") || c.Batch <= 0 || c.SeqLen <= 0 || c.Hidden <= 0 || c.Embed <= 0 {
		return nil, errors.New("char-lstm: steps (unless loading), batch, seq, embed and hidden must be positive")
	}
	if !(c.Temperature > 0) {
		return nil, fmt.Errorf("char-lstm: temperature %v must be positive", c.Temperature)
	}
	if c.LogEvery <= 0 {
		c.LogEvery = 50
	}
	text := opticks
	source := "bundled Opticks, Third Book"
	if c.TextPath != "" {
		b, err := os.ReadFile(c.TextPath)
		if err != nil {
			return nil, fmt.Errorf("char-lstm: %w", err)
		}
		text, source = string(b), c.TextPath
	}
	corpus, err := data.ReadText(strings.NewReader(text), data.CharLevel)
	if err != nil {
		return nil, fmt.Errorf("char-lstm: %w", err)
	}
	// The last tenth is held out; training windows come from the rest.
	split := len(corpus.IDs) * 9 / 10
	train := data.NewWindowDataset(corpus.IDs[:split], c.SeqLen, c.SeqLen/2)
	val := data.NewWindowDataset(corpus.IDs[split:], c.SeqLen, 0)
	if train.Len() < c.Batch || val.Len() == 0 {
		return nil, fmt.Errorf("char-lstm: text of %d characters is too short for windows of %d", len(corpus.IDs), c.SeqLen)
	}
	res := &result{VocabSize: corpus.Vocab.Len(), TrainChars: split, ValChars: len(corpus.IDs) - split}
	fmt.Fprintf(c.Out, "text: %s, %d characters, %d distinct; %d for training, %d held out\n",
		source, len(corpus.IDs), res.VocabSize, res.TrainChars, res.ValChars)

	g := tensor.NewGenerator(c.Seed)
	model := newCharLM(res.VocabSize, c, g)
	params := nn.Parameters(model)
	n := 0
	for _, p := range params {
		n += p.Numel()
	}
	fmt.Fprintf(c.Out, "model: embedding %d, LSTM %d×%d, %d parameters\n", c.Embed, c.Layers, c.Hidden, n)

	if c.Load != "" {
		if err := nn.Load(c.Load, model); err != nil {
			return nil, fmt.Errorf("char-lstm: %w", err)
		}
		fmt.Fprintf(c.Out, "loaded the weights from %s\n", c.Load)
	}

	evalWindows := val.Len()
	if c.EvalWindows > 0 {
		evalWindows = min(evalWindows, c.EvalWindows)
	}
	valLoader := data.NewLoader(data.Subset[data.Sample](val, firstN(evalWindows)),
		data.LoaderConfig{BatchSize: 64}, data.StackSamples)
	if res.ValLossBefore, err = evaluate(model, valLoader); err != nil {
		return nil, err
	}
	when := "before training"
	if c.Load != "" {
		when = "as loaded"
	}
	fmt.Fprintf(c.Out, "%s: held-out loss %.3f nats/char, perplexity %.1f (uniform guessing: %.1f)\n",
		when, res.ValLossBefore, math.Exp(res.ValLossBefore), float64(res.VocabSize))

	opt := optim.NewAdam(params, optim.AdamConfig{LR: c.LR})
	sched := optim.NewCosineAnnealingLR(opt, max(c.Steps, 1), c.LR/10)
	loader := data.NewLoader(train, data.LoaderConfig{
		BatchSize: c.Batch, Shuffle: true, DropLast: true, Seed: c.Seed,
	}, data.StackSamples)

	start := time.Now()
	step, running := 0, 0.0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for step < c.Steps {
		for b, err := range loader.All(ctx) {
			if err != nil {
				return nil, err
			}
			nn.Train(model)
			loss := model.loss(b)
			opt.ZeroGrad()
			loss.Backward()
			optim.ClipGradNorm(params, c.Clip)
			opt.Step()
			sched.Step()

			l := loss.Item()
			res.Losses = append(res.Losses, l)
			running += l
			step++
			if step%c.LogEvery == 0 || step == c.Steps {
				k := (step-1)%c.LogEvery + 1
				fmt.Fprintf(c.Out, "step %5d/%d  epoch %d  loss %.3f  lr %.2g  %v\n",
					step, c.Steps, loader.Epoch(), running/float64(k), sched.LastLR()[0],
					time.Since(start).Round(time.Second))
				running = 0
			}
			if step == c.Steps {
				break
			}
		}
	}
	res.Elapsed = time.Since(start)

	if res.ValLossAfter, err = evaluate(model, valLoader); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.Out, "after %d steps (%v): held-out loss %.3f nats/char (%.2f bits), perplexity %.2f\n",
		c.Steps, res.Elapsed.Round(time.Millisecond), res.ValLossAfter, res.ValLossAfter/math.Ln2, math.Exp(res.ValLossAfter))

	if c.SampleLen > 0 {
		res.Sample, err = sample(model, corpus.Vocab, c.Prime, c.SampleLen, c.Temperature, tensor.NewGenerator(c.Seed+1))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(c.Out, "sample at temperature %.2f:\n----\n%s\n----\n", c.Temperature, res.Sample)
	}
	if c.Save != "" {
		if err := nn.Save(c.Save, model); err != nil {
			return nil, err
		}
		fmt.Fprintf(c.Out, "saved the model to %s\n", c.Save)
	}
	return res, nil
}

func firstN(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// evaluate returns the mean per-character loss over the loader's windows,
// in eval mode and without recording a graph.
func evaluate(m *charLM, l *data.Loader[data.Sample, data.Sample]) (float64, error) {
	nn.Eval(m)
	defer nn.Train(m)
	var sum float64
	var count int
	for b, err := range l.All(context.Background()) {
		if err != nil {
			return 0, err
		}
		autograd.NoGrad(func() {
			n := b.Target.Numel()
			sum += m.loss(b).Item() * float64(n)
			count += n
		})
	}
	return sum / float64(count), nil
}

// sample feeds prime through the model and then draws n characters, each
// from softmax(logits/temperature) of the previous step.
func sample(m *charLM, v *data.Vocab, prime string, n int, temperature float64, g *tensor.Generator) (string, error) {
	ids, err := v.Encode(prime)
	if err != nil || len(ids) == 0 {
		// Fall back to a character the text surely has.
		ids, _ = v.Encode(v.Tokens[len(v.Tokens)/2])
		prime = v.Decode(ids)
	}
	nn.Eval(m)
	defer nn.Train(m)
	out := make([]int64, 0, n)
	autograd.NoGrad(func() {
		x := tensor.FromSlice(ids, 1, len(ids))
		var h, c *tensor.Tensor
		for range n {
			logits, hN, cN := m.forward(x, h, c)
			h, c = hN, cN
			last := logits.Select(1, logits.Size(1)-1).Squeeze(0) // [V]
			probs := last.DivScalar(temperature).Softmax(-1)
			next := g.Multinomial(probs, 1, true).Int64s()[0]
			out = append(out, next)
			x = tensor.FromSlice([]int64{next}, 1, 1)
		}
	})
	return prime + v.Decode(out), nil
}
