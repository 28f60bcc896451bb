package cu

import (
	"errors"
	"os"
	"testing"
	"unsafe"
)

func TestCheckNamesCallAndCode(t *testing.T) {
	var d *Driver // no library: names come from the fallback table
	if err := d.check("cuInit", 0); err != nil {
		t.Fatalf("success gave %v", err)
	}
	err := d.check("cuMemAlloc_v2", 2)
	if err == nil || err.Error() != "cuda: cuMemAlloc_v2: CUDA_ERROR_OUT_OF_MEMORY (2)" {
		t.Fatalf("error %v", err)
	}
	if !errors.Is(err, ErrOutOfMemory) {
		t.Fatal("out-of-memory error does not match ErrOutOfMemory")
	}
	if errors.Is(d.check("cuLaunchKernel", 700), ErrOutOfMemory) {
		t.Fatal("illegal address matches ErrOutOfMemory")
	}
}

func TestArgsPacking(t *testing.T) {
	a := new(Args).Ptr(0x1000).I64(-2).I32(7).F64(1.5).Raw(make([]byte, 144))
	ps := a.pointers()
	if len(ps) != 5 {
		t.Fatalf("%d pointers", len(ps))
	}
	if *(*uint64)(ps[0]) != 0x1000 || *(*int64)(ps[1]) != -2 || *(*int32)(ps[2]) != 7 || *(*float64)(ps[3]) != 1.5 {
		t.Fatal("packed values read back wrong")
	}
	for i, p := range ps {
		if uintptr(p)%8 != 0 {
			t.Fatalf("argument %d not 8-byte aligned", i)
		}
	}
	if uintptr(ps[4])-uintptr(ps[3]) != 8 || uintptr(unsafe.Pointer(ps[4])) == 0 {
		t.Fatal("struct argument misplaced")
	}
}

func TestLoadWithoutDriver(t *testing.T) {
	d, err := Load()
	if err == nil {
		if err := d.Init(); err != nil {
			t.Logf("driver present but cuInit fails: %v", err)
		}
		t.Skip("a driver is present")
	}
	if os.Getenv("TAPIR_LIBCUDA") == "" && err.Error()[:16] != "cuda: no driver:" {
		t.Fatalf("error %q", err)
	}
}
