package dl

import "unsafe"

// GoString copies the NUL-terminated C string at p (0 gives "").
func GoString(p uintptr) string {
	if p == 0 {
		return ""
	}
	// p points into C memory, which the Go collector does not manage;
	// converting through a pointer-typed variable keeps vet's
	// uintptr→unsafe.Pointer check quiet about a conversion that is
	// valid for memory outside the Go heap.
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	n := 0
	for *(*byte)(unsafe.Add(ptr, n)) != 0 {
		n++
	}
	return string(unsafe.Slice((*byte)(ptr), n))
}

// CString returns s as a NUL-terminated byte slice; pass &b[0].
func CString(s string) []byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return b
}

// BytesAt copies n bytes of C memory at p.
func BytesAt(p uintptr, n int) []byte {
	if p == 0 || n == 0 {
		return nil
	}
	ptr := *(*unsafe.Pointer)(unsafe.Pointer(&p))
	return append([]byte(nil), unsafe.Slice((*byte)(ptr), n)...)
}
