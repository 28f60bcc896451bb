// Package safetensors reads and writes the safetensors weight format,
// the native format of Tapir's state dicts and the one Hugging Face and
// PyTorch users share models in.
//
// # The format
//
// A file is an 8-byte little-endian length N, N bytes of JSON header, and
// a data buffer. The header maps each tensor name to its dtype ("F32",
// "BF16", "I64"…), its shape and its byte range [begin, end) in the
// buffer, and may hold a "__metadata__" object of strings. Elements are
// little-endian, in row-major (C) order.
//
// # Reading
//
// [Open] memory-maps a file (on Unix; elsewhere it reads with ReadAt) and
// [Read] takes any io.ReaderAt. Both read and check only the header;
// [File.Tensor] loads one tensor when it is asked for, so a program can
// take a few tensors out of a large file, and no file is read twice: an
// aligned F64, F32, I64, I32 or U8 tensor is copied straight from the
// mapping into its storage, and the others are converted from it a chunk
// at a time. [Load] reads a whole file.
//
// The header is checked as the reference implementation checks it, and a
// file that breaks a rule is an error, never a panic: a header longer than
// the file or than [MaxHeaderSize] (100 MB), JSON that is not an object of
// tensor entries, a repeated name, an unknown dtype, a negative or
// overflowing dim, a shape whose size differs from its byte range, byte
// ranges that overlap, leave a hole or do not end where the buffer does,
// and metadata values that are not strings. Checking costs memory in
// proportion to the header, whatever numbers it claims.
//
// # Dtypes
//
// F64, F32, F16, BF16, I64, I32, U8 and BOOL load as Float64, Float32,
// Float16, BFloat16, Int64, Int32, Uint8 and Bool, bit for bit, and are
// written back the same way. I16 and I8, which package tensor lacks, load
// widened to Int32 (every value is exact), so saving such a tensor again
// writes I32. U16, U32, U64 and the 8-bit floats (F8_E4M3, F8_E5M2,
// F8_E8M0) are listed by [File.Names] and [File.Info] but [File.Tensor]
// refuses them with an error that names the dtype and the tensor. BOOL
// bytes other than 0 and 1 load as true.
//
// Float16 and BFloat16 tensors go through float32, which holds every
// 16-bit value exactly, so every bit pattern but NaNs round-trips. NaNs
// stay NaNs with their sign, but package tensor's conversion decides the
// payload: a float16 NaN loads as the quiet NaN 0x7e00 (0xfe00 when
// negative), and a bfloat16 NaN keeps its payload with the quiet bit
// (0x0040) set. Writing keeps whatever bits a tensor holds.
//
// # Writing
//
// [Write] lists the tensors in the header in the order it is given
// (sorted by name when that is nil), lays the data out widest dtype first
// as the reference writer does, and pads the header with spaces so that
// the data starts at a multiple of 8 bytes; every tensor is then aligned
// for its dtype when the file is mapped. Views of any layout (transposed,
// sliced with a step, expanded) are written in row-major order, and
// tensors on a GPU are copied to the host first. [Save] writes a file
// atomically: the old file stays whole until the new one is complete and
// synced, and a failed Save leaves no temporary file behind.
//
// # Concurrency
//
// A [File] may be read from many goroutines at once; [File.Close] waits
// for the loads in progress. Truncating a file while it is open is
// undefined, as for any memory-mapped reader.
package safetensors
