/*
 * The two expert maps, one row per MoE layer and one cell per expert: #expert-heatmap lights the experts the router
 * chose for one token (the latest, or one the reader clicked and so pinned), #expert-usage shades each expert by how
 * often it was chosen over the whole reply. A model can have 47 MoE layers × 256 experts = 12,032 cells, so neither
 * map keeps an element per cell: #expert-heatmap draws the empty cells as a background and has elements only for the
 * chosen experts (47 × 8), each with `data-layer` (trunk layer index), `data-expert` and `data-rank`, and carries
 * `data-token-id` of the token it shows; #expert-usage is a canvas. This module owns the maps' drawing state.
 */
import { el, expertInfo, node, selectedModel, state } from './page.js';

/** Width of the experts card's content in CSS pixels; kept up to date by onPanelResize (reading it forces layout). */
let mapWidth = 0;

/**
 * Cell sizes in CSS pixels for a map of E experts, as wide as the panel allows: square cells of at most 20 px
 * with 2 px gaps; with many experts (256 in a 340 px panel) 1-px-wide columns in rows 6 px high.
 * pitch / cell: horizontal step and cell width; rowPitch / rowCell: vertical step and cell height.
 */
function cellGeometry(E) {
  if (!mapWidth) mapWidth = el.usage.parentElement.clientWidth;
  const labelWidth = 40;
  const available = (mapWidth || 320) - labelWidth;
  const pitch = Math.max(1, Math.min(22, Math.floor(available / E)));
  if (pitch >= 6) return { labelWidth, pitch, cell: pitch - 2, rowPitch: pitch, rowCell: pitch - 2, labelEvery: 1 };
  return { labelWidth, pitch, cell: pitch, rowPitch: 8, rowCell: 6, labelEvery: 2 };
}

/** (Re)build #expert-heatmap's rows for a model's MoE layout; kept when layout and width are unchanged. */
export function buildGrid(info) {
  const container = el.heatmap;
  const g = cellGeometry(info.num_experts);
  const key = `${info.moe_layers.join(',')}/${info.num_experts}/${g.pitch}`;
  if (container.dataset.layout === key) return;
  container.dataset.layout = key;
  container.style.setProperty('--experts', String(info.num_experts));
  container.style.setProperty('--pitch', `${g.pitch}px`);
  container.style.setProperty('--cell-size', `${g.cell}px`);
  container.style.setProperty('--row-pitch', `${g.rowPitch}px`);
  container.style.setProperty('--row-cell', `${g.rowCell}px`);
  container.style.setProperty('--label-width', `${g.labelWidth}px`);
  container.classList.toggle('dense', g.labelEvery > 1);
  const rows = info.moe_layers.map((layer, i) => {
    const row = node('div', 'hm-row');
    row.dataset.rowLayer = String(layer);
    row.title = `layer ${layer}`;
    row.append(node('span', 'hm-label', i % g.labelEvery === 0 ? `L${layer}` : ''), node('div', 'hm-track'));
    return row;
  });
  const axis = node('div', 'hm-row hm-axis');
  axis.append(node('span', 'hm-label', ''), node('span', 'hm-axis-text', `experts 0 … ${info.num_experts - 1}`));
  container.replaceChildren(...rows, axis);
}

/** Light the experts of one token in #expert-heatmap: cell `data-layer` (trunk layer), `data-expert`, `data-rank`. */
function paintToken(reply, index) {
  const info = reply.info;
  const tok = reply.tokens[index];
  if (!info || !tok) return;
  buildGrid(info);
  const K = Math.max(1, info.experts_per_token);
  const tracks = el.heatmap.querySelectorAll('.hm-track');
  tracks.forEach((track, i) => {
    const chosen = tok.experts[i] || [];
    const layer = info.moe_layers[i];
    track.replaceChildren(...chosen.filter((e) => e >= 0 && e < info.num_experts).map((expert, k) => {
      const c = node('span', 'hm-cell on');
      c.dataset.layer = String(layer);
      c.dataset.expert = String(expert);
      c.dataset.rank = String(k);
      c.style.setProperty('--e', String(expert));
      c.style.setProperty('--rank', String(K > 1 ? k / (K - 1) : 0));
      c.title = `layer ${layer} · expert ${expert} · pick ${k + 1} of ${chosen.length}`;
      return c;
    }));
  });
  el.heatmap.dataset.tokenId = String(tok.id);
  el.heatmap.dataset.tokenIndex = String(index);
  const shownText = JSON.stringify(tok.text);
  el.tokenInfo.textContent = `Token ${index + 1} of ${reply.tokens.length}: ${shownText.length > 40 ? `${shownText.slice(0, 37)}…"` : shownText} (id ${tok.id})` +
    (state.pinned ? ' — pinned' : ' — latest');
  el.tokenInfo.classList.remove('muted');
}

/** The reply #expert-usage shows (null: none); it got tokens since it was drawn; geometry of the drawing. */
let usageReply = null;
let usageDirty = false;
let usageGeometry = null;
let usageDrawnAt = 0;
/** Colours of the canvas from the CSS variables; reset when the colour scheme changes. */
let palette = null;

/** A CSS colour as [r, g, b] (the canvas normalises any CSS colour to #rrggbb or rgba()). */
function rgbOf(ctx, colour) {
  ctx.fillStyle = '#000';
  ctx.fillStyle = colour;
  const v = String(ctx.fillStyle);
  if (v.startsWith('#')) return [1, 3, 5].map((i) => parseInt(v.slice(i, i + 2), 16));
  const m = v.match(/[\d.]+/g) || ['0', '0', '0'];
  return m.slice(0, 3).map(Number);
}

/** Draw #expert-usage: each cell shaded by how often the expert was chosen over the reply's tokens. */
function drawUsage(reply) {
  usageReply = reply;
  usageDirty = false;
  usageDrawnAt = performance.now();
  const canvas = el.usage;
  const info = reply && reply.info;
  if (!info) {
    canvas.width = canvas.height = 0;
    usageGeometry = null;
    return;
  }
  const L = info.moe_layers.length;
  const E = info.num_experts;
  const g = cellGeometry(E);
  const axisHeight = 16;
  const width = g.labelWidth + E * g.pitch;
  const height = L * g.rowPitch + axisHeight;
  const dpr = window.devicePixelRatio || 1;
  const W = Math.round(width * dpr);
  const H = Math.round(height * dpr);
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext('2d');
  if (!palette) {
    const css = getComputedStyle(canvas);
    const prop = (name) => css.getPropertyValue(name).trim();
    palette = { cell: rgbOf(ctx, prop('--cell')), lit: rgbOf(ctx, prop('--lit')), muted: prop('--muted'), mono: prop('--mono') || 'monospace' };
  }
  const cellRgb = palette.cell;
  const litRgb = palette.lit;
  // Pixels written directly: thousands of fillRect calls are slow on a software-rendered canvas.
  const image = ctx.createImageData(W, H);
  const px = new Uint32Array(image.data.buffer);
  // RGBA bytes in memory order, read as one little-endian 32-bit word (as on every platform browsers run on).
  const mix = (a) => (255 << 24) | (Math.round(cellRgb[2] + (litRgb[2] - cellRgb[2]) * a) << 16) |
    (Math.round(cellRgb[1] + (litRgb[1] - cellRgb[1]) * a) << 8) | Math.round(cellRgb[0] + (litRgb[0] - cellRgb[0]) * a);
  const empty = mix(0);
  const max = reply.usageMax;
  for (let i = 0; i < L; i++) {
    const y0 = Math.round(i * g.rowPitch * dpr);
    const y1 = Math.max(y0 + 1, Math.round((i * g.rowPitch + g.rowCell) * dpr));
    const row = reply.usage[i];
    for (let e = 0; e < E; e++) {
      const colour = row[e] > 0 && max > 0 ? mix(0.15 + 0.85 * (row[e] / max)) : empty;
      const x0 = Math.round((g.labelWidth + e * g.pitch) * dpr);
      const x1 = Math.max(x0 + 1, Math.round((g.labelWidth + e * g.pitch + g.cell) * dpr));
      for (let y = y0; y < y1; y++) px.fill(colour, y * W + x0, y * W + x1);
    }
  }
  ctx.putImageData(image, 0, 0);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.font = `${g.labelEvery > 1 ? 8 : 10}px ${palette.mono}`;
  ctx.textBaseline = 'middle';
  ctx.fillStyle = palette.muted;
  ctx.textAlign = 'right';
  info.moe_layers.forEach((layer, i) => {
    if (i % g.labelEvery === 0) ctx.fillText(`L${layer}`, g.labelWidth - 6, i * g.rowPitch + g.rowCell / 2);
  });
  ctx.textAlign = 'left';
  ctx.fillText(`experts 0 … ${E - 1}`, g.labelWidth, L * g.rowPitch + axisHeight / 2 + 1);
  usageGeometry = { ...g, L, E };
}

/** A token was added to `reply` (chat.js): its usage map needs a redraw when it is the one shown. */
export function markUsageDirty(reply) {
  if (usageReply === reply) usageDirty = true;
}

/** Redraw #expert-usage for the streaming `reply` when it got tokens: at most every 100 ms unless `final`. */
export function refreshUsage(reply, final) {
  if (usageReply === reply && usageDirty && (final || performance.now() - usageDrawnAt > 100)) drawUsage(reply);
}

/** Tooltip of the #expert-usage cell under the pointer. */
export function describeUsage(ev) {
  const g = usageGeometry;
  const reply = usageReply;
  if (!g || !reply || !reply.info) return;
  const rect = el.usage.getBoundingClientRect();
  const e = Math.floor((ev.clientX - rect.left - g.labelWidth) / g.pitch);
  const i = Math.floor((ev.clientY - rect.top) / g.rowPitch);
  el.usage.title = e >= 0 && e < g.E && i >= 0 && i < g.L ? `layer ${reply.info.moe_layers[i]} · expert ${e}: chosen for ${reply.usage[i][e]} of ${reply.tokens.length} tokens` : '';
}

/** Tooltip of an empty #expert-heatmap cell under the pointer (lit cells have their own). */
export function describeTrack(ev) {
  const track = ev.target;
  if (!(track instanceof HTMLElement) || !track.classList.contains('hm-track')) return;
  const pitch = parseFloat(el.heatmap.style.getPropertyValue('--pitch')) || 1;
  const e = Math.floor(ev.offsetX / pitch);
  track.title = `layer ${track.parentElement.dataset.rowLayer} · expert ${e}`;
}

/** Show a reply's token on the heat maps and mark it in the message. */
export function show(reply, index) {
  const prev = state.shown;
  if (prev && prev.reply.tokens[prev.index]) prev.reply.tokens[prev.index].el.classList.remove('sel');
  state.shown = { reply, index };
  const tok = reply.tokens[index];
  if (!tok) return;
  tok.el.classList.add('sel');
  paintToken(reply, index);
  if (usageReply !== reply) drawUsage(reply);
  el.follow.hidden = !state.pinned;
}

/** Unpin: show the latest token of the streaming reply, or of the last one. */
export function followLatest() {
  state.pinned = null;
  const last = state.current || state.replies[state.replies.length - 1];
  if (last && last.tokens.length) show(last, last.tokens.length - 1);
  el.follow.hidden = true;
}

/** Empty both maps (a new chat). */
export function clearMaps() {
  for (const track of el.heatmap.querySelectorAll('.hm-track')) track.replaceChildren();
  delete el.heatmap.dataset.tokenId;
  drawUsage(null);
  el.tokenInfo.textContent = 'No token yet.';
  el.tokenInfo.classList.add('muted');
  el.follow.hidden = true;
}

/** Re-fit both maps to the panel's new content width (CSS pixels). */
export function onPanelResize(width) {
  if (width === mapWidth) return;
  mapWidth = width;
  const info = state.shown ? state.shown.reply.info : expertInfo(selectedModel());
  if (info) buildGrid(info);
  if (usageReply) drawUsage(usageReply);
}

/** Redraw the canvas in the new colour scheme's colours. */
export function onColourSchemeChange() {
  palette = null;
  if (usageReply) drawUsage(usageReply);
}
