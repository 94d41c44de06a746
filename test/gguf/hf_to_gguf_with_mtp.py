#!/usr/bin/env python3
"""Test helper: the anchor converter (../shared/tools/llamacpp-anchor/hf_to_gguf.py) plus the case's MTP layers as
llama.cpp names them for its other MTP architectures (GLM-4.5 / DeepSeek `nextn`): block n_layer + k holds
attn_norm, attn_{q,k,v,output}, attn_sinks, ffn_norm (pre-MLP norm), ffn_{gate,up,down} and nextn.{eh_proj, enorm,
hnorm, shared_head_norm}; block_count counts them and mimo2.nextn_predict_layers says how many.
Separate q/k/v checkpoints only (no fused qkv_proj), f32 output.

    python3 hf_to_gguf_with_mtp.py ANCHOR_DIR IN_DIR OUT.gguf
"""
import re
import sys

sys.path.insert(0, sys.argv[1])
import gguf_write as G  # noqa: E402
import hf_to_gguf as H  # noqa: E402
from safetensors_io import SafeTensorsDir  # noqa: E402

_, _, in_dir, out = sys.argv
st = SafeTensorsDir(in_dir)
ld = H.Loader(st, H.derive_hparams(H.load_config(in_dir))["fp8_block"])
K = len({int(m.group(1)) for k in st.keys() if (m := re.match(r"model\.mtp\.layers\.(\d+)\.", k))})
names = {"enorm.weight": "nextn.enorm.weight", "hnorm.weight": "nextn.hnorm.weight", "eh_proj.weight": "nextn.eh_proj.weight",
         "final_layernorm.weight": "nextn.shared_head_norm.weight", "input_layernorm.weight": "attn_norm.weight",
         "pre_mlp_layernorm.weight": "ffn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
         "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
         "self_attn.o_proj.weight": "attn_output.weight", "self_attn.attention_sink_bias": "attn_sinks.weight",
         "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"}
write = G.GGUFWriter.write


def write_with_mtp(self, path, verbose=True):
    L = next(v for k, _, v, _ in self.kv if k == "mimo2.block_count")
    self.kv = [(k, t, L + K if k == "mimo2.block_count" else v, e) for k, t, v, e in self.kv]
    self.add_u32("mimo2.nextn_predict_layers", K)
    for k in range(K):
        for hf, gg in names.items():
            name = f"model.mtp.layers.{k}.{hf}"
            if name in st:
                x = ld.f32(name)
                self.add_tensor(f"blk.{L + k}.{gg}", x, G.GGML_F32)
    return write(self, path, verbose)


G.GGUFWriter.write = write_with_mtp
H.convert(in_dir, out, "f32", verbose=False)
