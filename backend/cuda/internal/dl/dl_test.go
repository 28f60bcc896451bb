package dl

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// touch creates empty files (and their directories) under root.
func touch(t *testing.T, root string, rel ...string) {
	t.Helper()
	for _, r := range rel {
		p := filepath.Join(root, r)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestCandidatesOrder(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "venv")
	sp := filepath.Join(venv, "lib/python3.12/site-packages")
	touch(t, root,
		"override/my-nvrtc.so",
		"libdir/libnvrtc.so.12",
		"libdir/libnvrtc.so.11.2",
		"venv/lib/python3.12/site-packages/nvidia/cu13/lib/libnvrtc.so.13",
		"venv/lib/python3.12/site-packages/nvidia/cu13/lib/libnvrtc-builtins.so.13.0",
		"venv/lib/python3.12/site-packages/nvidia/cuda_nvrtc/lib/libnvrtc.so.12",
		"venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12", // not nvrtc
		"venv/lib/python3.12/site-packages/nvidia/cudnn/README",               // no lib dir
		"cuda/lib64/libnvrtc.so.12",
	)
	sps := SitePackages([]string{"", venv, filepath.Join(root, "nowhere")})
	if !reflect.DeepEqual(sps, []string{sp}) {
		t.Fatalf("SitePackages = %v, want [%s]", sps, sp)
	}
	env := Env{
		Getenv: envOf(map[string]string{
			"TAPIR_NVRTC":        filepath.Join(root, "override/my-nvrtc.so"),
			"TAPIR_CUDA_LIB_DIR": filepath.Join(root, "missing") + string(os.PathListSeparator) + filepath.Join(root, "libdir"),
		}),
		SitePackages: sps,
		ToolkitDirs:  []string{filepath.Join(root, "cuda/lib64")},
	}
	// the library's own variable is the only candidate
	got := Candidates(NVRTC, env)
	if want := []string{filepath.Join(root, "override/my-nvrtc.so")}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Candidates with TAPIR_NVRTC set:\n got %q\nwant %q", got, want)
	}
	env.Getenv = envOf(map[string]string{
		"TAPIR_CUDA_LIB_DIR": filepath.Join(root, "missing") + string(os.PathListSeparator) + filepath.Join(root, "libdir"),
	})
	got = Candidates(NVRTC, env)
	want := []string{
		filepath.Join(root, "libdir/libnvrtc.so.12"),
		filepath.Join(root, "libdir/libnvrtc.so.11.2"),
		"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so",
		filepath.Join(sp, "nvidia/cu13/lib/libnvrtc.so.13"),
		filepath.Join(sp, "nvidia/cuda_nvrtc/lib/libnvrtc.so.12"),
		filepath.Join(root, "cuda/lib64/libnvrtc.so.12"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Candidates:\n got %q\nwant %q", got, want)
	}

	// without the environment: sonames, wheels, toolkit
	env.Getenv = envOf(nil)
	got = Candidates(NVRTC, env)
	if !reflect.DeepEqual(got, want[2:]) {
		t.Fatalf("Candidates without env:\n got %q\nwant %q", got, want[2:])
	}

	// cuBLAS finds its own wheel dir; the driver never looks in wheels
	got = Candidates(CuBLAS, env)
	if last := got[len(got)-1]; last != filepath.Join(sp, "nvidia/cublas/lib/libcublas.so.12") {
		t.Fatalf("cuBLAS candidates end with %q", last)
	}
	got = Candidates(Driver, env)
	if !reflect.DeepEqual(got, []string{"libcuda.so.1", "libcuda.so"}) {
		t.Fatalf("driver candidates %q", got)
	}
}

func TestWheelDirsPreferCUDAVersionDirs(t *testing.T) {
	sp := t.TempDir()
	touch(t, sp, "nvidia/aaa/lib/x", "nvidia/cu12/lib/x", "nvidia/cu13/lib/x", "nvidia/cufft/lib/x", "nvidia/cuda/lib/x")
	got := WheelDirs([]string{sp})
	var rel []string
	for _, g := range got {
		r, _ := filepath.Rel(sp, g)
		rel = append(rel, r)
	}
	want := []string{"nvidia/cu13/lib", "nvidia/cu12/lib", "nvidia/aaa/lib", "nvidia/cuda/lib", "nvidia/cufft/lib"}
	if !reflect.DeepEqual(rel, want) {
		t.Fatalf("WheelDirs = %q, want %q", rel, want)
	}
}

func TestDepsIn(t *testing.T) {
	d := t.TempDir()
	touch(t, d, "libnvrtc.so.11.2", "libnvrtc-builtins.so.11.8", "libnvrtc-builtins.so.11.8.89", "libcublasLt.so.12")
	got := DepsIn(d, NVRTC.Deps)
	want := []string{filepath.Join(d, "libnvrtc-builtins.so.11.8.89"), filepath.Join(d, "libnvrtc-builtins.so.11.8")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DepsIn = %q, want %q", got, want)
	}
	if got := DepsIn("", NVRTC.Deps); got != nil {
		t.Fatalf("DepsIn(\"\") = %q", got)
	}
}

func TestOpenMissingNamesEverything(t *testing.T) {
	root := t.TempDir()
	lib := Lib{Name: "libnope", Env: "X", Sonames: []string{"libtapir-does-not-exist.so.7"}}
	touch(t, root, "fake/libtapir-does-not-exist.so.7") // empty: not an ELF file
	_, err := Open(lib, Env{Getenv: envOf(map[string]string{LibDirEnv: filepath.Join(root, "fake")})})
	if err == nil {
		t.Fatal("Open of a missing library succeeded")
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("error %v does not match ErrNotFound", err)
	}
	msg := err.Error()
	for _, s := range []string{"libtapir-does-not-exist.so.7 not found in", filepath.Join(root, "fake")} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not mention %q", msg, s)
		}
	}
}

// TestOpenOverrideIsFinal: a library named by its own variable that does
// not open is an error, even where the system has another copy (the
// real NVRTC, when installed, would otherwise be found by soname).
func TestOpenOverrideIsFinal(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-libnvrtc.so")
	env := DefaultEnv()
	env.Getenv = envOf(map[string]string{NVRTC.Env: missing})
	h, err := Open(NVRTC, env)
	if err == nil {
		t.Fatalf("Open with %s=%s opened %s", NVRTC.Env, missing, h.Path)
	}
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("error %q: want ErrNotFound naming %s", err, missing)
	}
}

func TestOpenRealNVRTCIfPresent(t *testing.T) {
	h, err := Open(NVRTC, DefaultEnv())
	if err != nil {
		t.Skipf("no NVRTC here: %v", err)
	}
	if _, err := h.Sym("nvrtcVersion"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Sym("nvrtcNoSuchFunction"); err == nil {
		t.Fatal("Sym found a symbol that does not exist")
	}
}
