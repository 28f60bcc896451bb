package main

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/tensor"
)

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestShortRun is the short mode CI runs: a few dozen steps on small
// trees must lower the loss.
func TestShortRun(t *testing.T) {
	c := config{
		MinOps: 1, MaxOps: 2, Steps: 60, Batch: 16, Embed: 16, Hidden: 32,
		LR: 1e-2, Clip: 1, TestSize: 100, Seed: 5, LogEvery: 20, Out: testWriter{t},
	}
	res, err := run(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Losses) != c.Steps {
		t.Fatalf("recorded %d losses, want %d", len(res.Losses), c.Steps)
	}
	first, last := mean(res.Losses[:10]), mean(res.Losses[len(res.Losses)-10:])
	t.Logf("mean loss of the first 10 steps %.3f, of the last 10 %.3f; held-out accuracy %.2f",
		first, last, res.Accuracy)
	if !(last < 0.75*first) {
		t.Errorf("loss did not fall: first steps %.3f, last steps %.3f", first, last)
	}
}

// TestExpressions checks the expression trees the task is built on.
func TestExpressions(t *testing.T) {
	// ((7×3)−(2+9)) = 10
	e := &expr{tok: opSub,
		left:  &expr{tok: opMul, left: &expr{tok: 7}, right: &expr{tok: 3}},
		right: &expr{tok: opAdd, left: &expr{tok: 2}, right: &expr{tok: 9}}}
	if got := e.String(); got != "((7×3)−(2+9))" {
		t.Errorf("String() = %q", got)
	}
	if e.value() != 10 || e.label() != 0 || e.size() != 7 {
		t.Errorf("value %d, label %d, size %d; want 10, 0, 7", e.value(), e.label(), e.size())
	}
	neg := &expr{tok: opSub, left: &expr{tok: 1}, right: &expr{tok: 8}} // −7 ends in 3 mod 10
	if neg.label() != 3 {
		t.Errorf("label of (1−8) = %d, want 3", neg.label())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for ops := range 6 {
		if got := randomExpr(rng, ops).size(); got != 2*ops+1 {
			t.Errorf("an expression with %d operators has %d nodes, want %d", ops, got, 2*ops+1)
		}
	}
}

// TestGraphFollowsTree checks define-by-run: the gradient reaches exactly
// the embeddings of the tokens that occur in the tree, and nothing else.
func TestGraphFollowsTree(t *testing.T) {
	m := newTreeLSTM(4, 8, tensor.NewGenerator(1))
	e := &expr{tok: opMul, left: &expr{tok: 2}, right: &expr{tok: 5}}
	h, _ := m.node(e, m.tokenGates(), &nodes{})
	h.Sum().Backward()
	g := m.Embed.Weight.Grad()
	if g == nil {
		t.Fatal("no gradient reached the embedding")
	}
	for tok := range numTokens {
		row := g.Select(0, tok).Abs().Sum().Item()
		used := tok == 2 || tok == 5 || tok == opMul
		if used != (row > 0) {
			t.Errorf("token %d: gradient norm %g, used in the tree: %v", tok, row, used)
		}
	}
}

// TestTinySpace checks that a held-out set covering every possible
// expression is an error rather than an endless search for training data.
func TestTinySpace(t *testing.T) {
	c := config{MinOps: 1, MaxOps: 1, Steps: 1, Batch: 4, Embed: 4, Hidden: 4, LR: 1e-3, TestSize: 1000, Seed: 1}
	if _, err := run(c); err == nil {
		t.Fatal("run succeeded with every one-operator expression held out")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
