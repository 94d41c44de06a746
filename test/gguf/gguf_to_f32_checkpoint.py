#!/usr/bin/env python3
"""Test helper: dequantise a mimo2 GGUF (made by ../shared/tools/llamacpp-anchor/hf_to_gguf.py) back into a float32
safetensors checkpoint in the official layout, with the anchor's own GGUF reader (independent of mimo.ts's).

    python3 gguf_to_f32_checkpoint.py ANCHOR_DIR FILE.gguf CASE_CONFIG.json OUT_DIR

The config is the case's config.json made to describe what the GGUF holds: separate q/k/v (model_type
mimo_v2_flash), V heads at the file's value_length, routed_scaling_factor 1 (folded into ffn_down_exps),
an untied lm_head (output.weight is always written), no FP8/MXFP4 quantization_config, float32 router.
"""
import json
import os
import re
import sys

sys.path.insert(0, sys.argv[1])
import numpy as np  # noqa: E402
import gguf_write as G  # noqa: E402
from safetensors_io import save_safetensors  # noqa: E402

_, _, gguf_path, config_path, out_dir = sys.argv
r = G.GGUFReader(gguf_path)
cfg = json.load(open(config_path))
L = int(r.kv["mimo2.block_count"])
vlen = int(r.kv["mimo2.attention.value_length"])
for k in ("quantization_config", "attention_projection_layout", "moe_router_dtype", "auto_map"):
    cfg.pop(k, None)
cfg.update(model_type="mimo_v2_flash", architectures=["MiMoV2FlashForCausalLM"], v_head_dim=vlen, swa_v_head_dim=vlen,
           routed_scaling_factor=float(r.kv.get("mimo2.expert_weights_scale", 1.0)), tie_word_embeddings=False)

per_layer = {"attn_norm.weight": "input_layernorm.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
             "attn_q.weight": "self_attn.q_proj.weight", "attn_k.weight": "self_attn.k_proj.weight",
             "attn_v.weight": "self_attn.v_proj.weight", "attn_output.weight": "self_attn.o_proj.weight",
             "attn_sinks.weight": "self_attn.attention_sink_bias", "ffn_gate.weight": "mlp.gate_proj.weight",
             "ffn_up.weight": "mlp.up_proj.weight", "ffn_down.weight": "mlp.down_proj.weight",
             "ffn_gate_inp.weight": "mlp.gate.weight", "exp_probs_b.bias": "mlp.gate.e_score_correction_bias"}
stacked = {"ffn_gate_exps.weight": "gate_proj", "ffn_up_exps.weight": "up_proj", "ffn_down_exps.weight": "down_proj"}
top = {"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight",
       "output_norm.weight": "model.norm.weight"}
out = []
for name in r.tensors:
    x = np.ascontiguousarray(r.tensor(name), dtype=np.float32)
    if name in top:
        out.append((top[name], x, "F32"))
        continue
    m = re.match(r"blk\.(\d+)\.(.+)$", name)
    i, rest = int(m.group(1)), m.group(2)
    if rest in per_layer:
        out.append((f"model.layers.{i}.{per_layer[rest]}", x, "F32"))
    elif rest in stacked:
        for e in range(x.shape[0]):
            out.append((f"model.layers.{i}.mlp.experts.{e}.{stacked[rest]}.weight", np.ascontiguousarray(x[e]), "F32"))
    else:
        raise KeyError(name)
os.makedirs(out_dir, exist_ok=True)
save_safetensors(os.path.join(out_dir, "model.safetensors"), out)
json.dump(cfg, open(os.path.join(out_dir, "config.json"), "w"), indent=1)
