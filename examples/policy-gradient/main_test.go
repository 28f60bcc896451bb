package main

import (
	"testing"
)

// TestShortRunImproves trains for a few hundred episodes and checks that
// the returns rise well above those of the untrained policy.
func TestShortRunImproves(t *testing.T) {
	cfg := config{Episodes: 240, Batch: 8, Hidden: 128, LR: 5e-3, Gamma: 0.99, Solved: 475, Window: 100, Seed: 3}
	res, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Returns) != cfg.Episodes {
		t.Fatalf("played %d episodes, want %d", len(res.Returns), cfg.Episodes)
	}
	first, last := mean(res.Returns[:40]), mean(res.Returns[len(res.Returns)-40:])
	t.Logf("mean return: first 40 episodes %.1f, last 40 %.1f", first, last)
	if last < 2*first || last < 60 {
		t.Errorf("returns did not rise: first 40 episodes %.1f, last 40 %.1f", first, last)
	}
}

// TestSolvedBookkeeping uses an easy threshold so that a short run solves
// it, and checks SolvedAt against the returns themselves: the window that
// ends there averages at least the threshold and no earlier one does.
func TestSolvedBookkeeping(t *testing.T) {
	cfg := config{Episodes: 400, Batch: 8, Hidden: 32, LR: 5e-3, Gamma: 0.99, Solved: 60, Window: 20, Eval: 16, Seed: 1}
	res, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Solved {
		t.Fatalf("not solved; best average %.1f", res.Best)
	}
	for end := cfg.Window; end <= res.SolvedAt; end++ {
		avg := mean(res.Returns[end-cfg.Window : end])
		switch {
		case end < res.SolvedAt && avg >= cfg.Solved:
			t.Fatalf("episodes %d–%d already average %.1f ≥ %g, but SolvedAt = %d", end-cfg.Window+1, end, avg, cfg.Solved, res.SolvedAt)
		case end == res.SolvedAt && avg < cfg.Solved:
			t.Fatalf("SolvedAt = %d, but that window averages %.1f", end, avg)
		}
	}
	// Training stops with the batch that solved it.
	if len(res.Returns) >= res.SolvedAt+cfg.Batch {
		t.Errorf("played %d episodes after solving at %d", len(res.Returns), res.SolvedAt)
	}
	if len(res.Eval) != cfg.Eval {
		t.Errorf("evaluated %d episodes, want %d", len(res.Eval), cfg.Eval)
	}
	for _, r := range res.Eval {
		if r < 1 || r > maxSteps {
			t.Errorf("evaluation return %v outside [1, %d]", r, maxSteps)
		}
	}
}
