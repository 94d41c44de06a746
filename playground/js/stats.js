/*
 * The Speed card (#stats, whose `data-state` is idle | streaming | done | stopped | error) and each reply's footer:
 * TTFT (send → first token) and decode tokens/s (tokens after the first over their time) as this browser saw them
 * while the reply streamed, then the server's own figures from the usage chunk's `mimo.stats` (TTFT, decode
 * tokens/s, prompt and generated tokens, and the MTP acceptance length when the model drafts with MTP).
 */
import { el } from './page.js';

const fmtMs = (s) => (s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`);
const fmtRate = (r) => (r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2));

/** A reply starts streaming: figures pending; the MTP figure shown only when the model drafts (`info.mtp > 0`). */
export function startStats(info) {
  el.stats.dataset.state = 'streaming';
  el.serverStats.textContent = '';
  el.statsNote.textContent = 'Measured in this browser while the reply streams.';
  el.statTtft.textContent = '…';
  el.statTps.textContent = '…';
  el.statTokens.textContent = '0';
  el.statMtp.textContent = '…';
  el.statMtpBox.hidden = !(info && info.mtp > 0);
}

/** TTFT (send → first token) and decode tokens/s (tokens after the first over their time), as this page saw them. */
export function paintLiveStats(reply, ended) {
  const n = reply.tokens.length;
  const pending = ended ? '–' : '…';
  el.statTtft.textContent = reply.tFirst ? fmtMs((reply.tFirst - reply.tSend) / 1000) : pending;
  const decodeS = (reply.tLast - reply.tFirst) / 1000;
  el.statTps.textContent = n > 1 && decodeS > 0 ? fmtRate((n - 1) / decodeS) : pending;
  el.statTokens.textContent = String(n);
}

/** The reply ended (`outcome`: done | stopped | error): final figures, the server's below, the reply's footer. */
export function paintFinalStats(reply, outcome) {
  paintLiveStats(reply, true);
  el.stats.dataset.state = outcome;
  const s = reply.serverStats;
  const parts = [];
  if (s) {
    parts.push(`Server: TTFT ${fmtMs(s.ttft_s)}`, `decode ${fmtRate(s.decode_tokens_per_s)} tokens/s`, `prompt ${s.prompt_tokens} tokens (${s.cached_tokens ?? 0} cached)`, `generated ${s.generated_tokens}`);
    if (reply.info && reply.info.mtp > 0) {
      parts.push(`MTP acceptance length ${s.acceptance_length.toFixed(2)} (${s.drafts_accepted}/${s.drafts_proposed} drafts accepted)`);
      el.statMtp.textContent = s.acceptance_length.toFixed(2);
    }
  } else if (reply.usageCounts) {
    const u = reply.usageCounts;
    parts.push(`Server: prompt ${u.prompt_tokens} tokens, generated ${u.completion_tokens}`);
  }
  if (!s && el.statMtp.textContent === '…') el.statMtp.textContent = '–';
  el.serverStats.textContent = parts.join(' · ');
  el.statsNote.textContent = outcome === 'done' ? 'TTFT and tokens/s above: measured in this browser; server figures below.' :
    outcome === 'stopped' ? 'Stopped.' : outcome === 'error' ? 'The request failed.' : '';
  const foot = [];
  if (reply.tFirst) foot.push(`${reply.tokens.length} tokens`, `TTFT ${el.statTtft.textContent}`, `${el.statTps.textContent} tokens/s`);
  if (s && s.cached_tokens !== undefined) foot.push(`${s.cached_tokens}/${s.prompt_tokens} prompt tokens cached`);
  if (s && reply.info && reply.info.mtp > 0) foot.push(`MTP acceptance ${s.acceptance_length.toFixed(2)}`);
  if (reply.finishReason) foot.push(`finish: ${reply.finishReason}`);
  if (outcome === 'stopped') foot.push('stopped');
  reply.foot.textContent = foot.join(' · ');
}

/** A new chat: no figures. */
export function clearStats() {
  el.stats.dataset.state = 'idle';
  for (const d of [el.statTtft, el.statTps, el.statTokens, el.statMtp]) d.textContent = '–';
  el.serverStats.textContent = '';
}
