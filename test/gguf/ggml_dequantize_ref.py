#!/usr/bin/env python3
"""Test helper: dequantise ggml blocks with llama.cpp's own ggml (the anchor's prebuilt libggml-base.so through
ctypes: `dequantize_row_<type>`), for a bitwise comparison with mimo.ts' block decoders.

    python3 ggml_dequantize_ref.py LIBGGML_BASE IN.bin OUT.f32 TYPE_NAME N_ELEMENTS
"""
import ctypes
import sys

lib_path, src_path, out_path, type_name, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
lib = ctypes.CDLL(lib_path)
fn = getattr(lib, "dequantize_row_" + type_name)
fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
with open(src_path, "rb") as f:
    data = f.read()
src = ctypes.create_string_buffer(data, len(data))
dst = ctypes.create_string_buffer(4 * n)
fn(src, dst, n)
with open(out_path, "wb") as f:
    f.write(dst.raw)
