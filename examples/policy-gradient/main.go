// Command policy-gradient trains a policy network with REINFORCE
// (Williams, 1992) to balance the pole of a CartPole environment written
// in Go (cartpole.go: the physics of OpenAI Gym's CartPole-v1).
//
// The policy is an MLP 4 → 128 → 2 whose softmax gives the probabilities
// of pushing left or right. Each update plays a batch of episodes in
// lockstep, sampling every action with tensor.Generator.Multinomial
// inside autograd.NoGrad, then replays the visited states through the
// network with recording on and descends
//
//	−Σ_t log π(a_t | s_t) · Â_t / episodes,
//
// where Â_t is the discounted return-to-go G_t = Σ_k γ^k r_{t+k},
// standardised over the batch: subtracting the mean is a constant
// baseline, dividing by the standard deviation keeps the step size steady
// as returns grow from 10 to 500.
//
// Training stops when the environment is solved by Gym's definition for
// CartPole-v1: an average return of at least 475 over 100 consecutive
// episodes. The trained policy is then run for 100 fresh episodes.
//
//	go run ./examples/policy-gradient
//	go run ./examples/policy-gradient -episodes 400 -seed 2
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
	"time"

	"github.com/tapir-ml/tapir/autograd"
	"github.com/tapir-ml/tapir/nn"
	"github.com/tapir-ml/tapir/optim"
	"github.com/tapir-ml/tapir/tensor"
)

// config holds the command-line options.
type config struct {
	Episodes  int     // most training episodes
	Batch     int     // episodes per update
	Hidden    int     // hidden units
	LR        float64 // Adam's learning rate
	Gamma     float64 // discount
	Solved    float64 // average return that counts as solved
	Window    int     // episodes averaged for Solved
	Eval      int     // episodes played by the trained policy; 0 skips
	Seed      uint64
	Save      string    // path to save the trained policy (safetensors); "" skips
	Out       io.Writer // progress; nil means io.Discard
	LogEvery  int       // print a line every LogEvery updates; 0 never
	KeepGoing bool      // train all Episodes even once solved
}

// result is what run measured.
type result struct {
	Returns  []float64 // every training episode's return, in order
	Solved   bool
	SolvedAt int     // episodes played when the last Window averaged ≥ Solved (−1: never)
	Best     float64 // best average over Window consecutive episodes
	Eval     []float64
	Elapsed  time.Duration
	EnvSteps int
}

func main() {
	var cfg config
	flag.IntVar(&cfg.Episodes, "episodes", 3000, "most training episodes")
	flag.IntVar(&cfg.Batch, "batch", 8, "episodes per policy update")
	flag.IntVar(&cfg.Hidden, "hidden", 128, "hidden units of the policy MLP")
	flag.Float64Var(&cfg.LR, "lr", 5e-3, "Adam learning rate")
	flag.Float64Var(&cfg.Gamma, "gamma", 0.99, "discount factor")
	flag.Float64Var(&cfg.Solved, "solved", 475, "average return over -window episodes that counts as solved (CartPole-v1: 475)")
	flag.IntVar(&cfg.Window, "window", 100, "episodes in the solved average")
	flag.IntVar(&cfg.Eval, "eval", 100, "episodes the trained policy plays afterwards")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "random seed")
	flag.StringVar(&cfg.Save, "save", "", "save the trained policy to this safetensors file")
	flag.BoolVar(&cfg.KeepGoing, "keep-going", false, "train all episodes even once solved")
	flag.Parse()
	cfg.Out = os.Stdout
	cfg.LogEvery = 10
	res, err := run(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if !res.Solved {
		os.Exit(1)
	}
}

// policy maps a state to the logits of the two actions.
type policy struct {
	FC1 *nn.Linear
	FC2 *nn.Linear
}

func newPolicy(hidden int, g *tensor.Generator) *policy {
	return &policy{
		FC1: nn.NewLinear(4, hidden, nn.LinearConfig{Generator: g}),
		FC2: nn.NewLinear(hidden, 2, nn.LinearConfig{Generator: g}),
	}
}

func (p *policy) Forward(s *tensor.Tensor) *tensor.Tensor {
	return p.FC2.Forward(p.FC1.Forward(s).ReLU())
}

// episode is one trajectory: states, actions and rewards, step by step.
type episode struct {
	states  []float32 // 4 per step
	actions []int64
	rewards []float64
}

// rollout plays n episodes at once, one environment each, sampling
// actions from the policy; the network runs on the batch of environments
// still going, with nothing recorded.
func rollout(p *policy, envs []*cartPole, gen *tensor.Generator) []episode {
	n := len(envs)
	eps := make([]episode, n)
	cur := make([]state, n)
	live := make([]int, 0, n) // indices of environments still running
	for i, e := range envs {
		cur[i] = e.reset()
		live = append(live, i)
	}
	obs := make([]float32, 0, 4*n)
	for len(live) > 0 {
		obs = obs[:0]
		for _, i := range live {
			for _, v := range cur[i] {
				obs = append(obs, float32(v))
			}
		}
		var actions []int64
		autograd.NoGrad(func() {
			probs := p.Forward(tensor.FromSlice(obs, len(live), 4)).Softmax(1)
			actions = gen.Multinomial(probs, 1, true).Int64s()
		})
		next := live[:0]
		for k, i := range live {
			a := actions[k]
			ep := &eps[i]
			ep.states = append(ep.states, obs[4*k:4*k+4]...)
			ep.actions = append(ep.actions, a)
			s, r, term, trunc := envs[i].step(int(a))
			ep.rewards = append(ep.rewards, r)
			cur[i] = s
			if !term && !trunc {
				next = append(next, i)
			}
		}
		live = next
	}
	return eps
}

// advantages returns the discounted returns-to-go of every step of every
// episode, concatenated, standardised to mean 0 and standard deviation 1.
func advantages(eps []episode, gamma float64) []float32 {
	var g []float64
	for _, ep := range eps {
		ret := make([]float64, len(ep.rewards))
		acc := 0.0
		for t := len(ep.rewards) - 1; t >= 0; t-- {
			acc = ep.rewards[t] + gamma*acc
			ret[t] = acc
		}
		g = append(g, ret...)
	}
	mean, sq := 0.0, 0.0
	for _, v := range g {
		mean += v
	}
	mean /= float64(len(g))
	for _, v := range g {
		sq += (v - mean) * (v - mean)
	}
	std := math.Sqrt(sq / float64(len(g)))
	out := make([]float32, len(g))
	for i, v := range g {
		out[i] = float32((v - mean) / (std + 1e-8))
	}
	return out
}

func run(cfg config) (*result, error) {
	if cfg.Episodes < 1 || cfg.Batch < 1 || cfg.Hidden < 1 || cfg.Window < 1 || cfg.LR <= 0 || cfg.Gamma <= 0 || cfg.Gamma > 1 {
		return nil, errors.New("policy-gradient: episodes, batch, hidden, window, lr and gamma must be positive (gamma ≤ 1)")
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	gen := tensor.NewGenerator(cfg.Seed)
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	envs := make([]*cartPole, cfg.Batch)
	for i := range envs {
		envs[i] = newCartPole(rng)
	}
	pol := newPolicy(cfg.Hidden, gen)
	opt := optim.NewAdam(nn.Parameters(pol), optim.AdamConfig{LR: cfg.LR})

	res := &result{SolvedAt: -1}
	fmt.Fprintf(out, "REINFORCE on CartPole-v1: policy 4→%d→2, Adam lr %g, γ = %g, %d episodes per update; solved = average return ≥ %g over %d episodes\n",
		cfg.Hidden, cfg.LR, cfg.Gamma, cfg.Batch, cfg.Solved, cfg.Window)
	start := time.Now()
	windowSum := 0.0
	for update := 1; len(res.Returns) < cfg.Episodes; update++ {
		eps := rollout(pol, envs, gen)
		var states []float32
		var actions []int64
		for _, ep := range eps {
			states = append(states, ep.states...)
			actions = append(actions, ep.actions...)
			r := 0.0
			for _, v := range ep.rewards {
				r += v
			}
			res.Returns = append(res.Returns, r)
			res.EnvSteps += len(ep.rewards)
			windowSum += r
			if n := len(res.Returns); n > cfg.Window {
				windowSum -= res.Returns[n-1-cfg.Window]
			}
			if n := len(res.Returns); n >= cfg.Window {
				avg := windowSum / float64(cfg.Window)
				res.Best = math.Max(res.Best, avg)
				if !res.Solved && avg >= cfg.Solved {
					res.Solved, res.SolvedAt = true, n
				}
			}
		}

		if res.Solved && !cfg.KeepGoing {
			break // keep the policy that played the solving episodes
		}

		// The policy gradient: replay the batch's states with recording on.
		steps := len(actions)
		adv := tensor.FromSlice(advantages(eps, cfg.Gamma))
		logp := pol.Forward(tensor.FromSlice(states, steps, 4)).LogSoftmax(1)
		chosen := logp.Gather(1, tensor.FromSlice(actions, steps, 1)).Squeeze(1)
		loss := chosen.Mul(adv).Sum().Neg().DivScalar(float64(len(eps)))
		opt.ZeroGrad()
		loss.Backward()
		opt.Step()

		if cfg.LogEvery > 0 && update%cfg.LogEvery == 0 {
			n := len(res.Returns)
			w := min(n, cfg.Window)
			fmt.Fprintf(out, "episode %5d  last return %3.0f  mean of the last %d %6.1f  (%v)\n",
				n, res.Returns[n-1], w, mean(res.Returns[n-w:]), time.Since(start).Round(time.Second))
		}
	}
	res.Elapsed = time.Since(start)
	if res.Solved {
		fmt.Fprintf(out, "solved after %d episodes (%d environment steps) in %v: the average return over episodes %d–%d is ≥ %g\n",
			res.SolvedAt, res.EnvSteps, res.Elapsed.Round(time.Millisecond), res.SolvedAt-cfg.Window+1, res.SolvedAt, cfg.Solved)
	} else {
		fmt.Fprintf(out, "not solved in %d episodes (%v); best average over %d consecutive episodes: %.1f\n",
			len(res.Returns), res.Elapsed.Round(time.Millisecond), cfg.Window, res.Best)
	}

	if cfg.Eval > 0 {
		evalEnvs := make([]*cartPole, cfg.Eval)
		for i := range evalEnvs {
			evalEnvs[i] = newCartPole(rng)
		}
		for _, ep := range rollout(pol, evalEnvs, gen) {
			res.Eval = append(res.Eval, float64(len(ep.rewards)))
		}
		full := 0
		for _, r := range res.Eval {
			if r == maxSteps {
				full++
			}
		}
		fmt.Fprintf(out, "trained policy on %d new episodes (actions sampled): mean return %.1f, min %.0f, %d of %d reached the %d-step limit\n",
			cfg.Eval, mean(res.Eval), minOf(res.Eval), full, cfg.Eval, maxSteps)
	}
	if cfg.Save != "" {
		if err := nn.Save(cfg.Save, pol); err != nil {
			return res, err
		}
		fmt.Fprintf(out, "saved the policy to %s\n", cfg.Save)
	}
	return res, nil
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

func minOf(v []float64) float64 {
	m := math.Inf(1)
	for _, x := range v {
		m = math.Min(m, x)
	}
	return m
}
