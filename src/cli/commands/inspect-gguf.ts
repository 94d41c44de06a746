/**
 * `mimo inspect --model FILE.gguf`: the model a mimo2 GGUF implies (its config rebuilt from the metadata, with the
 * keys that took llama.cpp's mimo2 defaults), bytes and a count of tensors per ggml type, the tokenizer's state,
 * and a check that every tensor the model needs is present with the shape the metadata implies.
 */
import { CheckpointError } from '../../errors.js';
import { GgufModelFiles } from '../../loader/gguf.js';
import type { InspectInput } from '../../model/mimo-v2/inspect-report.js';
import { ggufModelFacts, mapGgufNames } from '../../model/mimo-v2/gguf.js';
import { expectedWeightShapes, type KvDtype } from '../../model/mimo-v2/stats.js';
import { ggmlTypeName, isGgmlTypeSupported } from '../../tensor/formats/ggml/types.js';
import { ggufTokenizerProblem } from '../../tokenizer/gguf-tokenizer.js';

/**
 * The inspect report input of a GGUF model.
 * @throws ConfigError / CheckpointError for a file that is not a mimo2 GGUF, or whose tensors contradict its metadata
 */
export function inspectGguf(paths: string[], kvDtype: KvDtype): InspectInput {
  const files = new GgufModelFiles(paths);
  try {
    const facts = ggufModelFacts(files);
    const { map, unmapped } = mapGgufNames(files.tensors, facts.numLayers);
    const problems: string[] = [];
    for (const [name, shape] of expectedWeightShapes(facts.config, facts.numMtpLayers)) {
      if (name === 'lm_head.weight' && facts.config.tieWordEmbeddings) continue;
      const ref = map.get(name);
      const info = ref ? files.tensors.get(ref.gguf) : undefined;
      const got = info && (ref!.expert === undefined ? info.shape : info.shape.slice(1));
      if (!got) problems.push(`no tensor for ${name}`);
      else if (got.join() !== shape.join()) problems.push(`${ref!.gguf} has shape [${got.join(', ')}], the metadata implies [${shape.join(', ')}]`);
    }
    if (problems.length > 0) throw new CheckpointError(paths[0]!, `the tensors do not match the metadata (${problems.length} problems): ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}`);
    const bytes: Record<string, number> = {};
    const counts: Record<string, number> = {};
    for (const t of files.tensors.values()) {
      const n = ggmlTypeName(t.type);
      bytes[n] = (bytes[n] ?? 0) + t.sizeBytes;
      counts[n] = (counts[n] ?? 0) + 1;
    }
    const notes = [
      `  GGUF: ${paths.length} file${paths.length > 1 ? 's' : ''}, ${files.tensors.size} tensors; tensors per type: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    ];
    const unsupported = Object.keys(counts).filter((n) => !isGgmlTypeSupported([...files.tensors.values()].find((t) => ggmlTypeName(t.type) === n)!.type));
    if (unsupported.length > 0) notes.push(`  types mimo.ts cannot run yet: ${unsupported.join(', ')} (loading refuses the file)`);
    const defaulted = Object.entries(facts.defaulted);
    if (defaulted.length > 0) notes.push(`  absent keys, llama.cpp's mimo2 defaults used: ${defaulted.map(([k, v]) => `${k} = ${v}`).join(', ')}`);
    if (facts.foldedRoutedScale !== null) notes.push(`  routed_scaling_factor ${facts.foldedRoutedScale} is folded into ffn_down_exps (expert_weights_scale 1)`);
    if (facts.config.nRoutedExperts > 1) notes.push(`  router: ${facts.config.moeRouterDtype === 'bfloat16' ? 'BF16 ffn_gate_inp, input rounded to BF16 (MiMo-V2.6\'s moe_router_dtype "bfloat16")' : 'FP32 (ffn_gate_inp not BF16)'}`);
    notes.push(`  value heads: ${facts.config.vHeadDim} dims (the converter zero-pads all layers to one value_length)`);
    notes.push(`  MTP: ${facts.numMtpLayers > 0 ? `${facts.numMtpLayers} nextn layer(s)` : 'none in the file (speculative decoding with --mtp unavailable)'}`);
    const tp = ggufTokenizerProblem(files.metadata);
    notes.push(`  tokenizer: ${tp ?? `${String(files.get('tokenizer.ggml.pre') ?? 'default')} BPE, ${(files.get('tokenizer.ggml.tokens') as unknown[]).length} tokens`}; chat template ${typeof files.get('tokenizer.chat_template') === 'string' ? 'embedded' : 'absent'}`);
    if (unmapped.length > 0) notes.push(`  tensors the model does not use: ${unmapped.slice(0, 5).join(', ')}${unmapped.length > 5 ? ', …' : ''}`);
    return { title: paths[0]!, config: facts.config, numMtpLayers: facts.numMtpLayers, bytesByDtype: bytes, kvDtype, bytesNote: 'every tensor in the GGUF file(s), by ggml type', notes };
  } finally {
    files.close();
  }
}
