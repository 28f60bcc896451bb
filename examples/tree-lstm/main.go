// Command tree-lstm trains a binary (N-ary, N = 2) Tree-LSTM (Tai, Socher
// and Manning, 2015) to evaluate random arithmetic expressions such as
// ((7×3)−(2+9)), predicting the last digit of the value (the value mod 10)
// as one of ten classes.
//
// It is the define-by-run example: there is no fixed graph. For every
// expression, a plain recursive Go function walks the parse tree and calls
// the Tree-LSTM cell once per node, children first, so each expression
// builds a graph of its own shape. A minibatch is a list of trees, each
// with its own graph; their node states meet in one Cat for the shared
// classifier (every node is supervised with its own value mod 10), the
// loss is averaged, and one Backward runs through all of them. Accuracy
// is measured on the roots of held-out expressions, including ones with
// more operators than any training expression.
//
// The cell is order-aware (left and right children have their own
// weights and forget gates), as subtraction needs:
//
//	i, f_L, f_R, o, u = W·x + U·[h_L; h_R] + b      (x: the node's token)
//	c = σ(i)⊙tanh(u) + σ(f_L)⊙c_L + σ(f_R)⊙c_R
//	h = σ(o)⊙tanh(c)
//
// A leaf (a digit) has no children: its U term and forget gates drop out.
//
//	go run ./examples/tree-lstm
//	go run ./examples/tree-lstm -max-ops 5 -test-max-ops 8 -steps 1500
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/data"
	"github.com/tapir-ml/tapir/nn"
	F "github.com/tapir-ml/tapir/nn/functional"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// Tokens: the digits 0–9, then the operators.
const (
	opAdd = 10 + iota
	opSub
	opMul
	numTokens
)

var opSymbol = map[int]string{opAdd: "+", opSub: "−", opMul: "×"}

// expr is a node of a parse tree: a digit leaf or an operator with two
// children.
type expr struct {
	tok         int // 0–9 for a digit, opAdd… for an operator
	left, right *expr
}

func (e *expr) leaf() bool { return e.left == nil }

func (e *expr) value() int {
	if e.leaf() {
		return e.tok
	}
	a, b := e.left.value(), e.right.value()
	switch e.tok {
	case opAdd:
		return a + b
	case opSub:
		return a - b
	}
	return a * b
}

// label is the class to predict: the value mod 10, in 0…9.
func (e *expr) label() int { return ((e.value() % 10) + 10) % 10 }

func (e *expr) size() int {
	if e.leaf() {
		return 1
	}
	return 1 + e.left.size() + e.right.size()
}

func (e *expr) String() string {
	if e.leaf() {
		return strconv.Itoa(e.tok)
	}
	return "(" + e.left.String() + opSymbol[e.tok] + e.right.String() + ")"
}

// randomExpr draws an expression with exactly ops operators, its shape
// chosen by splitting the remaining operators between the two sides at
// random.
func randomExpr(rng *rand.Rand, ops int) *expr {
	if ops == 0 {
		return &expr{tok: rng.IntN(10)}
	}
	k := rng.IntN(ops) // operators on the left
	return &expr{
		tok:   opAdd + rng.IntN(3),
		left:  randomExpr(rng, k),
		right: randomExpr(rng, ops-1-k),
	}
}

// treeLSTM is the model: a token embedding, the binary Tree-LSTM cell, and
// a classifier on a node's hidden state.
type treeLSTM struct {
	Embed      *nn.Embedding
	W          *nn.Linear // E → 5H: the input's part of the gates, with the bias
	U          *nn.Linear // 2H → 5H: the children's part [h_L; h_R]
	Hidden     *nn.Linear // H → H
	Classifier *nn.Linear // H → 10
}

func newTreeLSTM(embed, hidden int, g *tensor.Generator) *treeLSTM {
	return &treeLSTM{
		Embed:      nn.NewEmbedding(numTokens, embed, nn.EmbeddingConfig{Generator: g}),
		W:          nn.NewLinear(embed, 5*hidden, nn.LinearConfig{Generator: g}),
		U:          nn.NewLinear(2*hidden, 5*hidden, nn.LinearConfig{NoBias: true, Generator: g}),
		Hidden:     nn.NewLinear(hidden, hidden, nn.LinearConfig{Generator: g}),
		Classifier: nn.NewLinear(hidden, 10, nn.LinearConfig{Generator: g}),
	}
}

// node runs the cell over the subtree at e, children first, and returns
// its hidden and memory states, [1, H] each. This recursion is the whole
// "graph construction": the graph recorded for an expression has the
// expression's shape. tokens holds W·x + b for every token (see
// tokenGates). Every node's hidden state is appended to out, with the
// node's own value mod 10 as its label, children before parents.
func (m *treeLSTM) node(e *expr, tokens *tensor.Tensor, out *nodes) (h, c *tensor.Tensor) {
	gates := tokens.Narrow(0, e.tok, 1) // [1, 5H]: W·x + b for this node's token
	var hl, cl, hr, cr *tensor.Tensor
	if !e.leaf() {
		hl, cl = m.node(e.left, tokens, out)
		hr, cr = m.node(e.right, tokens, out)
		gates = gates.Add(m.U.Forward(tensor.Cat([]*tensor.Tensor{hl, hr}, 1)))
	}
	g := gates.Chunk(5, 1)
	i, fl, fr, o, u := g[0].Sigmoid(), g[1], g[2], g[3].Sigmoid(), g[4].Tanh()
	c = i.Mul(u)
	if !e.leaf() {
		c = c.Add(fl.Sigmoid().Mul(cl)).Add(fr.Sigmoid().Mul(cr))
	}
	h = o.Mul(c.Tanh())
	out.h = append(out.h, h)
	out.labels = append(out.labels, int64(e.label()))
	return h, c
}

// nodes collects the hidden states of every node of a batch of trees.
type nodes struct {
	h      []*tensor.Tensor // [1, H] each
	labels []int64          // each node's value mod 10
	roots  []int            // index in h of each tree's root
}

// tokenGates is W·x + b for the embedding x of every token, [tokens, 5H]:
// there are only 13 tokens, so the input part of the gates is computed
// once per batch and each node picks its row, rather than every node
// running the embedding and W on its own.
func (m *treeLSTM) tokenGates() *tensor.Tensor {
	return m.W.Forward(m.Embed.Forward(tensor.Arange(0, numTokens, 1).To(tensor.Int64)))
}

// forward evaluates a batch of trees, each through its own recursion, and
// classifies every node of every tree: logits [total nodes, 10], with the
// nodes' labels and where the roots are.
func (m *treeLSTM) forward(trees []*expr) (logits *tensor.Tensor, n *nodes) {
	tokens := m.tokenGates()
	n = &nodes{}
	for _, t := range trees {
		m.node(t, tokens, n)
		n.roots = append(n.roots, len(n.h)-1)
	}
	// [total nodes, H]: besides the parameters and the token table, the
	// only place the trees' graphs meet.
	h := tensor.Cat(n.h, 0)
	return m.Classifier.Forward(m.Hidden.Forward(h).ReLU()), n
}

// rootLogits picks the roots' rows of the logits: [trees, 10].
func rootLogits(logits *tensor.Tensor, n *nodes) *tensor.Tensor {
	idx := make([]int64, len(n.roots))
	for i, r := range n.roots {
		idx[i] = int64(r)
	}
	return logits.IndexSelect(0, tensor.FromSlice(idx))
}

// rootLabels are the trees' values mod 10.
func rootLabels(trees []*expr) *tensor.Tensor {
	ls := make([]int64, len(trees))
	for i, t := range trees {
		ls[i] = int64(t.label())
	}
	return data.Labels(ls)
}

// config is everything a run depends on; main fills it from flags.
type config struct {
	MinOps, MaxOps int // operators per training expression, drawn uniformly
	TestMaxOps     int // held-out expressions have MinOps…TestMaxOps operators (0: MaxOps)
	Steps          int
	Batch          int // trees per step
	Embed, Hidden  int
	RootsOnly      bool // train on the roots' labels only, not every node's
	LR             float64
	Clip           float64
	TestSize       int // held-out expressions
	Seed           uint64
	LogEvery       int
	Out            io.Writer
}

// result is what a run measured.
type result struct {
	Losses    []float64       // training loss of every step
	Accuracy  float64         // held-out accuracy of the value mod 10
	ByOps     map[int]float64 // the same per number of operators
	Majority  float64         // accuracy of always answering the commonest last digit
	TestTrees int
	Elapsed   time.Duration
}

func main() {
	var c config
	flag.IntVar(&c.MinOps, "min-ops", 1, "fewest operators in an expression")
	flag.IntVar(&c.MaxOps, "max-ops", 4, "most operators in a training expression")
	flag.IntVar(&c.TestMaxOps, "test-max-ops", 6, "most operators in a held-out expression (more than -max-ops tests generalization to bigger trees)")
	flag.IntVar(&c.Steps, "steps", 800, "training steps")
	flag.IntVar(&c.Batch, "batch", 32, "expression trees per step")
	flag.IntVar(&c.Embed, "embed", 32, "token embedding size")
	flag.IntVar(&c.Hidden, "hidden", 64, "Tree-LSTM hidden size")
	flag.BoolVar(&c.RootsOnly, "roots-only", false, "supervise only the root of each tree, not every node")
	flag.Float64Var(&c.LR, "lr", 1e-2, "Adam learning rate")
	flag.Float64Var(&c.Clip, "clip", 1, "clip the gradient norm to this")
	flag.IntVar(&c.TestSize, "test", 1000, "held-out expressions")
	flag.Uint64Var(&c.Seed, "seed", 1, "random seed")
	flag.IntVar(&c.LogEvery, "log-every", 100, "print the loss every this many steps")
	flag.Parse()
	c.Out = os.Stdout
	if _, err := run(c); err != nil {
		log.Fatal(err)
	}
}

func run(c config) (*result, error) {
	if c.Out == nil {
		c.Out = io.Discard
	}
	switch {
	case c.MinOps < 1 || c.MaxOps < c.MinOps:
		return nil, fmt.Errorf("tree-lstm: operators %d..%d: want 1 ≤ min ≤ max", c.MinOps, c.MaxOps)
	case c.Steps <= 0 || c.Batch <= 0 || c.Embed <= 0 || c.Hidden <= 0 || c.TestSize <= 0:
		return nil, errors.New("tree-lstm: steps, batch, embed, hidden and test must be positive")
	}
	if c.LogEvery <= 0 {
		c.LogEvery = 100
	}
	if c.TestMaxOps == 0 {
		c.TestMaxOps = c.MaxOps
	}
	if c.TestMaxOps < c.MinOps {
		return nil, fmt.Errorf("tree-lstm: test operators %d..%d: want min ≤ max", c.MinOps, c.TestMaxOps)
	}
	ops := func(rng *rand.Rand) int { return c.MinOps + rng.IntN(c.MaxOps-c.MinOps+1) }
	testOps := func(rng *rand.Rand) int { return c.MinOps + rng.IntN(c.TestMaxOps-c.MinOps+1) }

	// Held-out expressions come from their own stream; training never
	// draws one of them (the same expression text).
	testRNG := rand.New(rand.NewPCG(c.Seed, 2))
	heldOut := map[string]bool{}
	var test []*expr
	for tries := 0; len(test) < c.TestSize && tries < 100*c.TestSize; tries++ {
		e := randomExpr(testRNG, testOps(testRNG))
		if !heldOut[e.String()] {
			heldOut[e.String()] = true
			test = append(test, e)
		}
	}
	rng := rand.New(rand.NewPCG(c.Seed, 1))
	drawTrain := func() (*expr, error) {
		for range 10000 {
			if e := randomExpr(rng, ops(rng)); !heldOut[e.String()] {
				return e, nil
			}
		}
		return nil, errors.New("tree-lstm: the held-out set holds (nearly) every expression: use a smaller -test or more operators")
	}

	g := tensor.NewGenerator(c.Seed)
	model := newTreeLSTM(c.Embed, c.Hidden, g)
	params := nn.Parameters(model)
	np := 0
	for _, p := range params {
		np += p.Numel()
	}
	res := &result{TestTrees: len(test)}
	fmt.Fprintf(c.Out, "task: last digit of random expressions (+ − ×), %d–%d operators in training, %d held-out with %d–%d; model: %d parameters\n",
		c.MinOps, c.MaxOps, len(test), c.MinOps, c.TestMaxOps, np)

	opt := optim.NewAdam(params, optim.AdamConfig{LR: c.LR})
	sched := optim.NewCosineAnnealingLR(opt, c.Steps, c.LR/20)
	start := time.Now()
	running, correct, seen := 0.0, 0, 0
	for step := 1; step <= c.Steps; step++ {
		trees := make([]*expr, c.Batch)
		for i := range trees {
			var err error
			if trees[i], err = drawTrain(); err != nil {
				return nil, err
			}
		}
		if step == 1 {
			sizes := make([]int, 0, len(trees))
			total := 0
			for _, t := range trees {
				sizes = append(sizes, t.size())
				total += t.size()
			}
			fmt.Fprintf(c.Out, "batching is per tree: step 1 builds %d separate graphs of %v nodes (%d cell calls), joined only where their node states are stacked for the classifier\n",
				len(trees), sizes, total)
		}
		// The loss is the mean over every node of every tree (as for the
		// Stanford Sentiment Treebank), or over the roots only.
		logits, nodes := model.forward(trees)
		roots := rootLogits(logits, nodes)
		var loss *tensor.Tensor
		if c.RootsOnly {
			loss = F.CrossEntropy(roots, rootLabels(trees))
		} else {
			loss = F.CrossEntropy(logits, data.Labels(nodes.labels))
		}
		opt.ZeroGrad()
		loss.Backward()
		optim.ClipGradNorm(params, c.Clip)
		opt.Step()
		sched.Step()

		l := loss.Item()
		res.Losses = append(res.Losses, l)
		running += l
		pred := roots.Detach().ArgMax(1).Int64s()
		for i, t := range trees {
			if int(pred[i]) == t.label() {
				correct++
			}
		}
		seen += len(trees)
		if step%c.LogEvery == 0 || step == c.Steps {
			k := (step-1)%c.LogEvery + 1
			fmt.Fprintf(c.Out, "step %5d/%d  loss %.4f  train acc %5.1f%%  lr %.2g  %v\n",
				step, c.Steps, running/float64(k), 100*float64(correct)/float64(seen),
				sched.LastLR()[0], time.Since(start).Round(time.Second))
			running, correct, seen = 0, 0, 0
		}
	}
	res.Elapsed = time.Since(start)

	// Held-out accuracy, overall and by the number of operators, against
	// always answering the commonest last digit of the held-out set.
	var counts [10]int
	perOps := map[int][2]int{}
	right := 0
	var examples []string
	autograd.NoGrad(func() {
		for i := 0; i < len(test); i += 256 {
			chunk := test[i:min(i+256, len(test))]
			logits, nodes := model.forward(chunk)
			pred := rootLogits(logits, nodes).ArgMax(1).Int64s()
			for j, t := range chunk {
				counts[t.label()]++
				n := (t.size() - 1) / 2
				po := perOps[n]
				po[1]++
				if int(pred[j]) == t.label() {
					right++
					po[0]++
				}
				perOps[n] = po
				if len(examples) < 8 {
					mark := "ok"
					if int(pred[j]) != t.label() {
						mark = "WRONG"
					}
					examples = append(examples, fmt.Sprintf("%s = %d: last digit %d, predicted %d  %s",
						t, t.value(), t.label(), pred[j], mark))
				}
			}
		}
	})
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	res.Accuracy = float64(right) / float64(len(test))
	res.Majority = float64(most) / float64(len(test))
	res.ByOps = map[int]float64{}
	fmt.Fprintf(c.Out, "trained %d steps (%d trees) in %v\n", c.Steps, c.Steps*c.Batch, res.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(c.Out, "held-out accuracy %.1f%% (%d/%d); always guessing the commonest digit: %.1f%%\n",
		100*res.Accuracy, right, len(test), 100*res.Majority)
	for n := c.MinOps; n <= c.TestMaxOps; n++ {
		if po := perOps[n]; po[1] > 0 {
			res.ByOps[n] = float64(po[0]) / float64(po[1])
			note := ""
			if n > c.MaxOps {
				note = "  (bigger than any training tree)"
			}
			fmt.Fprintf(c.Out, "  %d operator(s): %5.1f%% of %d%s\n", n, 100*res.ByOps[n], po[1], note)
		}
	}
	for _, e := range examples {
		fmt.Fprintln(c.Out, "  "+e)
	}
	return res, nil
}
