// Command seq2seq-attention trains an encoder–decoder with attention to
// reverse (or sort) strings of digits, and measures exact-match accuracy
// on strings it never saw.
//
// The encoder is a bidirectional GRU run over a packed batch, so that each
// string of 3 to 10 digits is read only as far as it goes. The decoder is
// a GRU fed the previous target digit (teacher forcing while training);
// at each output step it attends over the encoder's states with scaled
// dot-product attention (Luong's "general" score: the keys are a learned
// projection of the encoder states), masked to the string's real length.
// Evaluation decodes greedily, one digit at a time, until the end token.
//
//	go run ./examples/seq2seq-attention
//	go run ./examples/seq2seq-attention -task sort -steps 3000
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// Token ids: padding, start and end of the output, then the digits 0–9.
const (
	pad   = 0
	bos   = 1
	eos   = 2
	digit = 3 // id of '0'
	vocab = digit + 10
)

// config is everything a run depends on; main fills it from flags.
type config struct {
	Task           string  // "reverse" or "sort"
	MinLen, MaxLen int     // string lengths, inclusive
	Steps          int     // optimizer steps
	Batch          int     // strings per batch
	Embed          int     // token embedding size
	Hidden         int     // GRU hidden size (each direction of the encoder)
	LR             float64 // Adam learning rate (cosine-annealed to LR/20)
	Clip           float64 // gradient-norm clipping threshold
	TestSize       int     // held-out strings for the exact-match accuracy
	Seed           uint64
	LogEvery       int
	Out            io.Writer
}

// result is what a run measured.
type result struct {
	Losses   []float64       // training loss of every step
	Accuracy float64         // exact-match accuracy on the held-out strings
	ByLength map[int]float64 // the same per source length
	TokenAcc float64         // fraction of output positions right
	Examples []string        // a few decoded held-out strings
	Elapsed  time.Duration   // training time
}

func main() {
	var c config
	flag.StringVar(&c.Task, "task", "reverse", `what to learn: "reverse" or "sort" the digits`)
	flag.IntVar(&c.MinLen, "min-len", 3, "shortest string")
	flag.IntVar(&c.MaxLen, "max-len", 10, "longest string")
	flag.IntVar(&c.Steps, "steps", 1200, "training steps")
	flag.IntVar(&c.Batch, "batch", 64, "strings per batch")
	flag.IntVar(&c.Embed, "embed", 32, "token embedding size")
	flag.IntVar(&c.Hidden, "hidden", 64, "GRU hidden size")
	flag.Float64Var(&c.LR, "lr", 5e-3, "Adam learning rate")
	flag.Float64Var(&c.Clip, "clip", 1, "clip the gradient norm to this")
	flag.IntVar(&c.TestSize, "test", 1000, "held-out strings to measure accuracy on")
	flag.Uint64Var(&c.Seed, "seed", 1, "random seed")
	flag.IntVar(&c.LogEvery, "log-every", 100, "print the loss every this many steps")
	flag.Parse()
	c.Out = os.Stdout
	if _, err := run(c); err != nil {
		log.Fatal(err)
	}
}

// target is what the model must output for src.
func target(task string, src []int) []int {
	out := slices.Clone(src)
	if task == "sort" {
		slices.Sort(out)
	} else {
		slices.Reverse(out)
	}
	return out
}

// task makes random digit strings, never one of the held-out ones.
type task struct {
	minLen, maxLen int
	rng            *rand.Rand
	heldOut        map[string]bool
}

// newRand is the stream training strings are drawn from.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func key(s []int) string {
	var b strings.Builder
	for _, d := range s {
		b.WriteByte(byte('0' + d))
	}
	return b.String()
}

func (t *task) draw() []int {
	n := t.minLen + t.rng.IntN(t.maxLen-t.minLen+1)
	s := make([]int, n)
	for i := range s {
		s[i] = t.rng.IntN(10)
	}
	return s
}

// trainBatch draws n training strings outside the held-out set.
func (t *task) trainBatch(n int) ([][]int, error) {
	out := make([][]int, 0, n)
	for tries := 0; len(out) < n; tries++ {
		if tries > 10000*n {
			return nil, errors.New("seq2seq-attention: the held-out set holds (nearly) every string: use a smaller -test or longer strings")
		}
		if s := t.draw(); !t.heldOut[key(s)] {
			out = append(out, s)
		}
	}
	return out, nil
}

// batch is a padded, batch-first minibatch.
type batch struct {
	src     *tensor.Tensor // [N, S] source digit ids, padded
	lengths []int          // source lengths
	dec     *tensor.Tensor // [N, T] decoder inputs: BOS then the target
	tgt     *tensor.Tensor // [N, T] target ids then EOS, padded
}

func makeBatch(task string, srcs [][]int) batch {
	n := len(srcs)
	s := 0
	for _, x := range srcs {
		s = max(s, len(x))
	}
	t := s + 1
	src := make([]int64, n*s)
	dec := make([]int64, n*t)
	tgt := make([]int64, n*t)
	lengths := make([]int, n)
	for i, x := range srcs {
		lengths[i] = len(x)
		y := target(task, x)
		dec[i*t] = bos
		for j := range x {
			src[i*s+j] = int64(digit + x[j])
			tgt[i*t+j] = int64(digit + y[j])
			dec[i*t+j+1] = int64(digit + y[j])
		}
		tgt[i*t+len(x)] = eos
	}
	return batch{
		src: tensor.FromSlice(src, n, s), lengths: lengths,
		dec: tensor.FromSlice(dec, n, t), tgt: tensor.FromSlice(tgt, n, t),
	}
}

// seq2seq is the encoder–decoder.
type seq2seq struct {
	SrcEmbed *nn.Embedding
	Encoder  *nn.GRU    // bidirectional, over packed sequences
	Bridge   *nn.Linear // 2H → H: the decoder's initial state from the encoder's final ones
	Keys     *nn.Linear // 2H → H: attention keys ("general" score h·W·e)
	TgtEmbed *nn.Embedding
	Decoder  *nn.GRU
	Combine  *nn.Linear // [h; context] 3H → H
	Out      *nn.Linear // H → vocab
}

func newSeq2Seq(c config, g *tensor.Generator) *seq2seq {
	e, h := c.Embed, c.Hidden
	lin := func(in, out int) *nn.Linear { return nn.NewLinear(in, out, nn.LinearConfig{Generator: g}) }
	return &seq2seq{
		SrcEmbed: nn.NewEmbedding(vocab, e, nn.EmbeddingConfig{Generator: g}),
		Encoder:  nn.NewGRU(e, h, nn.RNNConfig{Bidirectional: true, BatchFirst: true, Generator: g}),
		Bridge:   lin(2*h, h),
		Keys:     nn.NewLinear(2*h, h, nn.LinearConfig{NoBias: true, Generator: g}),
		TgtEmbed: nn.NewEmbedding(vocab, e, nn.EmbeddingConfig{Generator: g}),
		Decoder:  nn.NewGRU(e, h, nn.RNNConfig{BatchFirst: true, Generator: g}),
		Combine:  lin(3*h, h),
		Out:      lin(h, vocab),
	}
}

// memory is what the encoder hands the decoder.
type memory struct {
	values *tensor.Tensor // [N, S, 2H] encoder states
	keys   *tensor.Tensor // [N, S, H]
	mask   *tensor.Tensor // [N, 1, S] Bool: true where a source position is real
	h0     *tensor.Tensor // [1, N, H] the decoder's initial state
}

func (m *seq2seq) encode(src *tensor.Tensor, lengths []int) memory {
	n, s := src.Size(0), src.Size(1)
	packed := nn.PackPaddedSequence(m.SrcEmbed.Forward(src), lengths, true, false)
	out, hN := m.Encoder.ForwardPacked(packed, nil)
	values, _ := nn.PadPackedSequence(out, true, 0, s) // [N, S, 2H]
	// hN is [2, N, H]: the forward direction's state after the last digit
	// and the backward direction's after the first.
	h0 := m.Bridge.Forward(tensor.Cat([]*tensor.Tensor{hN.Select(0, 0), hN.Select(0, 1)}, 1)).Tanh()
	valid := make([]bool, n*s)
	for i, l := range lengths {
		for j := range l {
			valid[i*s+j] = true
		}
	}
	return memory{
		values: values,
		keys:   m.Keys.Forward(values),
		mask:   tensor.FromSlice(valid, n, 1, s),
		h0:     h0.Unsqueeze(0),
	}
}

// decode runs the decoder over inputs [N, T] from state h and returns the
// logits [N, T, vocab] and the state after the last step.
func (m *seq2seq) decode(mem memory, inputs, h *tensor.Tensor) (logits, hN *tensor.Tensor) {
	out, hN := m.Decoder.ForwardState(m.TgtEmbed.Forward(inputs), h) // [N, T, H]
	ctx := F.ScaledDotProductAttention(out, mem.keys, mem.values, F.SDPAOptions{Mask: mem.mask})
	att := m.Combine.Forward(tensor.Cat([]*tensor.Tensor{out, ctx}, 2)).Tanh()
	return m.Out.Forward(att), hN
}

// loss is the teacher-forced cross-entropy: the decoder sees the true
// previous digit at every step, and all steps run as one batched pass.
func (m *seq2seq) loss(b batch) *tensor.Tensor {
	logits, _ := m.decode(m.encode(b.src, b.lengths), b.dec, nil)
	return F.CrossEntropy(logits.Reshape(-1, vocab), b.tgt.Reshape(-1), F.CrossEntropyOptions{IgnoreIndex: F.Index(pad)})
}

// greedy decodes each source string, feeding back the model's own
// previous output, for at most maxLen+1 steps; it returns the digits
// before the first EOS of each row.
func (m *seq2seq) greedy(src *tensor.Tensor, lengths []int, maxLen int) [][]int {
	n := src.Size(0)
	out := make([][]int, n)
	done := make([]bool, n)
	autograd.NoGrad(func() {
		mem := m.encode(src, lengths)
		h := mem.h0
		prev := make([]int64, n)
		for i := range prev {
			prev[i] = bos
		}
		for range maxLen + 1 {
			logits, hN := m.decode(mem, tensor.FromSlice(prev, n, 1), h)
			h = hN
			next := logits.ArgMax(-1).Int64s() // [N, 1]
			all := true
			for i, id := range next {
				prev[i] = id
				if done[i] {
					continue
				}
				if id == eos || id < digit {
					done[i] = true
				} else {
					out[i] = append(out[i], int(id-digit))
				}
				all = all && done[i]
			}
			if all {
				break
			}
		}
	})
	return out
}

// attention returns the attention weights [T, S] of the first string of
// the batch when the decoder is fed the given inputs (teacher forcing).
func (m *seq2seq) attention(b batch) [][]float64 {
	var w []float64
	var t, s int
	autograd.NoGrad(func() {
		mem := m.encode(b.src, b.lengths)
		out, _ := m.Decoder.ForwardState(m.TgtEmbed.Forward(b.dec), mem.h0)
		q := out.Narrow(0, 0, 1)
		scores := q.MatMul(mem.keys.Narrow(0, 0, 1).Transpose(1, 2)).DivScalar(math.Sqrt(float64(q.Size(-1))))
		scores = scores.MaskedFill(mem.mask.Narrow(0, 0, 1).LogicalNot(), -1e9)
		p := scores.Softmax(-1).Squeeze(0)
		t, s = p.Size(0), p.Size(1)
		w = p.Float64s()
	})
	rows := make([][]float64, t)
	for i := range rows {
		rows[i] = w[i*s : (i+1)*s]
	}
	return rows
}

func run(c config) (*result, error) {
	if c.Out == nil {
		c.Out = io.Discard
	}
	switch {
	case c.Task != "reverse" && c.Task != "sort":
		return nil, fmt.Errorf("seq2seq-attention: unknown task %q: want reverse or sort", c.Task)
	case c.MinLen < 1 || c.MaxLen < c.MinLen:
		return nil, fmt.Errorf("seq2seq-attention: lengths %d..%d: want 1 ≤ min ≤ max", c.MinLen, c.MaxLen)
	case c.Steps <= 0 || c.Batch <= 0 || c.Embed <= 0 || c.Hidden <= 0 || c.TestSize <= 0:
		return nil, errors.New("seq2seq-attention: steps, batch, embed, hidden and test must be positive")
	}
	if c.LogEvery <= 0 {
		c.LogEvery = 100
	}
	// The held-out strings come from their own stream; training strings
	// are drawn from another and any held-out one is skipped.
	tk := &task{minLen: c.MinLen, maxLen: c.MaxLen,
		rng: newRand(c.Seed), heldOut: map[string]bool{}}
	testRNG := &task{minLen: c.MinLen, maxLen: c.MaxLen, rng: rand.New(rand.NewPCG(c.Seed, 2))}
	var test [][]int
	for tries := 0; len(test) < c.TestSize && tries < 100*c.TestSize; tries++ {
		s := testRNG.draw()
		if !tk.heldOut[key(s)] {
			tk.heldOut[key(s)] = true
			test = append(test, s)
		}
	}

	g := tensor.NewGenerator(c.Seed)
	model := newSeq2Seq(c, g)
	params := nn.Parameters(model)
	np := 0
	for _, p := range params {
		np += p.Numel()
	}
	fmt.Fprintf(c.Out, "task: %s digit strings of length %d–%d; %d held-out strings; model: %d parameters\n",
		c.Task, c.MinLen, c.MaxLen, len(test), np)

	opt := optim.NewAdam(params, optim.AdamConfig{LR: c.LR})
	sched := optim.NewCosineAnnealingLR(opt, c.Steps, c.LR/20)
	res := &result{}
	start := time.Now()
	running := 0.0
	for step := 1; step <= c.Steps; step++ {
		srcs, err := tk.trainBatch(c.Batch)
		if err != nil {
			return nil, err
		}
		b := makeBatch(c.Task, srcs)
		loss := model.loss(b)
		opt.ZeroGrad()
		loss.Backward()
		optim.ClipGradNorm(params, c.Clip)
		opt.Step()
		sched.Step()
		l := loss.Item()
		res.Losses = append(res.Losses, l)
		running += l
		if step%c.LogEvery == 0 || step == c.Steps {
			k := (step-1)%c.LogEvery + 1
			fmt.Fprintf(c.Out, "step %5d/%d  loss %.4f  lr %.2g  %v\n",
				step, c.Steps, running/float64(k), sched.LastLR()[0], time.Since(start).Round(time.Second))
			running = 0
		}
	}
	res.Elapsed = time.Since(start)

	// Exact match on the held-out strings, decoding greedily.
	right, rightTok, totalTok := 0, 0, 0
	perLen := map[int][2]int{}
	for i := 0; i < len(test); i += 256 {
		chunk := test[i:min(i+256, len(test))]
		b := makeBatch(c.Task, chunk)
		pred := model.greedy(b.src, b.lengths, c.MaxLen)
		for j, src := range chunk {
			want := target(c.Task, src)
			ok := slices.Equal(pred[j], want)
			pl := perLen[len(src)]
			pl[1]++
			if ok {
				right++
				pl[0]++
			}
			perLen[len(src)] = pl
			for k := range want {
				if k < len(pred[j]) && pred[j][k] == want[k] {
					rightTok++
				}
			}
			totalTok += len(want)
			if i == 0 && j < 6 {
				mark := "ok"
				if !ok {
					mark = "WRONG"
				}
				res.Examples = append(res.Examples, fmt.Sprintf("%-10s → %-10s %s", key(src), key(pred[j]), mark))
			}
		}
	}
	res.Accuracy = float64(right) / float64(len(test))
	res.TokenAcc = float64(rightTok) / float64(totalTok)
	res.ByLength = map[int]float64{}
	var lens []string
	for l := c.MinLen; l <= c.MaxLen; l++ {
		if pl := perLen[l]; pl[1] > 0 {
			res.ByLength[l] = float64(pl[0]) / float64(pl[1])
			lens = append(lens, fmt.Sprintf("%d:%.0f%%", l, 100*res.ByLength[l]))
		}
	}
	fmt.Fprintf(c.Out, "trained %d steps in %v\n", c.Steps, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(c.Out, "held-out exact match %.1f%% (%d/%d), digits right %.1f%%\n",
		100*res.Accuracy, right, len(test), 100*res.TokenAcc)
	fmt.Fprintf(c.Out, "exact match by length: %s\n", strings.Join(lens, " "))
	for _, e := range res.Examples {
		fmt.Fprintln(c.Out, "  "+e)
	}

	// Where does the decoder look? For reversal the map is an
	// anti-diagonal: output step t attends to source position S−1−t.
	longest := test[0]
	for _, s := range test {
		if len(s) > len(longest) {
			longest = s
		}
	}
	b := makeBatch(c.Task, [][]int{longest})
	fmt.Fprintf(c.Out, "attention while writing %s for %s (rows: output steps, columns: source digits):\n",
		key(target(c.Task, longest)), key(longest))
	fmt.Fprintf(c.Out, "       %s\n", spaced(key(longest)))
	shades := []rune(" .:-=+*#%@")
	y := key(target(c.Task, longest)) + "$"
	for t, row := range model.attention(b) {
		var line strings.Builder
		for _, w := range row {
			line.WriteRune(shades[min(int(w*float64(len(shades))), len(shades)-1)])
			line.WriteByte(' ')
		}
		fmt.Fprintf(c.Out, "  %c  → %s\n", y[t], line.String())
	}
	return res, nil
}

func spaced(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
		b.WriteByte(' ')
	}
	return b.String()
}
