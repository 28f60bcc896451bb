package cuda

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cuda/internal/alloc"
	"github.com/tapir-ml/tapir/backend/cuda/internal/cu"
	"github.com/tapir-ml/tapir/backend/cuda/internal/cublas"
	"github.com/tapir-ml/tapir/backend/cuda/internal/kernels"
)

// lay is the kernel image of a layout; more than 8 dims is a caller bug.
func lay(shape, strides []int, offset int) []byte {
	l, err := kernels.MakeLayout(shape, strides, offset)
	if err != nil {
		panic(err.Error())
	}
	return l.Bytes()
}

func layOf(v backend.View) []byte { return lay(v.Shape, v.Strides, v.Offset) }

func allContiguous(vs ...backend.View) bool {
	for _, v := range vs {
		if !v.IsContiguous() {
			return false
		}
	}
	return true
}

func base(v backend.View) cu.DevPtr  { return ptr(v, 0) }
func first(v backend.View) cu.DevPtr { return ptr(v, v.Offset) }

// Fill implements backend.Backend.
func (b *Backend) Fill(dst backend.View, v float64) {
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	b.run(func() error {
		s := kernels.Short(dst.DType())
		if dst.IsContiguous() {
			return b.launch("fill_"+s+"_c", n, new(cu.Args).Ptr(first(dst)).I64(n).F64(v))
		}
		return b.launch("fill_"+s+"_s", n, new(cu.Args).Ptr(base(dst)).I64(n).F64(v).Raw(layOf(dst)))
	})
}

// Copy implements backend.Backend.
func (b *Backend) Copy(dst, src backend.View) {
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	b.run(func() error {
		if allContiguous(dst, src) {
			if dst.DType() == src.DType() {
				return b.drv.MemcpyDtoDAsync(first(dst), first(src), uint64(n)*uint64(dst.DType().Size()), b.stream)
			}
			return b.launch(kernels.CopyName(src.DType(), dst.DType(), true), n, new(cu.Args).Ptr(first(dst)).Ptr(first(src)).I64(n))
		}
		return b.launch(kernels.CopyName(src.DType(), dst.DType(), false), n,
			new(cu.Args).Ptr(base(dst)).Ptr(base(src)).I64(n).Raw(layOf(dst)).Raw(layOf(src)))
	})
}

// Unary implements backend.Backend.
func (b *Backend) Unary(op backend.UnaryOp, dst, src backend.View, p backend.Scalars) {
	if !kernels.UnarySupported(op, src.DType()) {
		panic(fmt.Sprintf("cuda: unary %s: unsupported dtype %s", op, src.DType()))
	}
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	b.run(func() error {
		if allContiguous(dst, src) {
			return b.launch(kernels.UnaryName(op, src.DType(), true), n, new(cu.Args).Ptr(first(dst)).Ptr(first(src)).I64(n).F64(p.A).F64(p.B))
		}
		return b.launch(kernels.UnaryName(op, src.DType(), false), n,
			new(cu.Args).Ptr(base(dst)).Ptr(base(src)).I64(n).F64(p.A).F64(p.B).Raw(layOf(dst)).Raw(layOf(src)))
	})
}

// Binary implements backend.Backend.
func (b *Backend) Binary(op backend.BinaryOp, dst, x, y backend.View) {
	if !kernels.BinarySupported(op, x.DType()) {
		panic(fmt.Sprintf("cuda: binary %s: unsupported dtype %s", op, x.DType()))
	}
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	b.run(func() error {
		if allContiguous(dst, x, y) {
			return b.launch(kernels.BinaryName(op, x.DType(), true), n, new(cu.Args).Ptr(first(dst)).Ptr(first(x)).Ptr(first(y)).I64(n))
		}
		return b.launch(kernels.BinaryName(op, x.DType(), false), n,
			new(cu.Args).Ptr(base(dst)).Ptr(base(x)).Ptr(base(y)).I64(n).Raw(layOf(dst)).Raw(layOf(x)).Raw(layOf(y)))
	})
}

// Where implements backend.Backend.
func (b *Backend) Where(dst, cond, x, y backend.View) {
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	s := kernels.Short(dst.DType())
	b.run(func() error {
		if allContiguous(dst, cond, x, y) {
			return b.launch("where_"+s+"_c", n, new(cu.Args).Ptr(first(dst)).Ptr(first(cond)).Ptr(first(x)).Ptr(first(y)).I64(n))
		}
		return b.launch("where_"+s+"_s", n, new(cu.Args).Ptr(base(dst)).Ptr(base(cond)).Ptr(base(x)).Ptr(base(y)).I64(n).
			Raw(layOf(dst)).Raw(layOf(cond)).Raw(layOf(x)).Raw(layOf(y)))
	})
}

// Reduce implements backend.Backend.
func (b *Backend) Reduce(op backend.ReduceOp, dst, src backend.View) {
	if op == backend.ReduceMean && !src.DType().IsFloat() {
		panic("cuda: reduce mean: " + src.DType().String() + " is not a float type")
	}
	nout := int64(dst.Numel())
	if nout == 0 {
		return
	}
	r := int64(src.Numel()) / nout
	nd := len(src.Shape)
	keptStrides := make([]int, nd)
	var redShape, redStrides []int
	trailing, seenReduced := true, false
	for i := 0; i < nd; i++ {
		if dst.Shape[i] == 1 && src.Shape[i] != 1 {
			redShape = append(redShape, src.Shape[i])
			redStrides = append(redStrides, src.Strides[i])
			seenReduced = true
			continue
		}
		keptStrides[i] = src.Strides[i]
		if seenReduced && src.Shape[i] != 1 {
			trailing = false
		}
	}
	redShape, redStrides = coalesce(redShape, redStrides)
	b.run(func() error {
		grid := uint32(min(nout, 65535))
		if nout < int64(2*b.sms) && r >= splitReduce {
			return b.reduceSplit(op, dst, src, nout, r, keptStrides, redShape, redStrides)
		}
		if trailing && allContiguous(dst, src) {
			return b.launchGrid(kernels.ReduceName(op, src.DType(), "c"), grid, new(cu.Args).Ptr(first(dst)).Ptr(first(src)).I64(nout).I64(r))
		}
		args := new(cu.Args).Ptr(base(dst)).Ptr(base(src)).I64(nout).I64(r).
			Raw(layOf(dst)).Raw(lay(dst.Shape, keptStrides, src.Offset)).Raw(lay(redShape, redStrides, 0))
		if r < 64 {
			return b.launch(kernels.ReduceName(op, src.DType(), "t"), nout, args)
		}
		return b.launchGrid(kernels.ReduceName(op, src.DType(), "s"), grid, args)
	})
}

// splitReduce is the least count of elements per output at which a
// reduction with fewer outputs than twice the multiprocessors splits each
// output over several blocks: with a block per output, most of the GPU
// idles and each thread waits on hundreds of loads in turn (BatchNorm's
// per-channel sums in a ResNet-18 step took 610 µs a call on an H100).
const splitReduce = 8192

// reduceSplit runs the split pair of kernels (see kernels.ReduceName):
// about four blocks per multiprocessor, each over a chunk of at least
// 2,048 elements of one output, their partial accumulators in a scratch
// block of the allocator. The caller holds the context (b.do).
func (b *Backend) reduceSplit(op backend.ReduceOp, dst, src backend.View, nout, r int64, keptStrides, redShape, redStrides []int) error {
	parts := max(1, (4*int64(b.sms)+nout-1)/nout)
	chunk := max(2048, (r+parts-1)/parts)
	chunk = (chunk + blockSize - 1) / blockSize * blockSize
	parts = (r + chunk - 1) / chunk
	scratch, err := b.alloc.Alloc(uint64(nout*parts)*8, alloc.Stream(b.stream)) // double or i64 accumulators
	if err != nil {
		return err
	}
	defer b.alloc.Free(scratch) // stream-ordered: reused only by later work
	part := cu.DevPtr(scratch.Ptr)
	args := new(cu.Args).Ptr(part).Ptr(base(src)).I64(nout).I64(r).I64(parts).I64(chunk).
		Raw(lay(dst.Shape, keptStrides, src.Offset)).Raw(lay(redShape, redStrides, 0))
	if err := b.launchGrid(kernels.ReduceName(op, src.DType(), "p"), uint32(min(nout*parts, 65535)), args); err != nil {
		return err
	}
	args = new(cu.Args).Ptr(base(dst)).Ptr(part).I64(nout).I64(parts).I64(r).Raw(layOf(dst))
	return b.launch(kernels.ReduceName(op, src.DType(), "f"), nout, args)
}

// coalesce merges adjacent dims that one stride walks (strides[i] ==
// strides[i+1]·shape[i+1]) and drops dims of size 1, for a layout indexed
// on its own: fewer dims, fewer divisions per element in the kernels.
func coalesce(shape, strides []int) ([]int, []int) {
	var sh, st []int
	for i := range shape {
		if shape[i] == 1 {
			continue
		}
		if n := len(sh); n > 0 && st[n-1] == strides[i]*shape[i] {
			sh[n-1] *= shape[i]
			st[n-1] = strides[i]
			continue
		}
		sh, st = append(sh, shape[i]), append(st, strides[i])
	}
	return sh, st
}

// lane describes a walk along dim of v: v's layout with size 1 at dim,
// whether the lanes are rows of a contiguous v, and the stride along dim.
func lane(v backend.View, dim int) (l []byte, contig bool, step int) {
	shape := append([]int(nil), v.Shape...)
	shape[dim] = 1
	contig = v.IsContiguous()
	for _, s := range v.Shape[dim+1:] {
		if s != 1 {
			contig = false
		}
	}
	return lay(shape, v.Strides, v.Offset), contig, v.Strides[dim]
}

// ArgReduce implements backend.Backend.
func (b *Backend) ArgReduce(op backend.ArgOp, values, indices, src backend.View, dim int) {
	nout, n := int64(indices.Numel()), int64(src.Shape[dim])
	if nout == 0 {
		return
	}
	if n == 0 {
		panic("cuda: arg reduce over an empty dim")
	}
	hasv := int32(0)
	if values.Storage != nil {
		hasv = 1
	}
	ls, contig, step := lane(src, dim)
	contig = contig && indices.IsContiguous() && (hasv == 0 || values.IsContiguous())
	b.run(func() error {
		var vp, vfirst cu.DevPtr
		vl := make([]byte, kernels.LayoutSize)
		if hasv == 1 {
			vp, vfirst, vl = base(values), first(values), layOf(values)
		}
		if contig {
			return b.launch(kernels.ArgName(op, src.DType(), true), nout,
				new(cu.Args).Ptr(vfirst).Ptr(first(indices)).Ptr(first(src)).I64(nout).I64(n).I32(hasv))
		}
		return b.launch(kernels.ArgName(op, src.DType(), false), nout,
			new(cu.Args).Ptr(vp).Ptr(base(indices)).Ptr(base(src)).I64(nout).I64(n).I32(hasv).I64(int64(step)).Raw(ls).Raw(vl).Raw(layOf(indices)))
	})
}

func (b *Backend) scan(kind string, dst, src backend.View, dim int) {
	n := int64(src.Shape[dim])
	if n == 0 || dst.Numel() == 0 {
		return
	}
	nout := int64(src.Numel()) / n
	ls, cs, sstep := lane(src, dim)
	ld, cd, dstep := lane(dst, dim)
	b.run(func() error {
		if cs && cd {
			return b.launch(kernels.ScanName(kind, src.DType(), true), nout, new(cu.Args).Ptr(first(dst)).Ptr(first(src)).I64(nout).I64(n))
		}
		return b.launch(kernels.ScanName(kind, src.DType(), false), nout,
			new(cu.Args).Ptr(base(dst)).Ptr(base(src)).I64(nout).I64(n).I64(int64(dstep)).I64(int64(sstep)).Raw(ld).Raw(ls))
	})
}

// Softmax implements backend.Backend.
func (b *Backend) Softmax(dst, src backend.View, dim int, log bool) {
	if !src.DType().IsFloat() {
		panic("cuda: softmax: " + src.DType().String() + " is not a float type")
	}
	if log {
		b.scan("logsoftmax", dst, src, dim)
	} else {
		b.scan("softmax", dst, src, dim)
	}
}

// CumSum implements backend.Backend.
func (b *Backend) CumSum(dst, src backend.View, dim int) { b.scan("cumsum", dst, src, dim) }

// checkIndex reads and clears the index kernels' error word. Runs under do.
func (b *Backend) checkIndex(op string, lim int) error {
	var w [16]byte
	if err := b.drv.MemcpyDtoH(w[:], cu.DevPtr(b.errBlk.Ptr)); err != nil {
		return err
	}
	if binary.LittleEndian.Uint64(w[:8]) == 0 {
		return nil
	}
	bad := int64(binary.LittleEndian.Uint64(w[8:]))
	if err := b.drv.MemsetD8Async(cu.DevPtr(b.errBlk.Ptr), 0, 16, b.stream); err != nil {
		return err
	}
	return fmt.Errorf("cuda: %s: index %d is out of range for size %d: %w", op, bad, lim, backend.ErrIndex)
}

func withZero(strides []int, dim int) []int {
	s := append([]int(nil), strides...)
	s[dim] = 0
	return s
}

func prod(s []int) int64 {
	p := int64(1)
	for _, v := range s {
		p *= int64(v)
	}
	return p
}

// IndexSelect implements backend.Backend.
func (b *Backend) IndexSelect(dst, src backend.View, dim int, index backend.View) error {
	n := int64(dst.Numel())
	if n == 0 {
		return nil
	}
	lim := src.Shape[dim]
	return b.do(func() error {
		args := new(cu.Args).Ptr(base(src)).Ptr(base(dst)).Ptr(base(index)).I64(n).I64(prod(dst.Shape[dim+1:])).I64(int64(dst.Shape[dim])).
			I64(int64(src.Strides[dim])).I64(int64(lim)).I64(int64(index.Offset)).I64(int64(index.Strides[0])).
			Raw(layOf(dst)).Raw(lay(dst.Shape, withZero(src.Strides, dim), src.Offset)).Ptr(cu.DevPtr(b.errBlk.Ptr))
		if err := b.launch("index_select_"+kernels.Short(src.DType()), n, args); err != nil {
			return err
		}
		return b.checkIndex("index_select", lim)
	})
}

// IndexAdd implements backend.Backend.
func (b *Backend) IndexAdd(dst backend.View, dim int, index, src backend.View) error {
	if !kernels.AtomicSupported(dst.DType()) {
		panic("cuda: index_add: unsupported dtype " + dst.DType().String())
	}
	n := int64(src.Numel())
	if n == 0 {
		return nil
	}
	lim := dst.Shape[dim]
	return b.do(func() error {
		args := new(cu.Args).Ptr(base(src)).Ptr(base(dst)).Ptr(base(index)).I64(n).I64(prod(src.Shape[dim+1:])).I64(int64(src.Shape[dim])).
			I64(int64(dst.Strides[dim])).I64(int64(lim)).I64(int64(index.Offset)).I64(int64(index.Strides[0])).
			Raw(lay(src.Shape, withZero(dst.Strides, dim), dst.Offset)).Raw(layOf(src)).Ptr(cu.DevPtr(b.errBlk.Ptr))
		if err := b.launch("index_add_"+kernels.Short(dst.DType()), n, args); err != nil {
			return err
		}
		return b.checkIndex("index_add", lim)
	})
}

// Gather implements backend.Backend.
func (b *Backend) Gather(dst, src backend.View, dim int, index backend.View) error {
	n := int64(dst.Numel())
	if n == 0 {
		return nil
	}
	lim := src.Shape[dim]
	return b.do(func() error {
		args := new(cu.Args).Ptr(base(src)).Ptr(base(dst)).Ptr(base(index)).I64(n).I64(int64(src.Strides[dim])).I64(int64(lim)).
			Raw(layOf(dst)).Raw(lay(index.Shape, withZero(src.Strides, dim), src.Offset)).Raw(layOf(index)).Ptr(cu.DevPtr(b.errBlk.Ptr))
		if err := b.launch("gather_"+kernels.Short(src.DType()), n, args); err != nil {
			return err
		}
		return b.checkIndex("gather", lim)
	})
}

// ScatterAdd implements backend.Backend.
func (b *Backend) ScatterAdd(dst backend.View, dim int, index, src backend.View) error {
	if !kernels.AtomicSupported(dst.DType()) {
		panic("cuda: scatter_add: unsupported dtype " + dst.DType().String())
	}
	n := int64(index.Numel())
	if n == 0 {
		return nil
	}
	lim := dst.Shape[dim]
	return b.do(func() error {
		args := new(cu.Args).Ptr(base(src)).Ptr(base(dst)).Ptr(base(index)).I64(n).I64(int64(dst.Strides[dim])).I64(int64(lim)).
			Raw(lay(index.Shape, withZero(dst.Strides, dim), dst.Offset)).Raw(lay(index.Shape, src.Strides, src.Offset)).Raw(layOf(index)).
			Ptr(cu.DevPtr(b.errBlk.Ptr))
		if err := b.launch("scatter_add_"+kernels.Short(dst.DType()), n, args); err != nil {
			return err
		}
		return b.checkIndex("scatter_add", lim)
	})
}

func window(w backend.Window, in []int) []byte {
	win, err := kernels.MakeWin(w, in)
	if err != nil {
		panic(err.Error())
	}
	return win.Bytes()
}

func floatOnly(op string, dt backend.DType) {
	if !dt.IsFloat() {
		panic("cuda: " + op + ": " + dt.String() + " is not a float type")
	}
}

// Unfold implements backend.Backend.
func (b *Backend) Unfold(dst, src backend.View, w backend.Window) {
	floatOnly("unfold", src.DType())
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	C, K, L := int64(src.Shape[1]), int64(w.KernelSize()), int64(dst.Shape[2])
	b.run(func() error {
		return b.launch("unfold_"+kernels.Short(src.DType()), n,
			new(cu.Args).Ptr(first(dst)).Ptr(base(src)).I64(n).I64(C).I64(K).I64(L).Raw(layOf(src)).Raw(window(w, src.Shape[2:])))
	})
}

// Fold implements backend.Backend.
func (b *Backend) Fold(dst, src backend.View, w backend.Window) {
	floatOnly("fold", src.DType())
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	C, K, insz := int64(dst.Shape[1]), int64(w.KernelSize()), prod(dst.Shape[2:])
	b.run(func() error {
		return b.launch("fold_"+kernels.Short(src.DType()), n,
			new(cu.Args).Ptr(first(dst)).Ptr(base(src)).I64(n).I64(C).I64(K).I64(insz).Raw(layOf(src)).Raw(window(w, dst.Shape[2:])))
	})
}

// MaxPool implements backend.Backend.
func (b *Backend) MaxPool(values, indices, src backend.View, w backend.Window) {
	floatOnly("max_pool", src.DType())
	n := int64(values.Numel())
	if n == 0 {
		return
	}
	win, err := kernels.MakeWin(w, src.Shape[2:])
	if err != nil {
		panic(err.Error())
	}
	for d := range w.Kernel { // the caller chooses the output size (ceil mode)
		win.Out[d] = int64(values.Shape[2+d])
	}
	C, outsz, K := int64(src.Shape[1]), prod(values.Shape[2:]), int64(w.KernelSize())
	b.run(func() error {
		return b.launch("maxpool_"+kernels.Short(src.DType()), n,
			new(cu.Args).Ptr(first(values)).Ptr(first(indices)).Ptr(base(src)).I64(n).I64(C).I64(outsz).I64(K).Raw(layOf(src)).Raw(win.Bytes()))
	})
}

// Random implements backend.Backend.
func (b *Backend) Random(dst backend.View, spec backend.RandomSpec) {
	if !dst.IsContiguous() {
		panic("cuda: random: dst must be contiguous")
	}
	n := int64(dst.Numel())
	if n == 0 {
		return
	}
	blocks := int64(backend.Blocks(int(n)))
	args := new(cu.Args).Ptr(first(dst)).I64(n).U64(spec.Seed).U64(spec.Offset)
	var entry string
	switch {
	case spec.Dist == backend.Integer && dst.DType() == backend.Int64:
		lo := int64(spec.A)
		entry = "random_integer_i64"
		args.I64(lo).U64(uint64(int64(spec.B) - lo))
	case spec.Dist == backend.Uniform && dst.DType() == backend.Float32:
		top := float32(math.Inf(1))
		if spec.B > spec.A {
			top = math.Nextafter32(float32(spec.B), float32(math.Inf(-1)))
		}
		entry = "random_uniform_f32"
		args.F64(spec.A).F64(spec.B).F32(top)
	case spec.Dist == backend.Uniform && dst.DType() == backend.Float64:
		top := math.Inf(1)
		if spec.B > spec.A {
			top = math.Nextafter(spec.B, math.Inf(-1))
		}
		entry = "random_uniform_f64"
		args.F64(spec.A).F64(spec.B).F64(top)
	case spec.Dist == backend.Normal && (dst.DType() == backend.Float32 || dst.DType() == backend.Float64):
		entry = "random_normal_" + kernels.Short(dst.DType())
		args.F64(spec.A).F64(spec.B)
	default:
		panic(fmt.Sprintf("cuda: random: distribution %d on %s is not supported", spec.Dist, dst.DType()))
	}
	b.run(func() error { return b.launch(entry, blocks, args) })
}

// blasHandle loads cuBLAS and makes a handle on first use. Runs under do.
func (b *Backend) blasHandle() (*cublas.Lib, cublas.Handle, error) {
	b.blasOnce.Do(func() {
		b.blas, b.blasErr = cublas.Load()
		if b.blasErr == nil {
			b.blasH, b.blasErr = b.blas.Create()
		}
	})
	return b.blas, b.blasH, b.blasErr
}

// contiguousCopy returns a contiguous copy of v and its release.
func (b *Backend) contiguousCopy(v backend.View) (backend.View, func(), error) {
	s, err := b.Alloc(v.DType(), v.Numel())
	if err != nil {
		return v, nil, err
	}
	c := backend.View{Storage: s, Layout: backend.Contiguous(v.Shape)}
	b.Copy(c, v)
	return c, func() { b.Release(s) }, nil
}

func operand(v backend.View) cublas.Operand {
	return cublas.Operand{Rows: v.Shape[1], Cols: v.Shape[2], RowStride: v.Strides[1], ColStride: v.Strides[2]}
}

// MatMul implements backend.Backend: cuBLAS for float32 and float64, a
// direct kernel for the integer types.
func (b *Backend) MatMul(dst, x, y backend.View) {
	dt := x.DType()
	if dt != backend.Float32 && dt != backend.Float64 && !kernels.IntMatMulSupported(dt) {
		panic("cuda: matmul: unsupported dtype " + dt.String())
	}
	B, M, K, N := dst.Shape[0], x.Shape[1], x.Shape[2], y.Shape[2]
	if B == 0 || M == 0 || N == 0 {
		return
	}
	if K == 0 {
		b.Fill(dst, 0)
		return
	}
	if !dt.IsFloat() {
		// cuBLAS has no integer GEMM for these types: a direct kernel
		n := int64(B * M * N)
		b.run(func() error {
			args := new(cu.Args).Ptr(base(x)).Ptr(base(y)).Ptr(base(dst)).I64(n).I64(int64(M)).I64(int64(N)).I64(int64(K)).
				Raw(layOf(x)).Raw(layOf(y)).Raw(layOf(dst))
			return b.launch("matmul_"+kernels.Short(dt), n, args)
		})
		return
	}
	if err := b.matmul(dst, x, y, B, M, N); err != nil {
		b.mu.Lock()
		if b.asyncErr == nil {
			b.asyncErr = err
		}
		b.mu.Unlock()
	}
}

func (b *Backend) matmul(dst, x, y backend.View, B, M, N int) error {
	var frees []func()
	defer func() {
		for _, f := range frees {
			f()
		}
	}()
	g, okX, okY := cublas.Plan(operand(x), operand(y), N)
	if !okX {
		c, free, err := b.contiguousCopy(x)
		if err != nil {
			return err
		}
		x, frees = c, append(frees, free)
	}
	if !okY {
		c, free, err := b.contiguousCopy(y)
		if err != nil {
			return err
		}
		y, frees = c, append(frees, free)
	}
	out := dst
	direct := (dst.Strides[2] == 1 || N == 1) && (dst.Strides[1] >= N || M == 1)
	if !direct {
		s, err := b.Alloc(dst.DType(), dst.Numel())
		if err != nil {
			return err
		}
		out = backend.View{Storage: s, Layout: backend.Contiguous(dst.Shape)}
		frees = append(frees, func() { b.Release(s) })
	}
	ldc := out.Strides[1]
	if M == 1 {
		ldc = N
	}
	g, _, _ = cublas.Plan(operand(x), operand(y), ldc)
	f64 := x.DType() == backend.Float64
	size := x.DType().Size()
	err := b.do(func() error {
		lib, h, err := b.blasHandle()
		if err != nil {
			return err
		}
		at := func(v backend.View, i int) uintptr {
			return uintptr(base(v)) + uintptr((v.Offset+i*v.Strides[0])*size)
		}
		if B == 1 {
			g.A, g.B, g.C = at(y, 0), at(x, 0), at(out, 0) // cuBLAS computes Cᵀ = Yᵀ·Xᵀ
			if f64 {
				return lib.DGemm(h, g)
			}
			return lib.SGemm(h, g)
		}
		ptrs := make([]byte, 3*B*8)
		for i := 0; i < B; i++ {
			binary.LittleEndian.PutUint64(ptrs[8*i:], uint64(at(y, i)))
			binary.LittleEndian.PutUint64(ptrs[8*(B+i):], uint64(at(x, i)))
			binary.LittleEndian.PutUint64(ptrs[8*(2*B+i):], uint64(at(out, i)))
		}
		blk, err := b.alloc.Alloc(uint64(len(ptrs)), 0)
		if err != nil {
			return err
		}
		defer b.alloc.Free(blk)
		if err := b.drv.MemcpyHtoD(cu.DevPtr(blk.Ptr), ptrs); err != nil {
			return err
		}
		return lib.GemmBatched(h, f64, g, blk.Ptr, blk.Ptr+uintptr(8*B), blk.Ptr+uintptr(16*B), B)
	})
	if err != nil {
		return err
	}
	if !direct {
		b.Copy(dst, out)
	}
	return nil
}

var _ backend.FusedOptimizer = (*Backend)(nil)

// fusedOperands reports whether views can go to a fused optimizer
// kernel: contiguous Float32 or Float64, all of p's type and shape.
func fusedOperands(p backend.View, others ...backend.View) bool {
	dt := p.DType()
	if (dt != backend.Float32 && dt != backend.Float64) || !p.IsContiguous() {
		return false
	}
	for _, o := range others {
		if o.DType() != dt || !o.IsContiguous() || !slices.Equal(o.Shape, p.Shape) {
			return false
		}
	}
	return true
}

func flag(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// SGDStep implements backend.FusedOptimizer: contiguous Float32 and
// Float64 operands; others are declined.
func (b *Backend) SGDStep(p, g, buf backend.View, h backend.SGDHyper) bool {
	ops := []backend.View{g}
	if h.Momentum != 0 {
		ops = append(ops, buf)
	}
	if !fusedOperands(p, ops...) {
		return false
	}
	n := int64(p.Numel())
	if n == 0 {
		return true
	}
	var bp cu.DevPtr
	if h.Momentum != 0 {
		bp = first(buf)
	}
	b.run(func() error {
		args := new(cu.Args).Ptr(first(p)).Ptr(first(g)).Ptr(bp).I64(n).F64(-h.LR).F64(h.Momentum).F64(1 - h.Dampening).F64(h.WeightDecay).
			I32(flag(h.Nesterov)).I32(flag(h.First)).I32(flag(h.Maximize))
		return b.launch("sgd_"+kernels.Short(p.DType()), n, args)
	})
	return true
}

// AdamStep implements backend.FusedOptimizer: contiguous Float32 and
// Float64 operands; others are declined.
func (b *Backend) AdamStep(p, g, m, v, vmax backend.View, h backend.AdamHyper) bool {
	ops := []backend.View{g, m, v}
	if h.AMSGrad {
		ops = append(ops, vmax)
	}
	if !fusedOperands(p, ops...) {
		return false
	}
	n := int64(p.Numel())
	if n == 0 {
		return true
	}
	var vp cu.DevPtr
	if h.AMSGrad {
		vp = first(vmax)
	}
	decay, wd := 1.0, h.WeightDecay
	if h.Decoupled {
		decay, wd = 1-h.LR*h.WeightDecay, 0
	}
	step, bc2 := h.BiasCorrections()
	b.run(func() error {
		args := new(cu.Args).Ptr(first(p)).Ptr(first(g)).Ptr(first(m)).Ptr(first(v)).Ptr(vp).I64(n).
			F64(decay).F64(wd).F64(h.Beta1).F64(h.Beta2).F64(h.Eps).F64(-step).F64(bc2).
			I32(flag(h.AMSGrad)).I32(flag(h.Maximize))
		return b.launch("adam_"+kernels.Short(p.DType()), n, args)
	})
	return true
}
