// Package alloc is the CUDA backend's caching allocator: device memory
// goes back to a cache on release and is handed out again, so that a
// training loop in steady state makes no driver allocation.
//
// Requests are rounded up to size classes (512 bytes, then four classes
// per power of two: 2^k·{1, 1.25, 1.5, 1.75}), and a released block is
// cached under its class and the stream it was used on. The cache is
// stream-ordered: a block released on stream s may be handed out at once
// for later work on s, because the stream runs that work after what was
// queued before; it is never handed to another stream.
//
// When the device reports out of memory, the allocator waits for the
// device (so no queued kernel still uses a cached block), frees every
// cached block, and tries once more; if that fails too the error wraps
// backend.ErrOutOfMemory and states the request, the bytes in use and
// cached, and the device's free and total memory.
//
// The device is an interface ([Device]), so the allocator is tested
// against a fake with no driver.
package alloc
