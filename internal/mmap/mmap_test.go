package mmap

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	want := bytes.Repeat([]byte("tapir"), 1000)
	if err := os.WriteFile(path, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int64{0, -1} {
		if _, err := File(f, size); err == nil {
			t.Errorf("File(size %d): no error", size)
		}
	}
	b, err := File(f, int64(len(want)))
	if !Supported {
		if err == nil {
			t.Fatal("File succeeded where mapping is not supported")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Error("mapped bytes differ from the file's")
	}
	if err := Unmap(b); err != nil {
		t.Error(err)
	}
}
