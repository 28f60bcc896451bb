// Package ops is a survey of single ops, Tapir against PyTorch:
// BenchmarkOps times some sixty of them (elementwise math, activations,
// reductions, normalizations, pooling, resizing, padding, embedding,
// attention, losses) on a million elements or common layer shapes, and
// the forward and backward of ten activations, the mean squared error
// and bilinear upsampling (the cases named *_fb), and
// ops_torch.py times the same ops in PyTorch and, given the Go output,
// prints their ratios. It finds the ops that fall far behind, as the
// workloads of package bench do not; it sets no targets.
//
//	go test -run '^$' -bench Ops -cpu 1 -count 3 ./bench/ops > /tmp/ops.txt
//	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX \
//	  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/ops/ops_torch.py --go /tmp/ops.txt
package ops
