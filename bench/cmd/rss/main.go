// Command rss runs training steps of one of the bench workloads in a
// fresh process and prints the process's peak resident set size (VmHWM
// from /proc/self/status), for the peak-RSS rows of bench/run.sh:
//
//	go run ./bench/cmd/rss -model mlp -steps 50
//
// prints
//
//	RSS mlp 123.4 MiB
//
// The models, batch (128) and optimizer (SGD, lr 0.01, momentum 0.9) are
// those of BenchmarkMLPModuleStep and BenchmarkLeNetStep (bench/models.go);
// torch_bench.py --rss MODEL does the same in PyTorch. GOMAXPROCS sets the
// threads, as -cpu does for the benchmarks. Linux only.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/tapir-ml/tapir/bench"
)

func main() {
	model := flag.String("model", "mlp", "workload: mlp or lenet")
	steps := flag.Int("steps", 50, "training steps to run")
	flag.Parse()

	base, err := vmHWM()
	if err != nil {
		fail(err)
	}
	w, ok := bench.NewWorkload(*model)
	if !ok {
		fail(fmt.Errorf("unknown -model %q: want mlp or lenet", *model))
	}
	opt := bench.NewSGD(w.Model)
	var loss float64
	for range *steps {
		loss = bench.TrainStep(w.Model, opt, w.X, w.Y)
	}
	peak, err := vmHWM()
	if err != nil {
		fail(err)
	}
	fmt.Printf("# rss %s: %d steps, last loss %.4f, VmHWM at start %.1f MiB\n", *model, *steps, loss, base)
	fmt.Printf("RSS %s %.1f MiB\n", *model, peak)
}

// vmHWM is the process's peak resident set size in MiB.
func vmHWM() (float64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("rss: VmHWM %q: %v", rest, err)
			}
			return kb / 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("rss: no VmHWM in /proc/self/status")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "rss:", err)
	os.Exit(1)
}
