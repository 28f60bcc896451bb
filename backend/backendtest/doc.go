// Package backendtest is the conformance suite every [backend.Backend]
// runs, in the manner of gonum's testblas: one table of cases, written
// once against the interface, that the CPU backend (with each of its GEMM
// paths) and the CUDA backend all pass.
//
// A backend's test calls [Run]:
//
//	func TestConformance(t *testing.T) {
//		be, err := backend.Open(backend.Device{Type: backend.CUDAType})
//		if err != nil {
//			t.Skip(err) // no GPU here
//		}
//		backendtest.Run(t, be, backendtest.Options{
//			// skip a family, or one dtype of one op, by subtest name
//			Skip: func(name string) bool { return name == "Unfold/float64/3d" },
//		})
//	}
//
// The suite moves data only through Alloc, Upload and Download and calls
// nothing but Backend methods, so it knows no backend's internals. Its
// reference results come from plain float64 (and int64) Go loops in this
// package that walk multi-indices with an odometer; they share no code
// with any backend. The 16-bit float formats are decoded and rounded by
// the oracle in backend/internal/halfref, never by backend/half.go.
//
// # What runs
//
// Subtests are named Method/op/dtype/variant, e.g. "Binary/add/float32/broadcast",
// "Reduce/sum/int64/multi", "MatMul/float64/transB",
// "Copy/float32_to_int64/flip", so -run and [Options.Skip] can select
// them. Every Backend method is covered: Transfer (Alloc, Upload,
// Download, Sync, Release), Fill, Copy (all 64 dtype pairs), Unary (every
// UnaryOp, several scalar sets, in place too, plus IEEE special values),
// Binary (every BinaryOp, comparisons writing Bool, broadcasting by
// stride 0, dst aliasing a or b), Where, Reduce (every ReduceOp over one,
// several, all and empty dims; Float32 sums against lanes a float32
// accumulator gets wrong; Int64 sums past 32 bits; NaN), ArgReduce (first
// extreme, NaN as the extreme, with and without values), Softmax and
// log-softmax along every dim, CumSum, MatMul (batched, transposed
// operands by stride swaps, broadcast batches, padded rows, sizes 0, 1,
// odd and past a register block: 1, 7, 33, 130), IndexSelect, IndexAdd,
// Gather, ScatterAdd (repeated indices accumulate; an index out of range
// is an error wrapping [backend.ErrIndex]), Unfold and Fold (against a
// direct reference, and Fold as Unfold's adjoint: ⟨Unfold(x), y⟩ =
// ⟨x, Fold(y)⟩ in float64), MaxPool (values and Int64 indices, ties,
// padding, dilation, NaN), and Random (against Philox4x32-10 and the
// RandomSpec formulas reimplemented here, and Offset continuation).
//
// Each case draws fresh random inputs (never all zeros, within the op's
// domain) and passes them contiguous and as strided views: dims stored in
// reverse order (transposed), every element a gap apart at a nonzero
// offset into a larger storage, and stride-0 (broadcast) dims where the
// method allows them; shapes include 0-d, size-1 and empty dims, and
// unless -short sizes past where a backend splits work over threads.
// Outputs are poisoned first (a NaN for floats, a byte pattern for
// integers, 0xa5 for Bool), so an element the kernel does not write fails
// the comparison, and afterwards the whole storage is downloaded: an
// element outside the output view that changed, or any change to an
// input's storage, is an error.
//
// # Types
//
// Each method runs on the types the Backend contract gives it, intersected
// with [Options.DTypes]. The 16-bit float types are stored and converted
// by a backend but computed in Float32 by package tensor (see
// [backend.DType.IsHalf]), so they run through Fill, Copy, Where,
// IndexSelect, Gather and Download only. Integer Sum and Prod take Int64,
// Mean and the transcendental ops float types; comparisons, Where, the
// moving ops, Max, Min and ArgReduce take Bool as well.
//
// # Tolerances
//
// Integer and Bool results, moved elements (Copy between equal types,
// Where, IndexSelect, Gather, Unfold, MaxPool), comparisons, Max, Min and
// ArgReduce must be exact. Float results are compared with a per-element
// absolute bound built from the base tolerance Tol of the type, and
// elementwise results also with the relative norm ‖got−want‖₂/‖want‖₂ ≤
// Tol. A NaN matches only a NaN, an infinity only itself; a NaN or an
// infinity where the reference is finite always fails.
//
// The base tolerances are 1e-6 for Float32 (about 16 units in the last
// place, 2⁻²⁴ ≈ 6e-8 each: room for a few roundings and a vectorized
// approximation, far below what a wrong formula, index or missed element
// costs) and 1e-12 for Float64 (about 4500 units of 2⁻⁵³: the same
// room for float64 arithmetic). Float16 and BFloat16 get their unit
// roundoff, 2⁻¹¹ and 2⁻⁸: a conversion into them must land within it of
// the exact source value, so rounding from float64 directly or through
// float32 both pass, while truncation fails. Each op family scales Tol:
//
//   - Correctly rounded elementwise ops (arithmetic, Sqrt, Rsqrt,
//     Reciprocal, Floor/Ceil/Round, Clamp, …): Tol·|want| per element.
//   - The transcendental family (Exp, Log, Log1p, Sin, Cos, Tanh,
//     Sigmoid, GELU, SiLU, Softplus, Erf, PowScalar, Pow): 2·Tol per
//     element, as a backend may use vectorized polynomial approximations
//     of a few ulps. Where such an approximation's error is absolute
//     rather than relative (Log near 1, Sin and Cos near their zeros,
//     GELU and Softplus for negative inputs, where 1+erf and log(1+eˣ)
//     cancel), the bound is 2·Tol·max(|want|, 1).
//   - Sum and Mean: Tol·|want| plus count·2⁻⁵²·Σ|x|, the error of a
//     float64 accumulation in any order: Float32 sums are documented to
//     accumulate in float64, and lanes of 1 + 4095·2⁻²⁵ and 2²⁴ + 1000·1 −
//     2²⁴ catch a sequential float32 accumulator (the second one a pairwise
//     one too). Prod: Tol·max(1, count/4)·|want|.
//   - MatMul: Tol·K·Σₖ|a·b| per element, about K·16 units of the
//     largest-magnitude terms: a dot product of K terms in any order and
//     with fused multiply-adds errs by at most about K units.
//   - Softmax: (2 + log₂(n+1))·Tol·|want| for a lane of n (an exp plus a
//     sum whose rounding grows with a reduction tree's depth); for
//     log-softmax the scale is |x| + |log Σ| instead of |want|.
//   - CumSum, IndexAdd, ScatterAdd, Fold: Tol·Σ|terms| (CumSum adds
//     ⌈k/16⌉·Σ|terms| for the k-th element of a lane, which covers a
//     sequential float32 sum's worst case).
//   - Random: Uniform and Integer bit for bit (exact arithmetic on the
//     stream); Normal within Tol/4 of its scale, as it goes through log,
//     sqrt, sin and cos, whose last bit IEEE 754 does not fix.
//
// [Options.Tol] replaces a type's base tolerance.
//
// # Reproducing a failure
//
// Run logs its seed. Every subtest derives its inputs from the seed and
// its own name, so
//
//	TAPIR_BACKENDTEST_SEED=1234 go test -run 'Conformance/default/Binary/pow' ./backend/cpu
//
// reproduces one failing subtest exactly.
package backendtest
