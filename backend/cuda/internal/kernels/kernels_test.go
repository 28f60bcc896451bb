package kernels

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tapir-ml/tapir/backend"
	"github.com/tapir-ml/tapir/backend/cuda/internal/nvrtc"
)

// expected lists, independently of the generator, the kernels each
// module must define: the names follow from the backend's op and dtype
// enumerations and the rules of which ops exist on which types.
func expected() map[string][]string {
	out := map[string][]string{}
	add := func(mod string, names ...string) { out[mod] = append(out[mod], names...) }
	both := func(base string) []string { return []string{base + "_c", base + "_s"} }
	floats := []backend.DType{backend.Float32, backend.Float64, backend.Float16, backend.BFloat16}
	for _, dt := range backend.DTypes() {
		s := Short(dt)
		for op := backend.UnaryOp(0); op < backend.NumUnaryOps; op++ {
			if dt.IsFloat() || (!op.FloatOnly() && dt != backend.Bool) {
				add("unary_"+s, both(fmt.Sprintf("unary_%s_%s", op, s))...)
			}
		}
		for op := backend.BinaryOp(0); op < backend.NumBinaryOps; op++ {
			if op == backend.Div && !dt.IsFloat() {
				continue
			}
			add("binary_"+s, both(fmt.Sprintf("binary_%s_%s", op, s))...)
		}
		add("misc_"+s, append(both("fill_"+s), both("where_"+s)...)...)
		switch dt {
		case backend.Int64, backend.Int32, backend.Uint8:
			add("misc_"+s, "matmul_"+s)
		}
		for _, d := range backend.DTypes() {
			add("copy_"+s, both(fmt.Sprintf("copy_%s_%s", s, Short(d)))...)
		}
		red := []string{"sum", "prod", "max", "min"}
		if dt.IsFloat() {
			red = append(red, "mean")
		}
		for _, r := range red {
			for _, v := range []string{"c", "s", "t", "p", "f"} {
				add("reduce_"+s, fmt.Sprintf("reduce_%s_%s_%s", r, s, v))
			}
		}
		add("reduce_"+s, append(both("argmax_"+s), both("argmin_"+s)...)...)
		add("scan_"+s, both("cumsum_"+s)...)
		if dt.IsFloat() {
			add("scan_"+s, append(both("softmax_"+s), both("logsoftmax_"+s)...)...)
		}
		add("index_"+s, "index_select_"+s, "gather_"+s)
		switch dt {
		case backend.Float32, backend.Float64, backend.Int64, backend.Int32, backend.Uint8:
			add("index_"+s, "index_add_"+s, "scatter_add_"+s)
		}
	}
	for _, dt := range floats {
		s := Short(dt)
		add("window_"+s, "unfold_"+s, "fold_"+s, "maxpool_"+s)
		add("optim_"+s, "sgd_"+s, "adam_"+s)
	}
	add("random", "random_uniform_f32", "random_uniform_f64", "random_normal_f32", "random_normal_f64", "random_integer_i64")
	for k := range out {
		sort.Strings(out[k])
	}
	return out
}

func TestModulesDefineExpectedEntries(t *testing.T) {
	want := expected()
	ms := Modules()
	if len(ms) != len(want) {
		t.Errorf("%d modules, want %d", len(ms), len(want))
	}
	for _, m := range ms {
		if fmt.Sprint(m.Entries) != fmt.Sprint(want[m.Name]) {
			t.Errorf("module %s entries:\n got %v\nwant %v", m.Name, m.Entries, want[m.Name])
		}
		if again, ok := ModuleByName(m.Name); !ok || again.Source != m.Source {
			t.Errorf("ModuleByName(%q) does not regenerate the module", m.Name)
		}
	}
	// the name helpers agree with the modules
	checks := map[string]string{
		UnaryName(backend.GELU, backend.BFloat16, false):     "unary_bf16",
		BinaryName(backend.Ge, backend.Int32, true):          "binary_i32",
		CopyName(backend.Float16, backend.Bool, false):       "copy_f16",
		ReduceName(backend.ReduceMean, backend.Float64, "t"): "reduce_f64",
		ArgName(backend.ArgMin, backend.Uint8, true):         "reduce_u8",
		ScanName("logsoftmax", backend.Float32, false):       "scan_f32",
		ScanName("cumsum", backend.Int64, true):              "scan_i64",
	}
	for entry, mod := range checks {
		if got := ModuleOf(entry); got != mod {
			t.Errorf("ModuleOf(%q) = %q, want %q", entry, got, mod)
		}
	}
}

func requireNVRTC(t *testing.T) *nvrtc.Compiler {
	t.Helper()
	c, err := nvrtc.Load()
	if err != nil {
		if os.Getenv("TAPIR_REQUIRE_NVRTC") == "1" {
			t.Fatalf("TAPIR_REQUIRE_NVRTC=1 but NVRTC cannot be loaded: %v", err)
		}
		t.Skipf("skipping: NVRTC not available (set TAPIR_NVRTC or install libnvrtc): %v", err)
	}
	return c
}

var entryRE = regexp.MustCompile(`(?m)^\.(?:visible )?\.entry ([A-Za-z0-9_]+)\(`)

// TestModulesCompileWithNVRTC is the oracle for the generated sources:
// NVRTC compiles each module for compute_90 (Hopper, the GPUs this
// project is checked on) and the PTX holds exactly the expected kernels.
// The sources have no architecture-dependent code, so one architecture
// covers them; TAPIR_NVRTC_ARCHS="80,90" compiles for more. A compile
// takes about a second, so -short (CI's race pass) compiles only the
// float32 and bfloat16 modules and the random one.
func TestModulesCompileWithNVRTC(t *testing.T) {
	c := requireNVRTC(t)
	archs := []int{90}
	if env := os.Getenv("TAPIR_NVRTC_ARCHS"); env != "" {
		archs = nil
		for _, f := range strings.Split(env, ",") {
			sm, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("TAPIR_NVRTC_ARCHS=%q: %v", env, err)
			}
			archs = append(archs, sm)
		}
	}
	want := expected()
	var ms []Module
	for _, m := range Modules() {
		if !testing.Short() || strings.HasSuffix(m.Name, "_f32") || strings.HasSuffix(m.Name, "_bf16") || m.Name == "random" {
			ms = append(ms, m)
		}
	}
	type job struct {
		m  Module
		sm int
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				ptx, err := c.Compile(j.m.Source, j.m.Name+".cu", nvrtc.Options(j.sm, c.Major))
				mu.Lock()
				if err != nil {
					t.Errorf("module %s, compute_%d: %v", j.m.Name, j.sm, err)
					mu.Unlock()
					continue
				}
				var got []string
				for _, m := range entryRE.FindAllStringSubmatch(string(ptx), -1) {
					got = append(got, m[1])
				}
				sort.Strings(got)
				if strings.Join(got, " ") != strings.Join(want[j.m.Name], " ") {
					t.Errorf("module %s, compute_%d: PTX entries\n got %v\nwant %v", j.m.Name, j.sm, got, want[j.m.Name])
				}
				mu.Unlock()
			}
		}()
	}
	for _, m := range ms {
		for _, sm := range archs {
			jobs <- job{m, sm}
		}
	}
	close(jobs)
	wg.Wait()
}

func TestLayoutAndWinImages(t *testing.T) {
	l, err := MakeLayout([]int{2, 3}, []int{3, 1}, 5)
	if err != nil {
		t.Fatal(err)
	}
	b := l.Bytes()
	if len(b) != LayoutSize || LayoutSize != 144 {
		t.Fatalf("layout image %d bytes, LayoutSize %d; the C struct Lay is 144", len(b), LayoutSize)
	}
	le := func(off int) int64 {
		var v int64
		for i := 7; i >= 0; i-- {
			v = v<<8 | int64(b[off+i])
		}
		return v
	}
	if le(0) != 2 || le(8) != 3 || le(64) != 3 || le(72) != 1 || le(128) != 5 || b[136] != 2 {
		t.Fatalf("layout image wrong: % x", b)
	}
	if _, err := MakeLayout(make([]int, 9), make([]int, 9), 0); err == nil {
		t.Fatal("9 dims accepted")
	}
	w, err := MakeWin(backend.Window{Kernel: []int{3, 2}, Stride: []int{1, 2}, Padding: []int{1, 0}, Dilation: []int{1, 1}}, []int{5, 6})
	if err != nil {
		t.Fatal(err)
	}
	if wb := w.Bytes(); len(wb) != WinSize || WinSize != 296 {
		t.Fatalf("window image %d bytes, WinSize %d; the C struct Win is 296", len(wb), WinSize)
	}
	if w.Out[0] != 5 || w.Out[1] != 3 || w.NSp != 2 {
		t.Fatalf("window out sizes %v, nsp %d", w.Out, w.NSp)
	}
}
