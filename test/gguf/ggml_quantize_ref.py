#!/usr/bin/env python3
"""Test helper: quantise float32 rows with llama.cpp's own ggml (the anchor's prebuilt libggml-base.so, called through
ctypes: ggml_quantize_chunk without an importance matrix, as llama-quantize does) for a bitwise comparison with
mimo.ts' reference quantizers.

    python3 ggml_quantize_ref.py LIBGGML_BASE IN.f32 OUT.bin TYPE_ID ROWS COLS
"""
import ctypes
import sys

lib_path, src_path, out_path, type_id, rows, cols = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:7])
lib = ctypes.CDLL(lib_path)
lib.ggml_quantize_chunk.restype = ctypes.c_size_t
lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
lib.ggml_quantize_init.argtypes = [ctypes.c_int]
lib.ggml_row_size.restype = ctypes.c_size_t
lib.ggml_row_size.argtypes = [ctypes.c_int, ctypes.c_int64]
with open(src_path, "rb") as f:
    data = f.read()
assert len(data) == 4 * rows * cols, (len(data), rows, cols)
src = ctypes.create_string_buffer(data, len(data))
size = lib.ggml_row_size(type_id, cols) * rows
dst = ctypes.create_string_buffer(size)
lib.ggml_quantize_init(type_id)
n = lib.ggml_quantize_chunk(type_id, src, dst, 0, rows, cols, None)
assert n == size, (n, size)
with open(out_path, "wb") as f:
    f.write(dst.raw[:size])
