package backendtest

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tapir-ml/tapir/backend"
)

// Options configure Run. The zero value runs everything with the default
// tolerances and a fresh seed.
type Options struct {
	// DTypes are the element types whose kernels are tested, intersected
	// with the types each method is defined on. Nil means all of
	// backend.DTypes(): the floating types, the integer types and Bool.
	// Bool (as a condition or comparison result) and Int64 (as an index)
	// are used where a method requires them, whatever this list says.
	DTypes []backend.DType
	// Tol overrides the base tolerance of a floating type (see the
	// package documentation for the defaults and how each op family
	// scales them). Types not in the map keep their default.
	Tol map[backend.DType]float64
	// Skip reports whether to skip the subtest with this name (relative
	// to the test that called Run, e.g. "Binary/add/float32/broadcast")
	// and everything below it. It is asked about every level, so
	// "Unary" or "MatMul/float64" skip a whole family.
	Skip func(name string) bool
	// Seed seeds the random inputs. 0 means a fresh seed from the clock.
	// The environment variable TAPIR_BACKENDTEST_SEED, when set,
	// overrides both. The seed is logged, and every subtest derives its
	// own stream from it and its name, so a failure reproduces with the
	// same seed and any -run selection.
	Seed uint64
}

// SeedEnv is the environment variable that overrides Options.Seed.
const SeedEnv = "TAPIR_BACKENDTEST_SEED"

// Run runs the conformance suite against be, as subtests of t.
func Run(t *testing.T, be backend.Backend, opts Options) {
	t.Helper()
	run(stdT{t}, be, opts, testing.Short())
}

// tb is the part of *testing.T the suite uses; the package's own tests
// substitute a recorder to check that planted bugs are reported.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Failed() bool
	Run(name string, f func(tb)) bool
}

type stdT struct{ *testing.T }

func (s stdT) Run(name string, f func(tb)) bool {
	return s.T.Run(name, func(t *testing.T) { f(stdT{t}) })
}

// defaultTol is the base tolerance of each floating type: a relative
// error about 16 units in the last place for float32 and 4500 for
// float64 (see doc.go), and the unit roundoff of the 16-bit types, which
// the suite only converts to and from.
var defaultTol = map[backend.DType]float64{
	backend.Float32:  1e-6,
	backend.Float64:  1e-12,
	backend.Float16:  0x1p-11,
	backend.BFloat16: 0x1p-8,
}

// suite is one Run's configuration.
type suite struct {
	be    backend.Backend
	dts   map[backend.DType]bool
	tol   map[backend.DType]float64
	skip  func(string) bool
	seed  uint64
	short bool
}

func run(t tb, be backend.Backend, opts Options, short bool) {
	t.Helper()
	s := &suite{be: be, dts: map[backend.DType]bool{}, tol: map[backend.DType]float64{}, skip: opts.Skip, short: short}
	dts := opts.DTypes
	if dts == nil {
		dts = backend.DTypes()
	}
	for _, dt := range dts {
		s.dts[dt] = true
	}
	for dt, v := range defaultTol {
		s.tol[dt] = v
	}
	for dt, v := range opts.Tol {
		s.tol[dt] = v
	}
	s.seed = opts.Seed
	if env := os.Getenv(SeedEnv); env != "" {
		v, err := strconv.ParseUint(env, 0, 64)
		if err != nil {
			t.Fatalf("backendtest: %s=%q is not an unsigned integer", SeedEnv, env)
			return
		}
		s.seed = v
	}
	if s.seed == 0 {
		s.seed = uint64(time.Now().UnixNano())
	}
	t.Logf("backendtest: %s on %v: seed %d (reproduce with %s=%d)", be.Name(), be.Device(), s.seed, SeedEnv, s.seed)
	root := &ctx{tb: t, s: s}
	for _, f := range families {
		root.run(f.name, f.fn)
	}
}

// families are the top-level subtests, one per Backend method (or group
// of closely related methods).
var families = []struct {
	name string
	fn   func(*ctx)
}{
	{"Transfer", testTransfer},
	{"Fill", testFill},
	{"Copy", testCopy},
	{"Unary", testUnary},
	{"Binary", testBinary},
	{"Where", testWhere},
	{"Reduce", testReduce},
	{"ArgReduce", testArgReduce},
	{"Softmax", testSoftmax},
	{"CumSum", testCumSum},
	{"MatMul", testMatMul},
	{"IndexSelect", testIndexSelect},
	{"IndexAdd", testIndexAdd},
	{"Gather", testGather},
	{"ScatterAdd", testScatterAdd},
	{"IndexErrors", testIndexErrors},
	{"Unfold", testUnfold},
	{"Fold", testFold},
	{"MaxPool", testMaxPool},
	{"Random", testRandom},
	{"FusedOptimizer", testFusedOptimizer},
}

// ctx is one node of the subtest tree: its T, its path below Run's test,
// a random stream derived from the seed and the path, and the storages
// it allocated (released when the node ends).
type ctx struct {
	tb
	s     *suite
	path  string
	rng   *rand.Rand
	owned []backend.Storage
}

// run runs f as the subtest name of c, unless Options.Skip says not to.
// A panic in f (a backend that panics on a case) fails that subtest only.
func (c *ctx) run(name string, f func(*ctx)) {
	p := name
	if c.path != "" {
		p = c.path + "/" + name
	}
	if c.s.skip != nil && c.s.skip(p) {
		return
	}
	h := fnv.New64a()
	h.Write([]byte(p))
	c.tb.Run(name, func(t tb) {
		cc := &ctx{tb: t, s: c.s, path: p, rng: rand.New(rand.NewPCG(c.s.seed, h.Sum64()))}
		defer func() {
			for _, st := range cc.owned {
				c.s.be.Release(st)
			}
		}()
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(recorderAbort); ok {
					panic(r)
				}
				t.Errorf("%s: panic: %v\n%s", p, r, trimStack(debug.Stack()))
			}
		}()
		f(cc)
	})
}

// recorderAbort is what the package's test recorder panics with on
// Fatalf; it passes through ctx.run's recover.
type recorderAbort struct{}

func trimStack(s []byte) string {
	lines := strings.Split(string(s), "\n")
	if len(lines) > 24 {
		lines = append(lines[:24], "\t…")
	}
	return strings.Join(lines, "\n")
}

// has reports whether dt is among the types under test.
func (c *ctx) has(dt backend.DType) bool { return c.s.dts[dt] }

// types filters dts to those under test.
func (c *ctx) types(dts ...backend.DType) []backend.DType {
	var out []backend.DType
	for _, dt := range dts {
		if c.has(dt) {
			out = append(out, dt)
		}
	}
	return out
}

// tol is the base tolerance of dt (0 for integer types and Bool).
func (c *ctx) tol(dt backend.DType) float64 { return c.s.tol[dt] }

// big reports whether to run the larger sizes (not with -short).
func (c *ctx) big() bool { return !c.s.short }

// The dtype groups the methods are defined on.
var (
	f32, f64, f16, bf16   = backend.Float32, backend.Float64, backend.Float16, backend.BFloat16
	i64, i32, u8, boolean = backend.Int64, backend.Int32, backend.Uint8, backend.Bool

	floatTypes   = []backend.DType{f32, f64}
	numericTypes = []backend.DType{f32, f64, i64, i32, u8}
	withBool     = []backend.DType{f32, f64, i64, i32, u8, boolean}
	allTypes     = backend.DTypes()
)

func shapeStr(s []int) string { return fmt.Sprint(s) }
