package dl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Lib describes one library to search for.
type Lib struct {
	// Name is a short name for messages, e.g. "libcuda".
	Name string
	// Env is the environment variable that names the library's file.
	Env string
	// Sonames are the file names to try, preferred first.
	Sonames []string
	// Deps are file-name prefixes (e.g. "libnvrtc-builtins.so") of
	// libraries to preload from a candidate's directory.
	Deps []string
	// NoWheel skips the pip-wheel and toolkit directories (the driver
	// is installed with the kernel module, never in a wheel).
	NoWheel bool
}

// The libraries of the CUDA backend.
var (
	Driver = Lib{Name: "libcuda", Env: "TAPIR_LIBCUDA", Sonames: []string{"libcuda.so.1", "libcuda.so"}, NoWheel: true}
	NVRTC  = Lib{Name: "libnvrtc", Env: "TAPIR_NVRTC",
		Sonames: []string{"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"},
		Deps:    []string{"libnvrtc-builtins.so"}}
	CuBLASLt = Lib{Name: "libcublasLt", Env: "TAPIR_CUBLASLT",
		Sonames: []string{"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so.11", "libcublasLt.so"}}
	CuBLAS = Lib{Name: "libcublas", Env: "TAPIR_CUBLAS",
		Sonames: []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"},
		Deps:    []string{"libcublasLt.so"}}
	CuDNN = Lib{Name: "libcudnn", Env: "TAPIR_CUDNN",
		Sonames: []string{"libcudnn.so.9", "libcudnn.so.8", "libcudnn.so"}}
)

// LibDirEnv names the directories searched before the system's.
const LibDirEnv = "TAPIR_CUDA_LIB_DIR"

// Env is what candidate lists depend on besides the file system.
type Env struct {
	Getenv       func(string) string // os.Getenv in production
	SitePackages []string            // from SitePackages
	ToolkitDirs  []string            // from ToolkitDirs
}

// Candidates lists the paths to try for lib, in order (see the package
// documentation); when lib's own variable is set, that path alone. A bare soname (no directory) is left to the dynamic
// loader's own search. Paths inside directories are listed only if the
// file exists; duplicates are dropped.
func Candidates(lib Lib, env Env) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	inDir := func(dir string) {
		for _, s := range lib.Sonames {
			p := filepath.Join(dir, s)
			if fileExists(p) {
				add(p)
			}
		}
	}
	getenv := env.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if p := getenv(lib.Env); lib.Env != "" && p != "" {
		// an explicit choice: if it does not open, Open says so
		// rather than quietly loading some other copy
		return []string{p}
	}
	for _, d := range filepath.SplitList(getenv(LibDirEnv)) {
		if d != "" {
			inDir(d)
		}
	}
	for _, s := range lib.Sonames {
		add(s)
	}
	if lib.NoWheel {
		return out
	}
	for _, d := range WheelDirs(env.SitePackages) {
		inDir(d)
	}
	for _, d := range env.ToolkitDirs {
		inDir(d)
	}
	return out
}

// WheelDirs returns the lib directories of NVIDIA's pip wheels under the
// given site-packages directories: nvidia/cu*/lib first, then the other
// nvidia/*/lib, each group in lexical order, newest CUDA first.
func WheelDirs(sitePackages []string) []string {
	var out []string
	for _, sp := range sitePackages {
		ents, err := os.ReadDir(filepath.Join(sp, "nvidia"))
		if err != nil {
			continue
		}
		var cu, other []string
		for _, e := range ents {
			lib := filepath.Join(sp, "nvidia", e.Name(), "lib")
			if !dirExists(lib) {
				continue
			}
			if isCUDAVersionDir(e.Name()) {
				cu = append(cu, lib)
			} else {
				other = append(other, lib)
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(cu)))
		sort.Strings(other)
		out = append(out, cu...)
		out = append(out, other...)
	}
	return out
}

// isCUDAVersionDir reports whether name is like "cu13" or "cu12".
func isCUDAVersionDir(name string) bool {
	if len(name) < 3 || !strings.HasPrefix(name, "cu") {
		return false
	}
	for _, c := range name[2:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SitePackages returns the Python site-packages (and dist-packages)
// directories under the given prefixes, in the prefixes' order.
func SitePackages(prefixes []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range prefixes {
		if p == "" {
			continue
		}
		for _, pat := range []string{"lib/python3*/site-packages", "lib/python3*/dist-packages", "lib64/python3*/site-packages"} {
			ms, _ := filepath.Glob(filepath.Join(p, pat))
			sort.Sort(sort.Reverse(sort.StringSlice(ms))) // python3.12 before 3.11
			for _, m := range ms {
				if !seen[m] && dirExists(m) {
					seen[m] = true
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// DefaultPrefixes are the Python prefixes SitePackages searches.
func DefaultPrefixes(getenv func(string) string) []string {
	ps := []string{getenv("VIRTUAL_ENV"), getenv("CONDA_PREFIX"), "/opt/torch/.venv"}
	if h := getenv("HOME"); h != "" {
		ps = append(ps, filepath.Join(h, ".local"))
	}
	return append(ps, "/usr/local", "/usr")
}

// ToolkitDirs lists the CUDA toolkit's library directories.
func ToolkitDirs(getenv func(string) string) []string {
	var out []string
	for _, v := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if h := getenv(v); h != "" {
			out = append(out, filepath.Join(h, "lib64"))
		}
	}
	return append(out, "/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib")
}

// DefaultEnv is the process's environment.
func DefaultEnv() Env {
	return Env{Getenv: os.Getenv, SitePackages: SitePackages(DefaultPrefixes(os.Getenv)), ToolkitDirs: ToolkitDirs(os.Getenv)}
}

// DepsIn lists the files in dir whose names start with one of prefixes,
// newest version last-sorted first, for preloading.
func DepsIn(dir string, prefixes []string) []string {
	if dir == "" || dir == "." {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, pre := range prefixes {
		var ms []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), pre) {
				ms = append(ms, filepath.Join(dir, e.Name()))
			}
		}
		sort.Sort(sort.Reverse(sort.StringSlice(ms)))
		out = append(out, ms...)
	}
	return out
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Handle is an opened library.
type Handle struct {
	Lib  Lib
	Path string // the candidate that opened
	h    uintptr
}

// ErrNotFound is wrapped by Open's error when no candidate opened.
var ErrNotFound = errors.New("not found")

// Open tries lib's candidates in env and returns the first that opens.
func Open(lib Lib, env Env) (*Handle, error) {
	cands := Candidates(lib, env)
	var tried []string
	for _, p := range cands {
		dir := filepath.Dir(p)
		if strings.ContainsRune(p, filepath.Separator) {
			for _, dep := range DepsIn(dir, lib.Deps) {
				_, _ = dlopen(dep) // best effort: the library reports what it misses
			}
		}
		h, err := dlopen(p)
		if err == nil {
			return &Handle{Lib: lib, Path: p, h: h}, nil
		}
		tried = append(tried, fmt.Sprintf("%s (%v)", p, err))
	}
	return nil, &notFound{fmt.Sprintf("%s not found in %s", lib.Sonames[0], strings.Join(tried, ", "))}
}

type notFound struct{ msg string }

func (e *notFound) Error() string        { return e.msg }
func (e *notFound) Is(target error) bool { return target == ErrNotFound }

// Sym returns the address of symbol name.
func (h *Handle) Sym(name string) (uintptr, error) {
	p, err := dlsym(h.h, name)
	if err != nil {
		return 0, fmt.Errorf("%s: symbol %s: %v", h.Path, name, err)
	}
	return p, nil
}

// Bind resolves every name into the matching pointer, stopping at the
// first missing symbol. Names in optional may be missing (left 0).
func (h *Handle) Bind(syms map[string]*uintptr, optional ...string) error {
	opt := map[string]bool{}
	for _, o := range optional {
		opt[o] = true
	}
	names := make([]string, 0, len(syms))
	for n := range syms {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, err := h.Sym(n)
		if err != nil {
			if opt[n] {
				continue
			}
			return err
		}
		*syms[n] = p
	}
	return nil
}

var cache struct {
	sync.Mutex
	m map[string]result
}

type result struct {
	h   *Handle
	err error
}

// OpenCached is Open with the process environment, done once per library.
func OpenCached(lib Lib) (*Handle, error) {
	cache.Lock()
	defer cache.Unlock()
	if r, ok := cache.m[lib.Name]; ok {
		return r.h, r.err
	}
	h, err := Open(lib, DefaultEnv())
	if cache.m == nil {
		cache.m = map[string]result{}
	}
	cache.m[lib.Name] = result{h, err}
	return h, err
}
