/**
 * The `mimo plan` report: the plan as text (weights, KV cache, smallest fit and layout, per-GPU bytes of the
 * parallelism layouts, launch commands, our engine on a CPU, caveats) and as one JSON object (snake_case keys; the
 * issue's required ones are min_gpus, layout, kv_bytes_per_token, max_concurrent_sequences, commands).
 */
import { formatBytes } from '../model/mimo-v2/inspect-report.js';
import { sglangLaunch, vllmLaunch, wrapCommand, type CommandInput } from './launch-commands.js';
import type { Plan } from './planner.js';
import { plural } from '../util/plural.js';

/** Launch commands of a plan: headline (node 0) command and every node's, per engine. */
export interface PlanCommands {
  sglang: string[];
  vllm: string[];
}

/** Build both engines' commands for the plan's chosen layout. */
export function planCommands(plan: Plan): PlanCommands {
  const i = plan.input;
  const c: CommandInput = {
    modelPath: i.modelPath,
    config: i.config,
    multimodal: i.multimodal,
    numMtpLayers: i.numMtpLayers,
    layout: plan.chosen.layout,
    contextTokens: plan.launchContextTokens,
    kvDtype: i.kvDtype,
    memoryFraction: plan.memFraction,
  };
  return { sglang: sglangLaunch(c).perNode, vllm: vllmLaunch(c).perNode };
}

/**
 * Why a layout that fits on paper is not a deployment anyone runs, or null: cards without NVLink / Infinity Fabric
 * (PCIe only) across nodes or beyond one 8-GPU server, or consumer cards past one server. Tensor and expert
 * parallelism exchange activations at every layer, which PCIe and the network between nodes cannot carry at speed.
 */
export function unrealisticLayout(plan: Plan): string | null {
  const g = plan.input.gpu;
  const l = plan.chosen.layout;
  const pcieOnly = /PCIe/.test(g.interconnect) && !/NVLink [0-9]|Infinity Fabric/.test(g.interconnect.replace(/no NVLink/, ''));
  if (!(pcieOnly && (l.nodes > 1 || l.gpus > 8)) && !(g.consumer && l.nodes > 1)) return null;
  const kind = g.consumer ? 'consumer cards' : 'PCIe-only cards';
  return `unrealistic layout: ${l.gpus} × ${g.id} (${kind}) over ${plural(l.nodes, 'node')} — every layer's tensor-/expert-parallel traffic would cross PCIe (${formatBytes(g.interconnectBytesPerSecond)}/s per GPU)` +
    `${l.nodes > 1 ? ' and the network between nodes' : ''}; it fits on paper, but no SGLang or vLLM MiMo recipe runs such a setup and decode would crawl. Use GPUs with NVLink or Infinity Fabric (e.g. --gpu h200, h20, mi300x), or a smaller --context / --weights int4.`;
}

/** Caveats that apply to this plan. */
export function planNotes(plan: Plan): string[] {
  const i = plan.input;
  const notes: string[] = [];
  const unrealistic = unrealisticLayout(plan);
  if (unrealistic) notes.push(unrealistic);
  const requantised = i.weights.format === 'bf16' || i.weights.format === 'int4' || (i.weights.format === 'fp8' && i.config.weightBlockSize === null);
  if (requantised) {
    notes.push(`--weights ${i.weights.format} prices a requantised copy; the commands load ${i.modelPath} as it is, so point them at that copy.`);
  }
  if (i.gpu.note) notes.push(`${i.gpu.id}: ${i.gpu.note}.`);
  if (/PCIe/.test(i.gpu.interconnect) && plan.chosen.layout.gpus > 1) notes.push(`${i.gpu.id} has no NVLink: tensor and expert parallelism go over PCIe (${formatBytes(i.gpu.interconnectBytesPerSecond)}/s per GPU), which slows every layer.`);
  if (plan.chosen.layout.nodes > 1) notes.push('multi-node: set HEAD_IP to node 0\'s address in the shell of every node, then run that node\'s command (SGLang: same command, --node-rank = node index; vLLM: node 0 serves the API, the others are --headless).');
  if (i.config.modelType === 'mimo_v2_flash' && plan.chosen.layout.gpus < 8) {
    notes.push(`SGLang's MiMo-V2-Flash cookbook marks TP 8 as required (H100/H200) while vLLM's recipe runs TP 4: if SGLang rejects ${plan.chosen.layout.gpus} GPUs, plan with --gpus 8.`);
  }
  if (i.numMtpLayers > 1) notes.push('vLLM runs MTP layer 0 for every draft step (spec §4.4), SGLang one MTP layer per step: expect a longer acceptance length on SGLang.');
  notes.push('KV figures are the cache proper: engines round up to pages, and sliding-window rings also keep the draft tokens of a step.');
  return notes;
}

const exact = (n: number): string => Math.round(n).toLocaleString('en-US');
const tokens = (n: number): string => `${exact(n)} tokens`;
const tps = (n: number): string => (n >= 10 ? n.toFixed(1) : n.toPrecision(3));

/** Multi-line text report. */
export function formatPlanReport(plan: Plan, commands = planCommands(plan)): string {
  const i = plan.input;
  const g = i.gpu;
  const w = i.weights;
  const kv = plan.kv;
  const out: string[] = [];
  out.push(`${i.title} on ${g.id}: ${g.name}, ${formatBytes(g.memoryBytes)} ${g.memoryType} at ${formatBytes(g.memoryBandwidthBytesPerSecond)}/s, ${g.interconnect}, ${g.gpusPerNode} per node`);
  const capacity = plan.capacitySource === 'device' ? `${formatBytes(plan.capacityBytesPerGpu)} as the device reports it (${exact(plan.capacityBytesPerGpu / 2 ** 20)} MiB)` : `${formatBytes(plan.capacityBytesPerGpu)} (datasheet; no device-reported figure in data/gpus.json)`;
  out.push(
    `  usable per GPU ${formatBytes(plan.usableBytesPerGpu)} = ${capacity} × --mem-fraction ${plan.memFraction}; ` +
      `context ${tokens(i.contextTokens)}${i.contextRequested === false ? ' (default; --context asks for another)' : ''}; ${plural(i.concurrency, 'concurrent sequence')}; KV cache ${i.kvDtype}`,
  );

  out.push('', `Weights (${w.format === 'stored' ? 'as stored' : `--weights ${w.format}`}): ${w.method}`);
  for (const [d, n] of Object.entries(w.byDtype).sort((a, b) => b[1] - a[1])) out.push(`  ${d.padEnd(20)} ${exact(n).padStart(17)}  ${formatBytes(n).padStart(10)}`);
  out.push(`  ${'total'.padEnd(20)} ${exact(w.total).padStart(17)}  ${formatBytes(w.total).padStart(10)}`);
  out.push(
    `  routed experts ${formatBytes(w.experts)}, everything else ${formatBytes(w.nonExpert)} (MTP layers ${formatBytes(w.mtp)}` +
      `${w.otherModalities > 0 ? `, other modalities ${formatBytes(w.otherModalities)}` : ''}); read per decoded token ${formatBytes(w.activePerToken)}`,
  );

  const perTok = kv.perToken;
  out.push('', `KV cache of one sequence (${i.kvDtype}, ${kv.bytesPerElement} B/element)`);
  out.push(`  full attention  ${exact(perTok.full)} B/token × ${tokens(i.contextTokens)} = ${formatBytes(kv.perSequence.full)} (grows with the context)`);
  out.push(`  sliding window  ${exact(perTok.slidingWindow)} B/token, ring of ${kv.window} tokens = ${formatBytes(kv.perSequence.slidingWindow)} per sequence (bounded)`);
  out.push(`  MTP layers      ${exact(perTok.mtp)} B/token, ring of ${kv.window} tokens = ${formatBytes(kv.perSequence.mtp)} per sequence (bounded)`);
  out.push(`  total ${formatBytes(kv.perSequence.total)} per sequence; an all-full-attention model would cache ${exact(kv.allFullPerToken)} B/token (${kv.reduction.toFixed(2)}× the full-attention layers)`);

  const fitLine = (label: string, f: Plan['chosen']): string[] => {
    const l = f.layout;
    return [
      `${label}: ${l.gpus} × ${g.id} — layout tp ${l.tp}, dp ${l.dp}, ep ${l.ep}, pp ${l.pp}, ${l.nodes} node${l.nodes > 1 ? 's' : ''} (${plural(l.gpusPerNode, 'GPU')} each)`,
      `  per GPU: weights ${formatBytes(f.weightBytesPerGpu)}, KV ${formatBytes(f.kvBytesPerSequencePerGpu)} per sequence, ${formatBytes(f.freeBytesPerGpu)} left for KV` +
        ` → ${exact(f.maxConcurrentSequences)} concurrent sequences of ${tokens(i.contextTokens)}`,
      `  KV room left per GPU after ${plural(i.concurrency, 'sequence')} of ${tokens(i.contextTokens)}: ${formatBytes(f.kvRoomLeftBytesPerGpu)}`,
    ];
  };
  out.push('');
  out.push(...fitLine(`Smallest fit (min_gpus ${plan.minGpus})`, plan.minimum));
  const same = (x: Plan['chosen']['layout'], y: Plan['chosen']['layout']): boolean => x.gpus === y.gpus && x.tp === y.tp && x.nodes === y.nodes;
  if (!same(plan.chosen.layout, plan.minimum.layout)) out.push(...fitLine('Requested', plan.chosen));
  const maxPos = i.config.maxPositionEmbeddings;
  out.push(`  largest context that fits ${plural(i.concurrency, 'sequence')} on this layout: ${tokens(plan.largestContextTokens)}${maxPos !== null && plan.largestContextTokens >= maxPos ? ' (the model\'s max_position_embeddings)' : ''}; the commands below use ${tokens(plan.launchContextTokens)}`);
  out.push(`  attention TP = num_key_value_heads = ${plan.attentionTp}; more GPUs add data-parallel attention ranks, routed experts spread over all GPUs`);

  const c = plan.comparison;
  const cell = (n: number | null): string => (n === null ? 'n/a' : `${formatBytes(n)}${n <= plan.usableBytesPerGpu ? '' : ' (does not fit)'}`);
  const a = plan.attentionTp;
  const dp = c.gpus / a;
  out.push('', `Weights per GPU at ${c.gpus} GPUs`);
  const rows: [string, number | null][] = [
    [`tensor parallel (tp ${c.gpus})`, c.tensorParallel],
    [`expert parallel (tp ${a} × dp ${Number.isInteger(dp) ? dp : '-'}, experts over ${c.gpus})`, c.expertParallel],
    [`data parallel (${Number.isInteger(dp) ? dp : '-'} × tp ${a}, each a full copy)`, c.dataParallel],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  for (const [label, n] of rows) out.push(`  ${label.padEnd(width)}  ${cell(n)}`);

  for (const [name, cmds] of [['SGLang', commands.sglang], ['vLLM', commands.vllm]] as const) {
    out.push('', `${name}${cmds.length > 1 ? ` (node 0 of ${cmds.length}; flags and sources in data/launch-flags.json)` : ' (flags and sources in data/launch-flags.json)'}:`);
    out.push(`  ${wrapCommand(cmds[0]!)}`);
    for (let r = 1; r < cmds.length; r++) out.push(`  node ${r}: ${cmds[r]}`);
  }

  const cpu = plan.cpu;
  out.push('', 'Our engine on a CPU (mimo run / mimo serve)');
  out.push(`  RAM ${formatBytes(cpu.ramBytes)} = weights ${formatBytes(w.total)} + ${i.concurrency} × KV ${formatBytes(cpu.kvBytesPerSequence)} (f32, full-attention rows grow by doubling)`);
  out.push(
    `  decode ≤ ${tps(cpu.decodeTokensPerSecondBound)} tokens/s at ${tokens(i.contextTokens)} (${formatBytes(cpu.bandwidthBytesPerSecond)}/s ÷ ${formatBytes(cpu.bytesPerDecodedToken)} read per token), ` +
      `≤ ${tps(cpu.decodeTokensPerSecondBoundShortContext)} tokens/s at a short context; bandwidth ${cpu.bandwidthSource}`,
  );
  if (w.format === 'int4') out.push('  (our engine reads FP8/BF16/F32 weights, not int4: the int4 figures are for comparison)');

  out.push('', 'Notes');
  for (const n of planNotes(plan)) out.push(`  - ${n}`);
  return out.join('\n') + '\n';
}

/** The plan as one JSON-ready object (bytes, tokens, tokens/s). */
export function planJson(plan: Plan, commands = planCommands(plan)): Record<string, unknown> {
  const i = plan.input;
  const w = i.weights;
  const l = plan.chosen.layout;
  return {
    model: i.title,
    model_type: i.config.modelType,
    model_path: i.modelPath,
    gpu: i.gpu.id,
    gpu_memory_bytes: i.gpu.memoryBytes,
    gpu_capacity_bytes: plan.capacityBytesPerGpu,
    gpu_capacity_source: plan.capacitySource,
    mem_fraction: plan.memFraction,
    usable_bytes_per_gpu: plan.usableBytesPerGpu,
    context_tokens: i.contextTokens,
    context_requested: i.contextRequested !== false,
    largest_context_tokens: plan.largestContextTokens,
    launch_context_tokens: plan.launchContextTokens,
    concurrency: i.concurrency,
    kv_dtype: i.kvDtype,
    weights: {
      format: w.format,
      total_bytes: w.total,
      by_dtype: w.byDtype,
      expert_bytes: w.experts,
      non_expert_bytes: w.nonExpert,
      mtp_bytes: w.mtp,
      other_modalities_bytes: w.otherModalities,
      active_bytes_per_token: w.activePerToken,
      method: w.method,
    },
    kv_bytes_per_token: { full: plan.kv.perToken.full, sliding_window: plan.kv.perToken.slidingWindow, mtp: plan.kv.perToken.mtp },
    kv_bytes_per_sequence: {
      full: plan.kv.perSequence.full,
      sliding_window: plan.kv.perSequence.slidingWindow,
      mtp: plan.kv.perSequence.mtp,
      total: plan.kv.perSequence.total,
      window_tokens: plan.kv.window,
    },
    kv_all_full_attention_bytes_per_token: plan.kv.allFullPerToken,
    min_gpus: plan.minGpus,
    min_layout: { tp: plan.minimum.layout.tp, ep: plan.minimum.layout.ep, dp: plan.minimum.layout.dp, pp: plan.minimum.layout.pp, nodes: plan.minimum.layout.nodes },
    gpus: l.gpus,
    gpus_per_node: l.gpusPerNode,
    layout: { tp: l.tp, ep: l.ep, dp: l.dp, pp: l.pp, nodes: l.nodes },
    per_gpu: {
      weight_bytes: Math.round(plan.chosen.weightBytesPerGpu),
      kv_bytes_per_sequence: Math.round(plan.chosen.kvBytesPerSequencePerGpu),
      free_bytes: Math.round(plan.chosen.freeBytesPerGpu),
      kv_room_left_bytes: Math.round(plan.chosen.kvRoomLeftBytesPerGpu),
    },
    unrealistic: unrealisticLayout(plan),
    max_concurrent_sequences: plan.chosen.maxConcurrentSequences,
    per_gpu_weight_bytes_by_layout: {
      gpus: plan.comparison.gpus,
      tensor_parallel: Math.round(plan.comparison.tensorParallel),
      expert_parallel: plan.comparison.expertParallel === null ? null : Math.round(plan.comparison.expertParallel),
      data_parallel: plan.comparison.dataParallel === null ? null : Math.round(plan.comparison.dataParallel),
    },
    commands: { sglang: commands.sglang[0], vllm: commands.vllm[0] },
    commands_per_node: commands,
    cpu: {
      ram_bytes: plan.cpu.ramBytes,
      kv_bytes_per_sequence: plan.cpu.kvBytesPerSequence,
      bytes_per_decoded_token: plan.cpu.bytesPerDecodedToken,
      bandwidth_bytes_per_second: plan.cpu.bandwidthBytesPerSecond,
      bandwidth_source: plan.cpu.bandwidthSource,
      decode_tokens_per_second_bound: plan.cpu.decodeTokensPerSecondBound,
      decode_tokens_per_second_bound_short_context: plan.cpu.decodeTokensPerSecondBoundShortContext,
    },
    notes: planNotes(plan),
  };
}
