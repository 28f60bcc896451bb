// Package bench compares Tapir with PyTorch on the same machine, in the
// same run, on workloads with the same shapes in float32:
//
//   - per-op overhead on tiny tensors: Add of two [16] tensors without and
//     with autograd recording, and a 4×4 MatMul (ns/op);
//   - float32 matrix products from 256³ to 2048³ against torch.mm and
//     oneDNN's sgemm (GFLOP/s = 2n³ / time);
//   - training steps at batch 128 of a 784-512-512-10 ReLU MLP (as raw
//     tensors and as nn modules with optim.SGD) and of a LeNet-style CNN
//     (ms/step);
//   - forward and backward of single layers in the middle of a network:
//     a 64→64 3×3 Conv2d on [32, 64, 56, 56], an LSTM(128, 256) on 64
//     steps of a batch of 32, a Transformer encoder layer (d_model 256, 4
//     heads, feed-forward 1024) on 16 sequences of 128 tokens (ms/step);
//   - add, mul, exp and relu on [64M] float32 tensors against the
//     machine's copy bandwidth (GB/s);
//   - the peak RSS of the MLP and CNN training loops (bench/cmd/rss).
//
// The models of the training steps are in this package (NewMLP,
// NewLeNet, TrainStep, NewWorkload), shared by the Benchmark functions
// of its test files and by bench/cmd/rss; torch_bench.py runs the same
// workloads in PyTorch, and run.sh alternates the two in fresh processes
// for several rounds and for 1 and 2 threads, then prints the medians,
// the Tapir/PyTorch time ratios and the targets they meet or miss
// (report.py). See README.md.
//
//	bash bench/run.sh                      # 3 rounds, 1 and 2 threads
//	go test ./bench -run XXX -bench . -cpu 2 -benchmem
//
// `go test ./bench` without -bench only runs quick correctness checks
// (about a second) that the benchmarked workloads really compute.
package bench
