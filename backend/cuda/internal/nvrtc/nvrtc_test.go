package nvrtc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// loadOrSkip returns NVRTC, skipping the test if it cannot be found,
// unless TAPIR_REQUIRE_NVRTC=1 (CI) makes that a failure.
func loadOrSkip(t *testing.T) *Compiler {
	t.Helper()
	c, err := Load()
	if err != nil {
		if os.Getenv("TAPIR_REQUIRE_NVRTC") == "1" {
			t.Fatalf("TAPIR_REQUIRE_NVRTC=1 but NVRTC cannot be loaded: %v", err)
		}
		t.Skipf("skipping: NVRTC not available (set TAPIR_NVRTC or install libnvrtc): %v", err)
	}
	return c
}

const axpy = `extern "C" __global__ void axpy(float a, const float* x, float* y, long long n) {
	long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
	if (i < n) y[i] = a * x[i] + y[i];
}`

func TestCompileRealNVRTC(t *testing.T) {
	c := loadOrSkip(t)
	t.Logf("NVRTC %s from %s; archs %v", c.Version(), c.Path, c.SupportedArchs())
	for _, sm := range []int{80, 90} {
		ptx, err := c.Compile(axpy, "axpy.cu", Options(sm, c.Major))
		if err != nil {
			t.Fatalf("compute_%d: %v", sm, err)
		}
		s := string(ptx)
		if !strings.Contains(s, ".entry axpy(") {
			t.Errorf("compute_%d: PTX has no .entry axpy", sm)
		}
		if !strings.Contains(s, ".target sm_"+itoa(sm)) {
			t.Errorf("compute_%d: PTX does not target sm_%d", sm, sm)
		}
	}
	// a compile error carries the log, naming the problem
	_, err := c.Compile(`extern "C" __global__ void bad() { undeclared_thing = 1; }`, "bad.cu", Options(80, c.Major))
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Log, "undeclared_thing") {
		t.Fatalf("compile error = %v, want an *Error whose log names undeclared_thing", err)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestArchOptionsCapsAtSupported(t *testing.T) {
	c := loadOrSkip(t)
	archs := c.SupportedArchs()
	if len(archs) == 0 {
		t.Skip("this NVRTC does not list its architectures")
	}
	newest := archs[len(archs)-1]
	opts := c.ArchOptions(99, 9) // a device newer than any NVRTC knows
	if opts[0] != "--gpu-architecture=compute_"+itoa(newest) {
		t.Fatalf("ArchOptions(99.9) = %v, want compute_%d", opts, newest)
	}
	if _, err := c.Compile(axpy, "axpy.cu", opts); err != nil {
		t.Fatalf("compiling with %v: %v", opts, err)
	}
}

// counting wraps a compiler and counts its calls.
type counting struct {
	mu sync.Mutex
	n  int
	f  CompileFunc
}

func (c *counting) compile(src, name string, opts []string) ([]byte, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.f(src, name, opts)
}

func TestCacheWithRealNVRTC(t *testing.T) {
	nv := loadOrSkip(t)
	cc := &counting{f: nv.Compile}
	dir := t.TempDir()
	cache := &Cache{Dir: dir, Salt: Salt(nv.Version(), 13000), Compile: cc.compile}
	opts := Options(80, nv.Major)
	first, err := cache.Get(axpy, "axpy.cu", opts)
	if err != nil {
		t.Fatal(err)
	}
	if cc.n != 1 {
		t.Fatalf("first Get compiled %d times", cc.n)
	}
	// a new Cache on the same directory (a new process) hits the disk
	cache2 := &Cache{Dir: dir, Salt: cache.Salt, Compile: cc.compile}
	second, err := cache2.Get(axpy, "axpy.cu", opts)
	if err != nil || string(second) != string(first) || cc.n != 1 {
		t.Fatalf("second Get: err %v, same PTX %v, compiles %d (want a hit)", err, string(second) == string(first), cc.n)
	}
	// changed options, source, or versions miss
	if _, err := cache2.Get(axpy, "axpy.cu", Options(90, nv.Major)); err != nil || cc.n != 2 {
		t.Fatalf("other options: err %v, compiles %d, want 2", err, cc.n)
	}
	if _, err := cache2.Get(axpy+"\n// changed", "axpy.cu", opts); err != nil || cc.n != 3 {
		t.Fatalf("other source: err %v, compiles %d, want 3", err, cc.n)
	}
	cache3 := &Cache{Dir: dir, Salt: Salt(nv.Version(), 12040), Compile: cc.compile}
	if _, err := cache3.Get(axpy, "axpy.cu", opts); err != nil || cc.n != 4 {
		t.Fatalf("other driver: err %v, compiles %d, want 4", err, cc.n)
	}
}

func TestCacheHitsMissesAndCorruption(t *testing.T) {
	n := 0
	fake := func(src, name string, opts []string) ([]byte, error) {
		n++
		return []byte("PTX of " + src + " " + strings.Join(opts, " ")), nil
	}
	dir := t.TempDir()
	c := &Cache{Dir: dir, Salt: "v1", Compile: fake}
	get := func(src string, opts ...string) string {
		t.Helper()
		b, err := c.Get(src, "k.cu", opts)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := get("a", "-x"); got != "PTX of a -x" || n != 1 {
		t.Fatalf("first: %q, %d compiles", got, n)
	}
	if got := get("a", "-x"); got != "PTX of a -x" || n != 1 {
		t.Fatalf("repeat: %q, %d compiles (want a hit)", got, n)
	}
	get("a", "-y")
	get("b", "-x")
	if n != 3 || c.Compiles() != 3 {
		t.Fatalf("after two misses: %d compiles (Compiles %d), want 3", n, c.Compiles())
	}
	// corrupt every file: flip a payload byte, truncate, and garbage
	files, _ := filepath.Glob(filepath.Join(dir, "*.ptx"))
	if len(files) != 3 {
		t.Fatalf("%d cache files, want 3", len(files))
	}
	b, _ := os.ReadFile(files[0])
	b[len(b)-1] ^= 1
	os.WriteFile(files[0], b, 0o644)
	os.WriteFile(files[1], b[:10], 0o644)
	os.WriteFile(files[2], []byte("garbage"), 0o644)
	for i, want := range []string{"PTX of a -x", "PTX of a -y", "PTX of b -x"} {
		src, opt := want[7:8], want[9:]
		if got := get(src, opt); got != want {
			t.Fatalf("after corruption %d: %q, want %q", i, got, want)
		}
	}
	if n != 6 {
		t.Fatalf("corrupted files: %d compiles, want 6 (each recompiled)", n)
	}
	// …and the rewritten files hit again
	get("a", "-x")
	get("b", "-x")
	if n != 6 {
		t.Fatalf("after rewrite: %d compiles, want 6", n)
	}
	// no temporary files are left behind
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	// compile errors are not cached
	boom := errors.New("boom")
	c.Compile = func(string, string, []string) ([]byte, error) { n++; return nil, boom }
	for i := 0; i < 2; i++ {
		if _, err := c.Get("bad", "k.cu", nil); !errors.Is(err, boom) {
			t.Fatalf("error = %v", err)
		}
	}
	if n != 8 {
		t.Fatalf("failing compiles ran %d times, want 2", n-6)
	}
}

func TestCacheConcurrentSameKeyCompilesOnce(t *testing.T) {
	var mu sync.Mutex
	n := 0
	c := &Cache{Dir: t.TempDir(), Compile: func(src, _ string, _ []string) ([]byte, error) {
		mu.Lock()
		n++
		mu.Unlock()
		return []byte(src), nil
	}}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := c.Get("same", "k.cu", nil); err != nil || string(b) != "same" {
				t.Errorf("Get = %q, %v", b, err)
			}
		}()
	}
	wg.Wait()
	if n != 1 {
		t.Fatalf("%d compiles, want 1", n)
	}
}

func TestDefaultDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if d := DefaultDir(env(map[string]string{CacheEnv: "/x/y"})); d != "/x/y" {
		t.Fatalf("override: %q", d)
	}
	if d := DefaultDir(env(map[string]string{CacheEnv: "off"})); d != "" {
		t.Fatalf("off: %q", d)
	}
	if base, err := os.UserCacheDir(); err == nil {
		if d := DefaultDir(env(nil)); d != filepath.Join(base, "tapir", "cuda") {
			t.Fatalf("default: %q", d)
		}
	}
}

// TestCompileAcrossStackGrowth compiles from goroutines whose stacks are
// nearly full at several depths, so that the stack grows (and moves)
// inside the NVRTC calls. Out-parameters passed as uintptr must not be
// left behind on the old stack: before call was marked uintptrescapes,
// this failed with NVRTC_ERROR_INVALID_PROGRAM.
func TestCompileAcrossStackGrowth(t *testing.T) {
	c := loadOrSkip(t)
	var recurse func(depth int) error
	recurse = func(depth int) error {
		var pad [64]byte // consume stack
		if depth > 0 {
			err := recurse(depth - 1)
			pad[depth%64]++
			_ = pad
			return err
		}
		_, err := c.Compile(axpy, "axpy.cu", Options(80, c.Major))
		return err
	}
	for _, depth := range []int{0, 3, 7, 15, 31, 63, 127} {
		done := make(chan error)
		go func() { done <- recurse(depth) }()
		if err := <-done; err != nil {
			t.Fatalf("depth %d: %v", depth, err)
		}
	}
}
