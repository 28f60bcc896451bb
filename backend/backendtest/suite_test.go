package backendtest

// The suite's own tests: it must fail a backend with a planted bug (each
// wrapper below breaks one method of the CPU backend in a way a real
// kernel could), pass the unbroken backend on the same subtests, and
// reimplement Philox4x32-10 right (the published known-answer vectors).

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cpu"
)

// recorder is a tb that runs subtests inline and records failures by
// subtest path instead of failing the real test.
type recorder struct {
	name   string
	parent *recorder
	failed bool
	errs   *[]string
	leaves *int
}

func newRecorder() *recorder { return &recorder{errs: new([]string), leaves: new(int)} }

func (r *recorder) Helper()                   {}
func (r *recorder) Logf(string, ...any)       {}
func (r *recorder) Failed() bool              { return r.failed }
func (r *recorder) Fatalf(f string, a ...any) { r.Errorf(f, a...); panic(recorderAbort{}) }

func (r *recorder) Errorf(f string, a ...any) {
	for p := r; p != nil; p = p.parent {
		p.failed = true
	}
	*r.errs = append(*r.errs, r.name+": "+fmt.Sprintf(f, a...))
}

func (r *recorder) Run(name string, f func(tb)) bool {
	child := &recorder{name: strings.TrimPrefix(r.name+"/"+name, "/"), parent: r, errs: r.errs, leaves: r.leaves}
	*r.leaves++
	func() {
		defer func() {
			if p := recover(); p != nil {
				if _, ok := p.(recorderAbort); !ok {
					panic(p)
				}
			}
		}()
		f(child)
	}()
	return !child.failed
}

// errorsUnder returns the recorded errors whose subtest path starts with
// prefix.
func (r *recorder) errorsUnder(prefix string) []string {
	var out []string
	for _, e := range *r.errs {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// only skips every subtest not on the way to or under one of prefixes.
func only(prefixes ...string) func(string) bool {
	return func(name string) bool {
		for _, p := range prefixes {
			if strings.HasPrefix(name, p) || strings.HasPrefix(p, name+"/") {
				return false
			}
		}
		return true
	}
}

// ---------------------------------------------------------------- planted bugs

// expBias adds 1e-3 to every Exp result.
type expBias struct{ backend.Backend }

func (b expBias) Unary(op backend.UnaryOp, dst, src backend.View, p backend.Scalars) {
	b.Backend.Unary(op, dst, src, p)
	if op == backend.Exp {
		b.Backend.Unary(backend.AddScalar, dst, dst, backend.Scalars{A: 1e-3})
	}
}

// lastUnwritten leaves the last element of every Binary output as it was.
type lastUnwritten struct{ backend.Backend }

func (b lastUnwritten) Binary(op backend.BinaryOp, dst, x, y backend.View) {
	if dst.Numel() == 0 {
		b.Backend.Binary(op, dst, x, y)
		return
	}
	last := make([]int, len(dst.Shape))
	for i, s := range dst.Shape {
		last[i] = s - 1
	}
	elem := backend.View{Storage: dst.Storage, Layout: backend.Layout{Offset: at(dst.Layout, last)}}
	tmp, _ := b.Alloc(dst.DType(), 1)
	saved := backend.View{Storage: tmp, Layout: backend.Layout{}}
	b.Backend.Copy(saved, elem)
	b.Backend.Binary(op, dst, x, y)
	b.Backend.Copy(elem, saved)
}

// pastEnd writes one element past the end of each Unary output view.
type pastEnd struct{ backend.Backend }

func (b pastEnd) Unary(op backend.UnaryOp, dst, src backend.View, p backend.Scalars) {
	b.Backend.Unary(op, dst, src, p)
	if _, hi := dst.Span(); dst.Numel() > 0 && hi < dst.Storage.Len() {
		b.Backend.Fill(backend.View{Storage: dst.Storage, Layout: backend.Layout{Offset: hi}}, 42)
	}
}

// writesInput clobbers the first element of a Binary's a operand (unless
// dst is a, as in place).
type writesInput struct{ backend.Backend }

func (b writesInput) Binary(op backend.BinaryOp, dst, x, y backend.View) {
	b.Backend.Binary(op, dst, x, y)
	if x.Numel() > 0 && x.Storage != dst.Storage {
		b.Backend.Fill(backend.View{Storage: x.Storage, Layout: backend.Layout{Offset: x.Offset}}, 1)
	}
}

// dropLastK leaves out the last term of every dot product of a MatMul.
type dropLastK struct{ backend.Backend }

func (b dropLastK) MatMul(dst, x, y backend.View) {
	if k := x.Shape[2]; k > 1 {
		x.Layout = backend.Layout{Shape: []int{x.Shape[0], x.Shape[1], k - 1}, Strides: x.Strides, Offset: x.Offset}
		y.Layout = backend.Layout{Shape: []int{y.Shape[0], k - 1, y.Shape[2]}, Strides: y.Strides, Offset: y.Offset}
	}
	b.Backend.MatMul(dst, x, y)
}

// randomShifted draws from the block after the one asked for.
type randomShifted struct{ backend.Backend }

func (b randomShifted) Random(dst backend.View, spec backend.RandomSpec) {
	spec.Offset++
	b.Backend.Random(dst, spec)
}

// plainIndexError returns index errors that do not wrap ErrIndex.
type plainIndexError struct{ backend.Backend }

func (b plainIndexError) IndexSelect(dst, src backend.View, dim int, index backend.View) error {
	if err := b.Backend.IndexSelect(dst, src, dim, index); err != nil {
		return errors.New(err.Error())
	}
	return nil
}

// panicSoftmax panics in Softmax.
type panicSoftmax struct{ backend.Backend }

func (panicSoftmax) Softmax(dst, src backend.View, dim int, log bool) {
	panic("softmax: not implemented")
}

// float32Sum sums Float32 in float32 (as a backend that ignored the
// documented float64 accumulation would): it reduces a Float32 copy of
// pairs of halves… simply, it rounds through the reduction of each
// element's float32 running sum by reducing in slices of one element.
type float32Sum struct{ backend.Backend }

func (b float32Sum) Reduce(op backend.ReduceOp, dst, src backend.View) {
	if op != backend.ReduceSum || src.DType() != backend.Float32 || len(src.Shape) != 2 || dst.Shape[1] != 1 || dst.Shape[0] != src.Shape[0] {
		b.Backend.Reduce(op, dst, src)
		return
	}
	// sum along dim 1 by adding one column at a time in float32
	b.Backend.Fill(dst, 0)
	for j := 0; j < src.Shape[1]; j++ {
		col := backend.View{Storage: src.Storage, Layout: backend.Layout{Shape: []int{src.Shape[0], 1}, Strides: src.Strides, Offset: src.Offset + j*src.Strides[1]}}
		b.Backend.Binary(backend.Add, dst, dst, col)
	}
}

func TestPlantedBugsAreReported(t *testing.T) {
	base := cpu.Get()
	cases := []struct {
		name  string
		be    backend.Backend
		scope []string // the subtests run
		want  []string // prefixes under which failures must show
		clean []string // prefixes that must stay clean
	}{
		{"exp+1e-3", expBias{base}, []string{"Unary/exp/", "Unary/log/"}, []string{"Unary/exp/float32/contig", "Unary/exp/float64/inplace"}, []string{"Unary/log/"}},
		{"last element unwritten", lastUnwritten{base}, []string{"Binary/add/", "Binary/lt/"}, []string{"Binary/add/float32/contig", "Binary/add/int64/gap", "Binary/lt/uint8/broadcast"}, nil},
		{"write past the view", pastEnd{base}, []string{"Unary/neg/", "Unary/relu/"}, []string{"Unary/neg/float32/gap", "Unary/neg/float64/inplace", "Unary/relu/int32/gap"}, nil},
		{"input clobbered", writesInput{base}, []string{"Binary/mul/"}, []string{"Binary/mul/float64/perm"}, nil},
		{"matmul drops a term", dropLastK{base}, []string{"MatMul/float32/", "MatMul/int64/"}, []string{"MatMul/float32/contig", "MatMul/int64/transB"}, nil},
		{"random off by a block", randomShifted{base}, []string{"Random/"}, []string{"Random/uniform/float32", "Random/integer/int64", "Random/normal/float64"}, nil},
		{"index error not wrapped", plainIndexError{base}, []string{"IndexErrors/"}, []string{"IndexErrors/index_select"}, []string{"IndexErrors/gather", "IndexErrors/index_add", "IndexErrors/scatter_add"}},
		{"panic", panicSoftmax{base}, []string{"Softmax/", "CumSum/"}, []string{"Softmax/softmax/float32/contig", "Softmax/log_softmax/float64/special"}, []string{"CumSum/"}},
		{"float32 accumulator", float32Sum{base}, []string{"Reduce/sum/float32/accumulate"}, []string{"Reduce/sum/float32/accumulate"}, nil},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			r := newRecorder()
			run(r, k.be, Options{Seed: 1, Skip: only(k.scope...)}, true)
			for _, w := range k.want {
				if len(r.errorsUnder(w)) == 0 {
					t.Errorf("no failure reported under %s (%d subtests ran, %d errors in all)", w, *r.leaves, len(*r.errs))
				}
			}
			for _, c := range k.clean {
				if errs := r.errorsUnder(c); len(errs) > 0 {
					t.Errorf("failures under %s, which the bug does not touch: %s", c, errs[0])
				}
			}
			if testing.Verbose() && len(*r.errs) > 0 {
				t.Logf("first report: %s", (*r.errs)[0])
			}
			// the unbroken backend passes the same subtests
			ok := newRecorder()
			run(ok, base, Options{Seed: 1, Skip: only(k.scope...)}, true)
			if len(*ok.errs) > 0 {
				t.Errorf("the CPU backend itself fails here: %s", (*ok.errs)[0])
			}
		})
	}
}

func TestSkipAndSeed(t *testing.T) {
	r := newRecorder()
	run(r, cpu.Get(), Options{Seed: 7, Skip: func(name string) bool { return name != "Transfer" && !strings.HasPrefix(name, "Transfer/") }}, true)
	if len(*r.errs) > 0 || *r.leaves != 1+len(allTypes) {
		t.Errorf("Skip of all but Transfer: %d subtests, errors %v; want %d and none", *r.leaves, *r.errs, 1+len(allTypes))
	}
	t.Setenv(SeedEnv, "not a number")
	r = newRecorder()
	func() {
		defer func() { recover() }()
		run(r, cpu.Get(), Options{}, true)
	}()
	if len(*r.errs) == 0 || !strings.Contains((*r.errs)[0], SeedEnv) {
		t.Errorf("a malformed %s was not reported: %v", SeedEnv, *r.errs)
	}
}

// Philox4x32-10 known-answer vectors from the Random123 distribution
// (kat_vectors): counter, key, result.
func TestPhiloxKnownAnswers(t *testing.T) {
	kat := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, k := range kat {
		if got := philox(k.ctr, k.key); got != k.want {
			t.Errorf("philox(%#x, %#x) = %#x, want %#x", k.ctr, k.key, got, k.want)
		}
	}
}

// The table-driven rounding agrees with the halfref oracle's own.
func TestNearestHalfMatchesOracle(t *testing.T) {
	xs := []float64{0, 1, 65504, 65519.99, 65520, 65536, 1e-8, 0x1p-24, 0x1p-25, 3 * 0x1p-26, 0x1p-133, 1e38, 3.4e38, 1.5, 2.5 / 1024}
	for i := 0; i < 20000; i++ {
		xs = append(xs, (float64(i%997)-498)*float64(i%13+1)*0.000123456789*float64(int(1)<<(i%40)))
	}
	for _, x := range xs {
		for _, dt := range []backend.DType{f16, bf16} {
			_, f := halfIndex(dt)
			for _, v := range []float64{x, -x} {
				if got, want := nearestHalf(dt, v), f.Nearest(v); got != want {
					t.Fatalf("%v: nearestHalf(%v) = %#x, oracle %#x", dt, v, got, want)
				}
			}
		}
	}
}
