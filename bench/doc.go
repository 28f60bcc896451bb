// Package bench compares Tapir with PyTorch on the same machine, in the
// same run, on three workloads with the same shapes in float32:
//
//   - per-op overhead on tiny tensors: Add of two [4] tensors without and
//     with autograd recording, and a 4×4 MatMul (ns/op);
//   - a 1024×1024×1024 matrix product (GFLOP/s = 2n³ / time);
//   - one training step of a 784-512-512-10 ReLU MLP at batch 128:
//     forward, NLL loss on log-softmax, backward and a plain SGD update
//     (ms/step).
//
// The Go side is the Benchmark functions in this package's test file (the
// package has no non-test code besides this comment); torch_bench.py runs
// the same workloads in PyTorch, and run.sh alternates the two in fresh
// processes for several rounds and for 1 and 2 threads, then prints the
// medians and the Tapir/PyTorch time ratios (report.py). See README.md.
//
//	bash bench/run.sh                      # 3 rounds, 1 and 2 threads
//	go test ./bench -run XXX -bench . -cpu 2 -benchmem
//
// `go test ./bench` without -bench only runs a quick correctness check
// that the benchmarked training step really lowers the loss.
package bench
